"""The addresses this host has (``ip -j addr``) and adding the planned ones (``ip addr add``)."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from stackwatch.core.host import Host
from stackwatch.core.record import dataclass
from stackwatch.ipalias.addresses import Interface, InUse, PlanError


@dataclass(frozen=True)
class Link:
    name: str
    addresses: tuple[InUse, ...]
    labels: tuple[str, ...]  # the label of each address ("eth0:3"), "" where it has none


def _address(entry: Any, name: str) -> tuple[InUse, str] | None:
    if not isinstance(entry, dict) or entry.get("family") not in ("inet", "inet6"):
        return None
    try:
        address = ipaddress.ip_interface(f"{entry['local']}/{int(entry['prefixlen'])}")
    except (KeyError, TypeError, ValueError):
        return None
    label = entry.get("label", "")
    # ip gives every IPv4 address a label, the interface's own name unless an alias was set
    return InUse(name, address), label if isinstance(label, str) and label != name else ""


def parse_ip_addr_json(text: str) -> list[Link]:
    """``ip -j addr show``: each interface with its addresses (and IPv4 labels)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanError(f"ip -j addr: not JSON ({exc})") from None
    if not isinstance(data, list):
        raise PlanError("ip -j addr: expected a list of interfaces")
    links = []
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("ifname"), str):
            continue
        found = [_address(e, item["ifname"]) for e in item.get("addr_info") or []]
        pairs = [f for f in found if f is not None]
        links.append(Link(item["ifname"], tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)))
    return links


def read_links(host: Host) -> list[Link]:
    return parse_ip_addr_json(host.run(["ip", "-j", "addr", "show"]).stdout)


def add_address(host: Host, interface: str, address: Interface) -> None:
    host.run(["ip", "addr", "add", address.with_prefixlen, "dev", interface])
