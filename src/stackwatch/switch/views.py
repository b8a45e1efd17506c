"""What ``switch ports|vlans|lldp`` print: a table for a person, or JSON. No I/O.

Names come from the switch (ifName, LLDP system names): in text they are made printable
(render/safe.printable), so that no port description can move a terminal's cursor; JSON escapes
them itself.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from stackwatch.render.safe import printable
from stackwatch.switch.counters import PortRates
from stackwatch.switch.device import DeviceFacts
from stackwatch.switch.lldpctl import Uplink
from stackwatch.switch.octets import format_ranges, format_vlans


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    cells = [list(header), *[[printable(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines) + "\n"


def _title(device: DeviceFacts) -> str:
    system = f" ({printable(device.system)})" if device.system else ""
    return f"{printable(device.name)}{system}\n"


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2) + "\n"


# --- vlans --------------------------------------------------------------------------------


def vlans_json(device: DeviceFacts) -> str:
    ports = []
    for port in device.vlans:
        interface = device.interface(port.ifindex)
        entry: dict[str, Any] = {
            "ifindex": port.ifindex,
            "name": interface.name if interface else str(port.ifindex),
            "mode": port.mode,
            "vlans": sorted(port.vlans),
            "native": port.native,
            "source": port.source,
        }
        if port.unknown:
            entry["unknown"] = format_ranges(port.unknown)
        ports.append(entry)
    return _dump({"device": device.name, "ports": ports})


def vlans_text(device: DeviceFacts) -> str:
    if not device.vlans:
        return _title(device) + "no VLAN table (neither CISCO-VTP-MIB nor Q-BRIDGE-MIB)\n"
    rows = []
    for port in device.vlans:
        interface = device.interface(port.ifindex)
        carried = format_vlans(port.vlans)
        if port.unknown:
            carried += f" (unknown {format_ranges(port.unknown)})"
        rows.append(
            [
                str(port.ifindex),
                interface.name if interface else "?",
                port.mode,
                str(port.native) if port.native is not None else "-",
                port.source,
                carried,
            ]
        )
    return _title(device) + _table(["IFINDEX", "NAME", "MODE", "NATIVE", "SOURCE", "VLANS"], rows)


# --- lldp ---------------------------------------------------------------------------------


def lldp_json(device: DeviceFacts) -> str:
    neighbours = [
        {
            "ifindex": n.ifindex,
            "name": _port_name(device, n.ifindex, n.local_port),
            "remote_system": n.remote_system,
            "remote_chassis": n.remote_chassis,
            "remote_port": n.remote_port,
            "remote_port_description": n.remote_port_description,
        }
        for n in device.neighbours
    ]
    return _dump({"device": device.name, "neighbours": neighbours})


def _port_name(device: DeviceFacts, ifindex: int | None, local_port: int) -> str | None:
    interface = device.interface(ifindex)
    return interface.name if interface else None


def lldp_text(device: DeviceFacts) -> str:
    if not device.neighbours:
        return _title(device) + "no LLDP neighbours\n"
    rows = [
        [
            _port_name(device, n.ifindex, n.local_port) or f"(LLDP port {n.local_port})",
            n.remote_system or "-",
            n.remote_chassis,
            n.remote_port,
            n.remote_port_description or "-",
        ]
        for n in device.neighbours
    ]
    header = ["PORT", "NEIGHBOUR", "CHASSIS", "REMOTE PORT", "REMOTE DESCRIPTION"]
    return _title(device) + _table(header, rows)


# --- ports --------------------------------------------------------------------------------


def _rate_note(rates: PortRates) -> str:
    if rates.restarted:
        return "rates: the agent restarted since the last reading (sysUpTime went back); none\n"
    if rates.first_run:
        return "rates: first reading; rates from the next run on\n"
    return ""


def ports_json(device: DeviceFacts, rates: PortRates) -> str:
    ports = []
    for i in device.interfaces:
        ports.append(
            {
                "ifindex": i.ifindex,
                "name": i.name,
                "alias": i.alias,
                "description": i.descr,
                "admin": None if i.admin_up is None else ("up" if i.admin_up else "down"),
                "oper": i.oper,
                "speed_mbps": i.speed_mbps,
                "counters": dict(i.counters),
                "rates": {k: round(v, 3) for k, v in rates.rates.get(i.ifindex, {}).items()},
            }
        )
    return _dump(
        {
            "device": device.name,
            "system": device.system,
            "uptime": device.uptime,
            "first_run": rates.first_run,
            "restarted": rates.restarted,
            "ports": ports,
        }
    )


def _bits(octets_per_second: float | None) -> str:
    if octets_per_second is None:
        return "-"
    value = octets_per_second * 8
    for unit in ("bit/s", "kbit/s", "Mbit/s", "Gbit/s"):
        if value < 1000:
            return f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} Tbit/s"


def ports_text(device: DeviceFacts, rates: PortRates) -> str:
    rows = []
    for i in device.interfaces:
        rate = rates.rates.get(i.ifindex, {})
        errors = sum(rate.get(k, 0.0) for k in ("in_errors", "out_errors"))
        rows.append(
            [
                str(i.ifindex),
                i.name,
                "up" if i.admin_up else "down",
                i.oper,
                f"{i.speed_mbps}M" if i.speed_mbps else "-",
                _bits(rate.get("in_octets")),
                _bits(rate.get("out_octets")),
                f"{errors:.2f}/s" if rate else "-",
                i.alias,
            ]
        )
    header = ["IFINDEX", "NAME", "ADMIN", "OPER", "SPEED", "IN", "OUT", "ERRORS", "ALIAS"]
    return _title(device) + _table(header, rows) + _rate_note(rates)


# --- uplinks (the hypervisor's side) --------------------------------------------------------


def uplinks_json(uplinks: Sequence[Uplink]) -> str:
    return _dump(
        {
            "uplinks": [
                {
                    "nic": u.nic,
                    "switch": u.switch,
                    "chassis": u.chassis,
                    "port": u.port,
                    "port_description": u.port_description,
                }
                for u in uplinks
            ]
        }
    )


def uplinks_text(uplinks: Sequence[Uplink]) -> str:
    if not uplinks:
        return "no LLDP neighbours (is lldpd running, and LLDP enabled on the switch ports?)\n"
    rows = [[u.nic, u.switch or "-", u.chassis, u.port, u.port_description or "-"] for u in uplinks]
    return _table(["NIC", "SWITCH", "CHASSIS", "PORT", "PORT DESCRIPTION"], rows)
