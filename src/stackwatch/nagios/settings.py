"""The ``[nagios]`` section of the configuration: where Nagios and the repository are, how a
server's class and environment are read from its name, and what the alert analytics count."""

from __future__ import annotations

import re

from stackwatch.core.config import ConfigError
from stackwatch.core.durations import DurationError, parse_duration
from stackwatch.core.record import dataclass

CLASSES = ("global", "cell", "mixed")


@dataclass(frozen=True)
class ServerRule:
    """A Nagios server named explicitly: its class, environment and the part it monitors."""

    host: str  # the server's host name (shell wildcards allowed: "mon-global-*")
    server_class: str  # global, cell or mixed: the folder common/<class> of the repository
    environment: str  # the folder environments/<environment> of the repository
    part: str | None = None  # the folder under the environment it links; unset: all of it


@dataclass(frozen=True)
class NagiosSettings:
    """Nagios servers' configuration from one repository, and the analytics of their alerts."""

    repo: str | None = None  # the repository: common/<class>, environments/<env>/<part>
    conf_dir: str = "/etc/nagios4/conf.d"  # the live conf.d that assemble replaces
    main_config: str = "/etc/nagios4/nagios.cfg"  # the main configuration; must read conf_dir
    nagios: str = "nagios4"  # the Nagios program that validates a tree (nagios -v)
    validate_timeout: float = 300.0  # seconds nagios -v may take
    reload_command: tuple[str, ...] = ("systemctl", "reload", "nagios4")  # after a swap ([]: none)
    server_pattern: str = r"^[a-z0-9]+-(?P<env>[a-z0-9]+)-(?P<cell>c\d{4})\b"  # cell servers' names
    servers: tuple[ServerRule, ...] = ()  # global and mixed servers, by name
    cell_pattern: str = r"c\d{4}"  # the cell in a monitored host's name (alerts by cell)
    cell_variable: str = "cell"  # the inventory variable naming a host's cell (generate)
    default_cell: str = "global"  # the cell of inventory hosts that name none
    nrpe_command: str = "check_nrpe"  # the Nagios command that runs a check through NRPE
    recovery_window: str = "10m"  # a problem over within this (unacknowledged) recovered by itself
    statsd_prefix: str = "nagios.alerts"  # StatsD names of alerts --statsd

    def validate(self, where: str) -> None:
        for key in ("server_pattern", "cell_pattern"):
            try:
                re.compile(getattr(self, key))
            except re.error as exc:
                raise ConfigError(f"{where}.{key}: not a regular expression: {exc}") from None
        if "cell" not in re.compile(self.server_pattern).groupindex:
            raise ConfigError(f"{where}.server_pattern: needs a group (?P<cell>...)")
        for i, rule in enumerate(self.servers):
            if rule.server_class not in CLASSES:
                raise ConfigError(
                    f"{where}.servers[{i}].server_class: one of {', '.join(CLASSES)}, "
                    f"not {rule.server_class!r}"
                )
        if not 0 < self.validate_timeout <= 3600:
            raise ConfigError(f"{where}.validate_timeout: above 0 and at most 3600 seconds")
        try:
            parse_duration(self.recovery_window)
        except DurationError as exc:
            raise ConfigError(f"{where}.recovery_window: {exc}") from None

    @property
    def recovery_seconds(self) -> float:
        return parse_duration(self.recovery_window)
