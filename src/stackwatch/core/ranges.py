"""Nagios threshold ranges: ``10``, ``10:``, ``~:10``, ``10:20``, ``@10:20``.

A range says which values are fine. A value outside it alerts; with a leading ``@`` the meaning is
inverted and a value inside it alerts. ``10`` is ``0:10``; ``10:`` is 10 to infinity; ``~`` is
negative infinity. This is the syntax of the Nagios plugin development guidelines.
"""

from __future__ import annotations

import math

from stackwatch.core.record import dataclass


class RangeError(ValueError):
    """A threshold range that does not follow the Nagios syntax."""


@dataclass(frozen=True)
class Range:
    start: float = 0.0
    end: float = math.inf
    inside: bool = False  # True for "@": alert when the value lies inside start..end

    def alerts(self, value: float) -> bool:
        """True when ``value`` should raise this range's alert."""
        within = self.start <= value <= self.end
        return within if self.inside else not within

    def scaled(self, factor: float, whole: bool = False) -> Range:
        """The same range with both ends multiplied (percent of a limit turned into a count);
        ``whole`` rounds finite ends down to whole numbers."""

        def scale(value: float) -> float:
            result = value * factor
            return float(math.floor(result)) if whole and math.isfinite(result) else result

        return Range(scale(self.start), scale(self.end), self.inside)

    def __str__(self) -> str:
        prefix = "@" if self.inside else ""
        if self.start == 0 and not self.inside and self.end != math.inf:
            return _number(self.end)
        start = "~" if self.start == -math.inf else _number(self.start)
        end = "" if self.end == math.inf else _number(self.end)
        return f"{prefix}{start}:{end}"


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}" if abs(value) >= 1e15 else repr(round(value, 6))


def _parse_bound(text: str, original: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise RangeError(f"invalid range {original!r}: {text!r} is not a number") from None
    if math.isnan(value) or math.isinf(value):
        raise RangeError(f"invalid range {original!r}: {text!r} is not a finite number")
    return value


def _parse_start(text: str, original: str) -> float:
    """The start of ``start:end``: ``~`` is negative infinity, nothing is 0."""
    if text == "~":
        return -math.inf
    return 0.0 if text == "" else _parse_bound(text, original)


def parse_range(text: str | float | int) -> Range:
    """Parse a Nagios range; raises RangeError with the reason on anything else."""
    if isinstance(text, bool):
        raise RangeError(f"invalid range {text!r}: expected a number or a range such as 10:20")
    if isinstance(text, int | float):
        text = repr(text)
    original = text
    text = text.strip()
    if not text:
        raise RangeError("invalid range '': empty")
    inside = text.startswith("@")
    if inside:
        text = text[1:]
    if ":" not in text:
        end = _parse_bound(text, original)
        if end < 0:
            raise RangeError(
                f"invalid range {original!r}: a single number means 0:N and must not be negative"
            )
        return Range(0.0, end, inside)
    start_text, _, end_text = text.partition(":")
    if ":" in end_text:
        raise RangeError(f"invalid range {original!r}: more than one ':'")
    start = _parse_start(start_text, original)
    end = math.inf if end_text == "" else _parse_bound(end_text, original)
    if start > end:
        raise RangeError(f"invalid range {original!r}: start {start_text} is above end {end_text}")
    return Range(start, end, inside)
