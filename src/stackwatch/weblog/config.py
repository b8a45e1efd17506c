"""The ``[weblog]`` section of the configuration: the capability's settings, validated once
(core/config.py ``build``) for the weblog-flood check and the ``weblog`` commands alike."""

from __future__ import annotations

from stackwatch.core.config import ConfigError
from stackwatch.core.durations import DurationError, parse_duration
from stackwatch.core.record import dataclass, field
from stackwatch.weblog.detect import DetectOptions


@dataclass(frozen=True)
class WeblogConfig:
    format: str = "combined"  # a named format or an Apache LogFormat string
    sites: tuple[str, ...] = ()  # the site's own hosts (never flagged)
    logs: tuple[str, ...] = ()  # logs (globs) for the weblog-flood check and follow
    detect: DetectOptions = field(default_factory=DetectOptions)
    apply: str | None = None  # apache:PATH or nginx:PATH for follow
    validate_command: str | None = None  # default apachectl -t / nginx -t
    reload_command: str | None = None  # default apachectl graceful / nginx -s reload
    ban_time: str = "1h"  # a duration (90s, 10m, 1h, 2d)

    def validate(self, where: str) -> None:
        try:
            ban = parse_duration(self.ban_time)
        except DurationError as exc:
            raise ConfigError(f"{where}.ban_time: {exc}") from None
        if ban <= 0:
            raise ConfigError(f"{where}.ban_time: must be above 0")
        if not 0 <= self.detect.reorder <= 86400:
            raise ConfigError(f"{where}.detect.reorder: must be between 0 and 86400 seconds")
