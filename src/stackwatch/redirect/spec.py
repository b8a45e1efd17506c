"""What a redirect is, read from the command line, and the ones refused: pure, no I/O.

A redirect sends new connections for ``source`` (an address, or an address and port) to
``target``, either for this host's own traffic (OUTPUT) or for traffic routed through it
(PREROUTING, ``forwarded``). Refused: a value that is not an address, a redirect to itself,
address families that differ, a port on the target only, and loops or chains with the redirects
already in place (a target that is itself redirected, a source that is another one's target).
"""

from __future__ import annotations

import ipaddress

from stackwatch.core.record import dataclass

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class RedirectError(ValueError):
    """A redirect that is refused; the message says why, in one line."""


@dataclass(frozen=True)
class Endpoint:
    address: Address
    port: int | None = None

    @property
    def family(self) -> int:
        return self.address.version

    def __str__(self) -> str:
        host = f"[{self.address}]" if self.family == 6 else str(self.address)
        if self.port is None:
            return host if self.family == 4 else str(self.address)
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class Redirect:
    source: Endpoint
    target: Endpoint
    forwarded: bool = False  # traffic routed through this host, not its own
    expires_in: float | None = None  # seconds left; None: until removed

    @property
    def scope(self) -> str:
        return "routed" if self.forwarded else "local"


def parse_endpoint(text: str, option: str) -> Endpoint:
    """``IP``, ``IP:PORT``, ``[IPv6]`` or ``[IPv6]:PORT``; an IPv6 address alone has no port."""
    value = text.strip()
    host, port = _split(value)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise RedirectError(f"{option} {text!r} is not an IP address") from None
    if address.is_unspecified or address.is_multicast:
        raise RedirectError(f"{option} {text!r} is not an address a connection can go to")
    return Endpoint(address, _port(port, option, text))


def _split(value: str) -> tuple[str, str | None]:
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        if rest and not rest.startswith(":"):
            return value, None  # refused by ip_address
        return host, rest[1:] if rest else None
    if value.count(":") == 1:
        host, _, port = value.partition(":")
        return host, port
    return value, None


def _port(port: str | None, option: str, text: str) -> int | None:
    if port is None:
        return None
    if not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise RedirectError(f"{option} {text!r}: the port must be a number from 1 to 65535")
    return int(port)


def build(
    source: Endpoint, target: Endpoint, forwarded: bool, expires_in: float | None
) -> Redirect:
    """The redirect, or RedirectError for one that cannot be meant."""
    if source.family != target.family:
        raise RedirectError(
            f"--from {source} and --to {target} are of different address families (IPv4, IPv6)"
        )
    if target.port is not None and source.port is None:
        raise RedirectError("--to has a port but --from has none: give --from IP:PORT")
    port = target.port if target.port is not None else source.port
    target = Endpoint(target.address, port)
    if source.address == target.address and source.port == target.port:
        raise RedirectError(f"--from {source} and --to {target} are the same: a redirect to itself")
    return Redirect(source, target, forwarded, expires_in)


def refuse_loops(new: Redirect, existing: list[Redirect]) -> None:
    """RedirectError where ``new`` would chain or loop with a redirect in place (same scope)."""
    for old in existing:
        if old.forwarded != new.forwarded:
            continue
        if old.source == new.source:
            raise RedirectError(
                f"--from {new.source} is already redirected (to {old.target}); remove it first"
            )
        if old.source.address == new.target.address:
            raise RedirectError(
                f"--to {new.target} is itself redirected (to {old.target}): that makes a chain or "
                "a loop; remove that redirect first"
            )
        if old.target.address == new.source.address:
            raise RedirectError(
                f"--from {new.source} is the target of the redirect from {old.source}: that makes "
                "a chain or a loop; remove that redirect first"
            )


def describe_expiry(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    left = int(seconds)
    days, left = divmod(left, 86400)
    hours, left = divmod(left, 3600)
    minutes, secs = divmod(left, 60)
    parts = [
        f"{days}d" if days else "",
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
    ]
    text = "".join(parts)
    return text + (f"{secs}s" if secs or not text else "")
