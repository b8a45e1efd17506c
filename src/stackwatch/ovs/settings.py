"""The ``[ovs]`` section of the configuration: one dataclass for the commands and the checks."""

from __future__ import annotations

from dataclasses import dataclass

from stackwatch.core.config import ConfigError

DEFAULT_DB = "unix:/var/run/openvswitch/db.sock"
DEFAULT_TIMEOUT = 5.0


@dataclass(frozen=True)
class OvsSettings:
    """Where Open vSwitch is and what it should look like."""

    db: str = DEFAULT_DB  # the OVSDB server: unix:PATH, tcp:HOST:PORT or ssl:HOST:PORT
    layout: str | None = None  # the declared bridge layout (ovs plan/apply/verify, ovs-bridges)
    timeout: float = DEFAULT_TIMEOUT  # seconds for each OVSDB exchange
    netns: str | None = None  # the network namespace ovs-vswitchd runs in (None: the host's)

    def validate(self, where: str) -> None:
        if not 0 < self.timeout <= 3600:  # also refuses nan and inf
            raise ConfigError(f"{where}.timeout: must be above 0 and at most 3600 seconds")
        if self.netns is not None and (
            not self.netns or "/" in self.netns or self.netns in (".", "..") or "\n" in self.netns
        ):
            raise ConfigError(f"{where}.netns: not a network namespace name: {self.netns!r}")
