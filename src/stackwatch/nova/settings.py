"""The ``[nova]`` section: which clouds, which canary instance per cell or availability zone,
how long the console calls may take, and how a host's instances are recovered."""

from __future__ import annotations

from stackwatch.core.config import ConfigError
from stackwatch.core.record import dataclass

CONSOLE_TYPES = ("novnc", "spice-html5", "serial", "xvpvnc")


@dataclass(frozen=True)
class NovaSettings:
    """Nova: the console probe and host recovery."""

    clouds: tuple[str, ...] = ()  # clouds.yaml entries to probe (none: the check is skipped)
    canaries: tuple[str, ...] = ()  # "ZONE=SERVER": the canary (name or id) of each cell or AZ
    canary_tag: str = "stackwatch-canary"  # else: the oldest ACTIVE server with this tag per AZ
    console_type: str = "novnc"  # the remote console to ask for: novnc, spice-html5, serial
    check_proxy: bool = True  # open the console URL at the proxy and see the token accepted
    window: str = "1h"  # the latency percentiles cover this much history (kept in state)
    api_timeout: float = 60.0  # seconds one API request may wait (Nova's rpc_response_timeout)
    proxy_timeout: float = 10.0  # seconds the console proxy may take to answer
    recover_parallel: int = 4  # instances evacuated at once by `nova recover --apply`
    recover_timeout: float = 600.0  # seconds each instance may take to become ACTIVE again
    report_dir: str = "/var/lib/stackwatch/nova"  # where `nova recover --apply` writes reports

    def validate(self, where: str) -> None:
        from stackwatch.core.durations import parse_duration

        for entry in self.canaries:
            zone, sep, server = entry.partition("=")
            if not sep or not zone.strip() or not server.strip():
                raise ConfigError(f"{where}.canaries: {entry!r} is not ZONE=SERVER")
        if self.console_type not in CONSOLE_TYPES:
            choices = ", ".join(CONSOLE_TYPES)
            raise ConfigError(f"{where}.console_type: one of {choices}, not {self.console_type!r}")
        try:
            if parse_duration(self.window) <= 0:
                raise ValueError("must be more than 0")
        except ValueError as exc:
            raise ConfigError(f"{where}.window: {exc}") from None
        for key in ("api_timeout", "proxy_timeout", "recover_timeout"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"{where}.{key}: must be more than 0")
        if not 1 <= self.recover_parallel <= 64:
            raise ConfigError(f"{where}.recover_parallel: from 1 to 64")

    def canary_map(self) -> dict[str, str]:
        """Zone -> server, from ``canaries``."""
        pairs = (entry.partition("=") for entry in self.canaries)
        return {zone.strip(): server.strip() for zone, _, server in pairs}
