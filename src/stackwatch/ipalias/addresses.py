"""Which addresses a request means, and which of them may be added: pure functions.

A request is a range (``192.168.41.186-190``, ``192.168.41.186-192.168.41.190``,
``2001:db8::10-1f``) or a CIDR block (``192.168.41.32/28``: its host addresses), with the prefix
the addresses get on the interface. Refused, with the reason: the subnet's network address and
(IPv4) its broadcast address, addresses outside the subnet, and addresses already used on the
host (on another interface, or on this one with another prefix); those already on this
interface with this prefix are "present", which makes applying twice harmless.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from stackwatch.core.record import dataclass

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Interface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
MAX_ADDRESSES = 4096  # a plan larger than this is almost surely a typing mistake


class PlanError(ValueError):
    """A request that cannot be planned: one line saying why (a usage error)."""


@dataclass(frozen=True)
class InUse:
    interface: str
    address: Interface


@dataclass(frozen=True)
class Plan:
    interface: str
    add: tuple[Interface, ...]  # to be added, in order
    present: tuple[Interface, ...]  # already on the interface with this prefix
    refused: tuple[tuple[Address, str], ...]  # (address, why)


def _ip(text: str) -> Address:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        raise PlanError(f"{text.strip()!r} is not an IP address") from None


def _range_end(first: Address, text: str) -> Address:
    """The end of a range: a whole address, or the last octet (IPv4) / group (IPv6) only."""
    if "." in text or ":" in text:
        return _ip(text)
    if first.version == 4:
        head = str(first).rsplit(".", 1)[0]
        return _ip(f"{head}.{text}")
    head = ipaddress.IPv6Address(first).exploded.rsplit(":", 1)[0]
    return _ip(f"{head}:{text}")


def parse_request(spec: str) -> tuple[list[Address], int | None]:
    """The addresses a range or CIDR block names, and the block's prefix (None for a range)."""
    spec = spec.strip()
    if "/" in spec:
        try:
            block = ipaddress.ip_network(spec, strict=False)
        except ValueError as exc:
            raise PlanError(f"{spec!r}: {exc}") from None
        hosts = list(block.hosts()) if block.num_addresses <= MAX_ADDRESSES + 2 else None
        if hosts is None:
            raise PlanError(f"{spec!r} holds more than {MAX_ADDRESSES} addresses")
        return [ipaddress.ip_address(int(h)) for h in hosts], block.prefixlen
    first_text, sep, last_text = spec.partition("-")
    first = _ip(first_text)
    last = _range_end(first, last_text) if sep else first
    if last.version != first.version or int(last) < int(first):
        raise PlanError(f"{spec!r}: the range must go upwards within one address family")
    if int(last) - int(first) >= MAX_ADDRESSES:
        raise PlanError(f"{spec!r} holds more than {MAX_ADDRESSES} addresses")
    return [ipaddress.ip_address(n) for n in range(int(first), int(last) + 1)], None


def _why_refused(
    address: Address, subnet: ipaddress.IPv4Network | ipaddress.IPv6Network
) -> str | None:
    if address not in subnet:
        return f"outside {subnet}"
    if subnet.num_addresses > 2 and address == subnet.network_address:
        return f"network address of {subnet}"
    if subnet.version == 4 and subnet.num_addresses > 2 and address == subnet.broadcast_address:
        return f"broadcast address of {subnet}"
    return None


def plan_addresses(
    interface: str, addresses: Sequence[Address], prefix: int, in_use: Iterable[InUse]
) -> Plan:
    """Which of ``addresses`` (with ``prefix``) to add to ``interface``, given what the host has."""
    if not addresses:
        raise PlanError("no addresses asked for")
    try:
        subnet = ipaddress.ip_interface(f"{addresses[0]}/{prefix}").network
    except ValueError:
        raise PlanError(f"prefix {prefix} does not fit IPv{addresses[0].version}") from None
    used = {u.address.ip: u for u in in_use}
    add: list[Interface] = []
    present: list[Interface] = []
    refused: list[tuple[Address, str]] = []
    for address in dict.fromkeys(addresses):
        why = _why_refused(address, subnet)
        holder = used.get(address)
        wanted = ipaddress.ip_interface(f"{address}/{prefix}")
        if why is None and holder is not None:
            if holder.interface == interface and holder.address == wanted:
                present.append(wanted)
                continue
            why = f"in use on {holder.interface} as {holder.address}"
        if why is not None:
            refused.append((address, why))
        else:
            add.append(wanted)
    return Plan(interface, tuple(add), tuple(present), tuple(refused))
