"""The ``[overlay]`` section: the peer to measure against and how long to measure."""

from __future__ import annotations

import ipaddress

from stackwatch.core.config import ConfigError
from stackwatch.core.record import dataclass

MAX_ROUNDS = 20
MAX_SECONDS = 60


@dataclass(frozen=True)
class OverlaySettings:
    """Throughput over the underlay and over the overlay to one peer running `iperf3 -s`."""

    underlay: str | None = None  # the peer's address on the underlay (iperf3 -s listens there)
    overlay: str | None = None  # the same peer's address on the overlay (VXLAN, GRE, VPN, ...)
    netns: str | None = None  # measure from this network namespace (unset: from this host)
    port: int = 5201  # the peer's iperf3 port
    rounds: int = 3  # measurements of each, alternated; the median of each is compared
    seconds: int = 2  # length of one measurement (iperf3 -t)

    def validate(self, where: str) -> None:
        for key in ("underlay", "overlay"):
            value = getattr(self, key)
            if value is not None:
                try:
                    ipaddress.ip_address(value)
                except ValueError:
                    raise ConfigError(f"{where}.{key}: {value!r} is not an IP address") from None
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"{where}.port: must be from 1 to 65535")
        if not 1 <= self.rounds <= MAX_ROUNDS:
            raise ConfigError(f"{where}.rounds: must be from 1 to {MAX_ROUNDS}")
        if not 1 <= self.seconds <= MAX_SECONDS:
            raise ConfigError(f"{where}.seconds: must be from 1 to {MAX_SECONDS}")
