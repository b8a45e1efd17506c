"""The ``[serve]`` section: where ``stackwatch serve`` listens, which checks it runs, how often.

    [serve]
    listen_address = "127.0.0.1:19100"
    checks = ["conntrack", "links", "tcp-retransmits", "disk-smart"]   # default: every check
    min_interval = { disk-smart = "1h", processes = "30s" }           # per check
    timeout = { disk-smart = "3m" }                                   # per check
    statsd = "127.0.0.1:8125"                  # push every statsd_interval (default 1m)
    textfile_dir = "/var/lib/prometheus/node-exporter"   # every textfile_interval (default 1m)

The command-line flags (``--web.listen-address`` and the others) win over this section.

Port 19100: the range Prometheus keeps for exporters (9100-9999, "Default port allocations" on
its wiki) is fully allocated, so any port there clashes with some exporter; 19100 is in no list
of well-known ports (nor /etc/services), below Linux's ephemeral range, and says what it sits
beside: node_exporter's 9100.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from stackwatch.core.config import ConfigError
from stackwatch.core.durations import DurationError, parse_duration
from stackwatch.core.record import dataclass, field

DEFAULT_PORT = 19100
DEFAULT_LISTEN = f"127.0.0.1:{DEFAULT_PORT}"
HEALTH_PATH = "/-/healthy"

# A few reads of /proc and /sys each: cheap enough to run on every scrape, as node_exporter does.
EVERY_SCRAPE = frozenset({"conntrack", "links", "tcp-retransmits", "memory-ecc", "temperature"})
# Anything else at most once a minute (as Nagios would run it); smartctl wakes every disk, and
# SMART counters move slowly: every 30 minutes, smartd's own default.
DEFAULT_MIN_INTERVAL = 60.0
MIN_INTERVAL = {"disk-smart": 1800.0}
DEFAULT_CHECK_TIMEOUT = 30.0
CHECK_TIMEOUT = {"disk-smart": 120.0}  # one smartctl per disk, each up to 10 s


@dataclass(frozen=True)
class ListenAddress:
    host: str  # "" means every address
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_listen_address(text: str) -> ListenAddress:
    """``HOST:PORT``, ``[IPV6]:PORT`` or ``:PORT`` (every address), as Go exporters read it."""
    host, sep, port = text.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise ValueError(f"invalid listen address {text!r}: expected HOST:PORT or [IPV6]:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host or "[" in host or "]" in host:
        raise ValueError(f"invalid listen address {text!r}: write an IPv6 address as [ADDR]:PORT")
    return ListenAddress(host, int(port))


def check_telemetry_path(path: str) -> str:
    """The path of the metrics: absolute, one plain path, not the health endpoint's."""
    if not path.startswith("/") or any(c in path for c in "?# \t\r\n") or path == HEALTH_PATH:
        raise ValueError(f"invalid telemetry path {path!r}: an absolute path such as /metrics")
    return path


@dataclass(frozen=True)
class CheckSchedule:
    """How often and how long one check may run in the resident process."""

    name: str
    min_interval: float  # seconds between the starts of two runs; 0: on every scrape
    timeout: float  # seconds after which the run counts as failed (UNKNOWN)


@dataclass(frozen=True)
class ServeSettings:
    """``[serve]``: every key optional."""

    listen_address: str = DEFAULT_LISTEN
    telemetry_path: str = "/metrics"
    web_config_file: str | None = None  # exporter-toolkit format: TLS and basic auth
    max_requests: int = 40  # concurrent scrapes; more are answered 503, as node_exporter does
    checks: list[str] | None = None  # the checks to run (default: every check)
    scrape_timeout: str | float = 10.0  # answer within this, or Prometheus's own limit if lower
    min_interval: dict[str, str | float] = field(default_factory=dict)
    timeout: dict[str, str | float] = field(default_factory=dict)
    state_save_interval: str | float = "5m"
    statsd: str | None = None  # HOST:PORT to push StatsD gauges to
    statsd_prefix: str | None = None  # default stackwatch.HOSTNAME
    statsd_interval: str | float = "1m"
    textfile_dir: str | None = None  # node_exporter's textfile directory
    textfile_interval: str | float = "1m"

    def validate(self, where: str) -> None:
        _valid(lambda: parse_listen_address(self.listen_address), f"{where}.listen_address")
        _valid(lambda: check_telemetry_path(self.telemetry_path), f"{where}.telemetry_path")
        if self.max_requests < 1:
            raise ConfigError(f"{where}.max_requests: must be at least 1")
        if self.statsd is not None:
            from stackwatch.render.statsd import StatsdError, parse_address

            try:
                parse_address(self.statsd)
            except StatsdError as exc:
                raise ConfigError(f"{where}.statsd: {exc}") from None
        for key in (
            "scrape_timeout",
            "state_save_interval",
            "statsd_interval",
            "textfile_interval",
        ):
            _positive_seconds(getattr(self, key), f"{where}.{key}")
        self._validate_per_check(where)

    def _validate_per_check(self, where: str) -> None:
        from stackwatch.core.capability import check_owners

        known = check_owners()
        for i, name in enumerate(self.checks or ()):
            _known_check(name, known, f"{where}.checks[{i}]")
        for name, value in self.min_interval.items():
            _known_check(name, known, f"{where}.min_interval.{name}")
            seconds(value, f"{where}.min_interval.{name}")
        for name, value in self.timeout.items():
            _known_check(name, known, f"{where}.timeout.{name}")
            _positive_seconds(value, f"{where}.timeout.{name}")

    def schedule(self, check: str) -> CheckSchedule:
        """The check's minimum interval and time limit: this section, else the defaults."""
        default_interval = 0.0 if check in EVERY_SCRAPE else DEFAULT_MIN_INTERVAL
        interval = self.min_interval.get(check, MIN_INTERVAL.get(check, default_interval))
        timeout = self.timeout.get(check, CHECK_TIMEOUT.get(check, DEFAULT_CHECK_TIMEOUT))
        return CheckSchedule(check, seconds(interval, check), seconds(timeout, check))

    def seconds_of(self, key: str) -> float:
        """One of the section's durations, in seconds (validated already)."""
        return seconds(getattr(self, key), key)


def seconds(value: str | float, where: str) -> float:
    try:
        return parse_duration(value)
    except DurationError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _positive_seconds(value: str | float, where: str) -> float:
    result = seconds(value, where)
    if result <= 0:
        raise ConfigError(f"{where}: must be above 0 seconds")
    return result


def _valid(parse: Callable[[], object], where: str) -> None:
    try:
        parse()
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _known_check(name: str, known: Mapping[str, object], where: str) -> None:
    if name not in known:
        raise ConfigError(f"{where}: no such check {name!r} (known: {', '.join(known)})")
