"""The ``[ovs]`` section of the configuration: one dataclass for the commands and the checks."""

from __future__ import annotations

from typing import Any

from stackwatch.core.config import ConfigError
from stackwatch.core.record import dataclass

DEFAULT_DB = "unix:/var/run/openvswitch/db.sock"
DEFAULT_TIMEOUT = 5.0
DB_SCHEMES = ("unix", "tcp", "ssl")


def netns_problem(netns: str) -> str | None:
    """Why ``netns`` cannot name a network namespace (a file in /run/netns), or None."""
    if not netns or "/" in netns or netns in (".", "..") or "\n" in netns:
        return f"not a network namespace name: {netns!r}"
    return None


def db_problem(db: str) -> str | None:
    """Why ``db`` cannot be an OVSDB address the client connects to, or None."""
    scheme, sep, rest = db.partition(":")
    if not sep or scheme not in DB_SCHEMES or not rest:
        return f"not an OVSDB address (unix:PATH, tcp:IP:PORT or ssl:IP:PORT): {db!r}"
    return None


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
        problem = db_problem(self.db)
        if problem:
            raise ConfigError(f"{where}.db: {problem}")
        problem = netns_problem(self.netns) if self.netns is not None else None
        if problem:
            raise ConfigError(f"{where}.netns: {problem}")


def ovs_settings(ctx: Any) -> OvsSettings:
    """A check's validated ``[ovs]`` section (``ctx.settings``; its defaults where a caller gave
    none)."""
    settings = getattr(ctx, "settings", None)
    return settings if isinstance(settings, OvsSettings) else OvsSettings()
