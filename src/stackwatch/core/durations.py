"""Durations, read one way everywhere: ``90s``, ``10m``, ``1h30m``, ``2d``, ``2w3d``, ``6mo``.

``m`` means minutes (as in systemd, Prometheus and Go), ``mo`` months (30 days) and ``y`` years
(365 days). Where a duration is a retention period, ``m`` could be read either way (it meant months
there once): ``allow_bare_m=False`` refuses it and asks for ``min`` or ``mo``, so that nobody keeps
six minutes of backups where they meant six months.
"""

from __future__ import annotations

import math
import re

UNITS = {
    "": 1.0,
    "s": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 7 * 86400.0,
    "mo": 30 * 86400.0,
    "y": 365 * 86400.0,
}
_PART = re.compile(r"(\d+(?:\.\d+)?)(min|mo|[smhdwy]?)")
_LIMIT = 1000 * 365 * 86400.0  # beyond any clock this tool meets


class DurationError(ValueError):
    """A duration that cannot be read; the message shows the forms that can."""


def parse_duration(value: str | float | int, *, allow_bare_m: bool = True) -> float:
    """Seconds from a number of seconds or a text such as ``1h30m``; DurationError otherwise."""
    if isinstance(value, bool):
        raise DurationError(f"cannot read duration {value!r}")
    if isinstance(value, int | float):
        return _checked(float(value), value)
    text = value.strip().lower()
    parts = _PART.findall(text) if text else []
    if not parts or _PART.sub("", text):
        raise DurationError(f"cannot read duration {value!r} (examples: 90s, 10m, 1h30m, 2d, 6mo)")
    if not allow_bare_m and any(unit == "m" for _, unit in parts):
        raise DurationError(
            f"duration {value!r}: 'm' could mean minutes or months here; write 'min' or 'mo'"
        )
    if len(parts) > 1 and any(unit == "" for _, unit in parts):
        raise DurationError(f"duration {value!r}: every part after the first needs a unit")
    return _checked(sum(float(n) * UNITS[u] for n, u in parts), value)


def _checked(seconds: float, original: object) -> float:
    if not math.isfinite(seconds) or seconds < 0 or seconds > _LIMIT:
        raise DurationError(f"duration {original!r} is not between 0 and 1000 years")
    return seconds
