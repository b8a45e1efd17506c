"""The ``[weblog]`` section of the configuration, and durations such as 90s, 10m, 1h, 2d."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from stackwatch.core.config import Config, build
from stackwatch.weblog.detect import DetectOptions

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: str | float | int) -> float:
    """Seconds from 30, "30s", "10m", "1h", "2d", "1w"; ValueError otherwise."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"duration {value!r} is negative")
        return float(value)
    match = _DURATION.match(str(value).lower())
    if not match:
        raise ValueError(f"cannot read duration {value!r} (examples: 90s, 10m, 1h, 2d)")
    return float(match.group(1)) * _UNITS[match.group(2)]


@dataclass(frozen=True)
class WeblogConfig:
    format: str = "combined"  # a named format or an Apache LogFormat string
    sites: tuple[str, ...] = ()  # the site's own hosts (never flagged)
    logs: tuple[str, ...] = ()  # logs (globs) for the weblog-flood check and follow
    detect: DetectOptions = field(default_factory=DetectOptions)
    apply: str | None = None  # apache:PATH or nginx:PATH for follow
    validate_command: str | None = None  # default apachectl -t / nginx -t
    reload_command: str | None = None  # default apachectl graceful / nginx -s reload
    ban_time: str = "1h"


def weblog_config(config: Config) -> WeblogConfig:
    """The validated [weblog] section (ConfigError names the key)."""
    return build(WeblogConfig, config.section("weblog"), config.where("weblog"))
