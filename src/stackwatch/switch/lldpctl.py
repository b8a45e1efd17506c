"""The hypervisor's side of LLDP: `lldpctl -f json` (lldpd) says which switch port each NIC is
on. Pure parsing of that JSON; ``switch uplinks`` runs lldpctl, ``switch verify --lldpctl DIR``
reads the files hypervisors leave (one ``HOST.json`` each), so that verify works even where a
switch does not publish its LLDP table over SNMP.

lldpd's JSON has two shapes of its own: ``interface`` is an object for one neighbour and a list
of one-key objects for several; ``chassis`` is keyed by the system name, or holds ``id``
directly where the neighbour sent none.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from stackwatch.core.record import dataclass
from stackwatch.switch.octets import DecodeError

MAX_JSON_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Uplink:
    nic: str
    switch: str  # the neighbour's system name ("" where it sent none)
    chassis: str
    port: str  # the port id as sent (an ifname, a MAC, a local name)
    port_description: str


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DecodeError(f"lldpctl JSON: {where} is not an object")
    return value


def _text(value: Any, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise DecodeError(f"lldpctl JSON: {where} is not text")
    return str(value)


def _interfaces(lldp: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    found = lldp.get("interface")
    if found is None:
        return
    entries = found if isinstance(found, list) else [found]
    for entry in entries:
        for nic, body in _object(entry, "interface").items():
            yield nic, _object(body, f"interface {nic}")


def _chassis(body: dict[str, Any], nic: str) -> tuple[str, str]:
    chassis = _object(body.get("chassis", {}), f"{nic} chassis")
    if isinstance(chassis.get("id"), dict) and "value" in chassis["id"]:
        return "", _text(chassis["id"].get("value"), f"{nic} chassis id")
    if len(chassis) != 1:
        return "", ""
    name, details = next(iter(chassis.items()))
    ident = _object(details, f"{nic} chassis {name}").get("id", {})
    return name, _text(_object(ident, f"{nic} chassis id").get("value"), f"{nic} chassis id")


def _port(body: dict[str, Any], nic: str) -> tuple[str, str]:
    port = _object(body.get("port", {}), f"{nic} port")
    ident = _object(port.get("id", {}), f"{nic} port id")
    return _text(ident.get("value"), f"{nic} port id"), _text(port.get("descr"), f"{nic} descr")


def parse_lldpctl(text: str) -> tuple[Uplink, ...]:
    """Every neighbour of ``lldpctl -f json``, one Uplink per NIC and neighbour."""
    if len(text) > MAX_JSON_BYTES:
        raise DecodeError("lldpctl JSON: larger than 16 MiB")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise DecodeError("lldpctl JSON: not JSON (is this `lldpctl -f json` output?)") from None
    lldp = _object(_object(data, "the document").get("lldp", {}), "lldp")
    uplinks = []
    for nic, body in _interfaces(lldp):
        switch, chassis = _chassis(body, nic)
        port, description = _port(body, nic)
        uplinks.append(Uplink(nic, switch, chassis, port, description))
    return tuple(uplinks)
