"""Judging trunks against the inventory: does every hypervisor NIC's switch port carry exactly
the VLANs that NIC needs? Pure: inventory and device facts in, one Result out.

LLDP ties each switch port to a hypervisor NIC (the neighbour's system name is the hypervisor,
its port id or port description the NIC, as lldpd sends them). Per NIC the problems are: VLANs
missing (CRITICAL), native VLAN wrong (CRITICAL), link down (CRITICAL), VLANs extra (WARNING),
no neighbour seen (WARNING), VLANs the switch said nothing about (a truncated bitmap: UNKNOWN).
A neighbour that is neither a hypervisor, a device nor a known neighbour is a WARNING; a device
that did not answer is UNKNOWN, with its reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from stackwatch.core.findings import Findings
from stackwatch.core.record import dataclass
from stackwatch.core.result import Metric, Result, Status
from stackwatch.switch.device import DeviceFacts
from stackwatch.switch.inventory import Expectation, Inventory, Nic
from stackwatch.switch.lldpctl import Uplink
from stackwatch.switch.octets import format_vlans
from stackwatch.switch.tables import Interface, Neighbour, PortVlans

CHECK = "switch-vlans"
HINT_VLANS = "add the missing VLANs to the trunk's allowed list (or fix the inventory)"
HINT_EXTRA = "remove the extra VLANs from the trunk (or add them to the inventory)"
HINT_NATIVE = "set the trunk's native VLAN to what the hypervisor sends untagged"
HINT_LINK = "look at the cable, the optic and the hypervisor NIC of the port that is down"
HINT_LLDP = "run lldpd on the hypervisor and enable LLDP on the switch port"
UNKNOWN_SHOWN = 3  # unknown neighbours named in the summary, per device


@dataclass(frozen=True)
class Sighting:
    device: DeviceFacts
    interface: Interface
    neighbour: Neighbour


def short_name(name: str) -> str:
    """A host name as LLDP and the inventory may both spell it: lower case, no domain."""
    return name.strip().lower().split(".")[0]


def compare_port(
    expect: Expectation, interface: Interface, vlans: PortVlans | None
) -> list[tuple[Status, str]]:
    """What is wrong with one switch port against what it should carry."""
    problems: list[tuple[Status, str]] = []
    if interface.oper != "up":
        problems.append((Status.CRITICAL, f"link {interface.oper}"))
    if vlans is None:
        problems.append((Status.UNKNOWN, "the switch reports no VLANs for this port"))
        return problems
    missing = expect.vlans - vlans.vlans
    unsaid = {v for v in missing if any(low <= v <= high for low, high in vlans.unknown)}
    if missing - unsaid:
        problems.append((Status.CRITICAL, f"VLANs missing {format_vlans(missing - unsaid)}"))
    if unsaid:
        problems.append(
            (
                Status.UNKNOWN,
                f"VLANs {format_vlans(unsaid)} not reported by the switch (truncated bitmap)",
            )
        )
    extra = vlans.vlans - expect.vlans
    if extra:
        problems.append((Status.WARNING, f"VLANs extra {format_vlans(extra)}"))
    if expect.native is not None and vlans.native != expect.native:
        problems.append((Status.CRITICAL, f"native VLAN {vlans.native}, expected {expect.native}"))
    return problems


def _from_uplinks(
    devices: Sequence[DeviceFacts], nic: Nic, uplinks: Mapping[str, Sequence[Uplink]]
) -> list[Sighting]:
    """Where the hypervisor's lldpd said which switch port its NIC is on."""
    found = []
    for host, seen in uplinks.items():
        if short_name(host) != short_name(nic.host):
            continue
        for uplink in seen:
            if uplink.nic != nic.nic:
                continue
            for device in devices:
                if short_name(uplink.switch) not in (
                    short_name(device.name),
                    short_name(device.system),
                ):
                    continue
                interface = device.by_name(uplink.port) or device.by_name(uplink.port_description)
                if interface is not None:
                    neighbour = Neighbour(interface.ifindex, 0, nic.host, "", nic.nic, "")
                    found.append(Sighting(device, interface, neighbour))
    return found


def _sightings(
    devices: Sequence[DeviceFacts], nic: Nic, uplinks: Mapping[str, Sequence[Uplink]]
) -> list[Sighting]:
    found = _from_uplinks(devices, nic, uplinks)
    seen = {(s.device.name, s.interface.ifindex) for s in found}
    for device in devices:
        for neighbour in device.neighbours:
            interface = device.interface(neighbour.ifindex)
            if interface is None or short_name(neighbour.remote_system) != short_name(nic.host):
                continue
            if nic.nic in (neighbour.remote_port, neighbour.remote_port_description) and (
                (device.name, interface.ifindex) not in seen
            ):
                seen.add((device.name, interface.ifindex))
                found.append(Sighting(device, interface, neighbour))
    return found


