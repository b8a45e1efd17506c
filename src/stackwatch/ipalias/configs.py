"""The configuration files a plan's addresses become: ifupdown, netplan, systemd-networkd.

Each describes every planned address (added and already present), so that the file alone
brings the interface to the planned state at the next boot:

- ``ifupdown``: a file for /etc/network/interfaces.d/; IPv4 addresses as ``IF:N`` alias stanzas
  (the convention operators know from ``ifconfig``), IPv6 ones as ``inet6`` stanzas of the
  interface (ifupdown adds each stanza's address).
- ``netplan``: a file for /etc/netplan/ that netplan merges with the interface's own file.
- ``networkd``: a drop-in for the interface's .network file (``NAME.network.d/ipalias.conf``).
"""

from __future__ import annotations

from collections.abc import Sequence

from stackwatch.ipalias.addresses import Interface, Plan

WRITERS = ("ifupdown", "netplan", "networkd")


def planned(plan: Plan) -> list[Interface]:
    return sorted({*plan.present, *plan.add}, key=lambda a: (a.version, int(a.ip)))


def ifupdown(interface: str, addresses: Sequence[Interface], first_label: int = 0) -> str:
    lines = [f"# stackwatch ipalias: {len(addresses)} addresses on {interface}"]
    label = first_label
    for address in addresses:
        if address.version == 4:
            lines += [
                "",
                f"auto {interface}:{label}",
                f"iface {interface}:{label} inet static",
                f"    address {address.with_prefixlen}",
            ]
            label += 1
        else:
            lines += [
                "",
                f"iface {interface} inet6 static",
                f"    address {address.with_prefixlen}",
            ]
    return "\n".join(lines) + "\n"


def netplan(interface: str, addresses: Sequence[Interface]) -> str:
    lines = [
        f"# stackwatch ipalias: {len(addresses)} addresses on {interface}",
        "network:",
        "  version: 2",
        "  ethernets:",
        f'    "{interface}":',
        "      addresses:",
        *(f'        - "{a.with_prefixlen}"' for a in addresses),
    ]
    return "\n".join(lines) + "\n"


def networkd(interface: str, addresses: Sequence[Interface]) -> str:
    lines = [
        f"# stackwatch ipalias: {len(addresses)} addresses on {interface}",
        f"# a drop-in for the .network file that matches {interface}",
        "[Network]",
        *(f"Address={a.with_prefixlen}" for a in addresses),
    ]
    return "\n".join(lines) + "\n"


def render_config(kind: str, plan: Plan, first_label: int = 0) -> str:
    addresses = planned(plan)
    if kind == "ifupdown":
        return ifupdown(plan.interface, addresses, first_label)
    if kind == "netplan":
        return netplan(plan.interface, addresses)
    return networkd(plan.interface, addresses)