def _judge_nic(
    findings: Findings,
    nic: Nic,
    devices: Sequence[DeviceFacts],
    uplinks: Mapping[str, Sequence[Uplink]],
) -> bool:
    label = f"{nic.host} {nic.nic}"
    sightings = _sightings(devices, nic, uplinks)
    if not sightings:
        findings.problem(Status.WARNING, f"{label}: no neighbour seen", HINT_LLDP)
        findings.details.append(f"{label}: no switch port has it as LLDP neighbour")
        return False
    healthy = True
    for seen in sightings:
        vlans, lag = seen.device.carrying(seen.interface.ifindex)
        via = f" in {lag.name}" if lag is not None else ""
        where = f"{seen.device.name} {seen.interface.name}{via}"
        healthy &= _report(findings, f"{label} ({where})", nic.expect, seen.interface, vlans)
    return healthy


def _report(
    findings: Findings,
    label: str,
    expect: Expectation,
    interface: Interface,
    vlans: PortVlans | None,
) -> bool:
    problems = compare_port(expect, interface, vlans)
    for status, text in problems:
        hint = _hint(text)
        findings.problem(status, f"{label}: {text}", hint if status != Status.UNKNOWN else None)
    carried = format_vlans(vlans.vlans) if vlans else "unknown"
    native = vlans.native if vlans else None
    verdict = "OK" if not problems else "; ".join(t for _, t in problems)
    findings.details.append(f"{label}: carries {carried} native {native}: {verdict}")
    return not problems


def _hint(problem: str) -> str:
    for start, hint in (("link", HINT_LINK), ("VLANs extra", HINT_EXTRA), ("native", HINT_NATIVE)):
        if problem.startswith(start):
            return hint
    return HINT_VLANS


def _judge_device_ports(
    findings: Findings, inventory: Inventory, devices: Sequence[DeviceFacts]
) -> tuple[int, int]:
    good = bad = 0
    for declared in inventory.devices:
        facts = next((d for d in devices if d.name == declared.name and d.error is None), None)
        if facts is None:
            continue
        for port, expect in declared.ports.items():
            interface = facts.by_name(port)
            if interface is None:
                findings.problem(Status.UNKNOWN, f"{declared.name} {port}: no such port")
                bad += 1
                continue
            ok = _report(
                findings,
                f"{declared.name} {port}",
                expect,
                interface,
                facts.carrying(interface.ifindex)[0],
            )
            good, bad = good + ok, bad + (not ok)
    return good, bad


def _unknown_neighbours(
    findings: Findings, inventory: Inventory, devices: Sequence[DeviceFacts]
) -> None:
    """One problem per device naming its first few unknown neighbours; all in the details."""
    known = {
        short_name(n)
        for n in (
            *inventory.hypervisors,
            *inventory.known_neighbours,
            *(d.name for d in inventory.devices),
        )
    }
    for device in devices:
        strangers = []
        for neighbour in device.neighbours:
            system = neighbour.remote_system or neighbour.remote_chassis
            if short_name(system) not in known:
                interface = device.interface(neighbour.ifindex)
                port = interface.name if interface else f"LLDP port {neighbour.local_port}"
                strangers.append(f"{port} {system}")
                findings.details.append(
                    f"{device.name} {port}: unknown neighbour {system} port {neighbour.remote_port}"
                )
        if strangers:
            shown = ", ".join(strangers[:UNKNOWN_SHOWN])
            more = (
                f" and {len(strangers) - UNKNOWN_SHOWN} more"
                if len(strangers) > UNKNOWN_SHOWN
                else ""
            )
            findings.problem(
                Status.WARNING,
                f"{device.name}: unknown neighbour{'s' if len(strangers) > 1 else ''} "
                f"{shown}{more}",
                "add them to the inventory (hypervisors or known_neighbours)",
            )


def _device_errors(findings: Findings, devices: Iterable[DeviceFacts]) -> int:
    failed = 0
    for device in devices:
        if device.error is not None:
            findings.problem(Status.UNKNOWN, f"{device.name}: {device.error}")
            failed += 1
    return failed


def judge_inventory(
    inventory: Inventory,
    devices: Sequence[DeviceFacts],
    uplinks: Mapping[str, Sequence[Uplink]] | None = None,
    problems: Sequence[str] = (),
) -> Result:
    """The verdict of ``switch verify`` and of the switch-vlans check. ``uplinks``: per
    hypervisor, what its lldpd says (lldpctl.py); ``problems``: files that could not be read."""
    findings = Findings()
    failed = _device_errors(findings, devices)
    for problem in problems:
        findings.problem(Status.UNKNOWN, problem)
    readable = [d for d in devices if d.error is None]
    good = sum(_judge_nic(findings, nic, readable, uplinks or {}) for nic in inventory.nics)
    bad = len(inventory.nics) - good
    port_good, port_bad = _judge_device_ports(findings, inventory, readable)
    _unknown_neighbours(findings, inventory, readable)
    findings.metrics.extend(
        [
            Metric("ports_ok", good + port_good, min=0),
            Metric("ports_failing", bad + port_bad, min=0),
            Metric("devices_unreadable", failed, min=0, max=len(devices)),
        ]
    )
    checked = len(inventory.nics) + port_good + port_bad
    return findings.result(
        CHECK, f"{checked} ports carry what the inventory says, on {len(devices)} switches"
    )
