"""One switch's facts: read what a command needs from many devices at once, then decode each.

A device whose answer is missing, late or malformed gets ``error`` (the reason, one line) and no
facts; the others are decoded as usual. ``what`` names the parts wanted: "ports", "vlans",
"lldp"; only their columns are walked.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from stackwatch.core.record import dataclass, field
from stackwatch.switch import oids
from stackwatch.switch.client import Fetcher, Reading, Request, Rows, Target, fetch, read_all
from stackwatch.switch.octets import DecodeError
from stackwatch.switch.tables import (
    Interface,
    Neighbour,
    PortVlans,
    decode_interfaces,
    decode_neighbours,
    decode_port_vlans,
    decode_stack,
)
from stackwatch.switch.values import Index, Kind, Value, Walked, integer, text


@dataclass(frozen=True)
class DeviceFacts:
    name: str
    error: str | None = None
    system: str = ""
    uptime: int | None = None  # sysUpTime, hundredths of a second
    interfaces: tuple[Interface, ...] = ()
    vlans: tuple[PortVlans, ...] = ()
    neighbours: tuple[Neighbour, ...] = ()
    seconds: float = 0.0
    upper: Mapping[int, int] = field(default_factory=dict)  # LAG member -> port-channel

    def interface(self, ifindex: int | None) -> Interface | None:
        return next((i for i in self.interfaces if i.ifindex == ifindex), None)

    def by_name(self, name: str) -> Interface | None:
        return next((i for i in self.interfaces if name in (i.name, i.descr)), None)

    def port_vlans(self, ifindex: int) -> PortVlans | None:
        return next((p for p in self.vlans if p.ifindex == ifindex), None)

    def carrying(self, ifindex: int) -> tuple[PortVlans | None, Interface | None]:
        """The VLANs of a port, or of the port-channel it is a member of (VLANs are set on
        the LAG, LLDP is seen on its members), with that port-channel."""
        own = self.port_vlans(ifindex)
        if own is not None or ifindex not in self.upper:
            return own, None
        lag = self.upper[ifindex]
        return self.port_vlans(lag), self.interface(lag)


def request_for(what: Collection[str], timeout: float, max_repetitions: int = 10) -> Request:
    """The columns that ``what`` needs; interface names and link status are always read
    (every view names ports, verify says which links are down, LLDP needs names to place
    neighbours), descriptions (ifAlias) only for ``ports``."""
    columns: list[str] = [oids.IF_NAME, oids.IF_DESCR, oids.IF_OPER]
    if "ports" in what:
        columns += [c for c in oids.PORT_COLUMNS if c not in columns]
    if "vlans" in what:
        columns += [c for c in oids.VLAN_COLUMNS if c not in columns]
    if "lldp" in what:
        columns += [c for c in oids.LLDP_COLUMNS if c not in columns]
    return Request(
        tuple(columns),
        (oids.SYS_UPTIME, oids.SYS_NAME),
        timeout,
        max_repetitions,
        # ifStackTable rows 0.X only say "nothing above X": a LAG is a row HIGHER.MEMBER
        starts={oids.IF_STACK_STATUS: f"{oids.IF_STACK_STATUS}.1"},
        keep=worth_walking,
        details=trunk_details if "vlans" in what else None,
    )


TRUNKING = Value(Kind.INTEGER, 1)  # vlanTrunkPortDynamicStatus trunking(1)


def trunk_details(rows: Rows) -> dict[str, set[Index]]:
    """The native VLAN and the VLAN bitmaps of the ports that are trunks (CISCO-VTP-MIB),
    got row by row: walking them would read four 128-byte bitmaps of every access port too."""
    trunks: set[Index] = {
        index
        for index, value in rows.get(oids.VTP_DYNAMIC_STATUS, {}).items()
        if value == TRUNKING and len(index) == 1
    }
    return dict.fromkeys(oids.VTP_TRUNK_DETAILS, trunks) if trunks else {}


QB_TABLES = (
    oids.QB_CURRENT_EGRESS,
    oids.QB_CURRENT_UNTAGGED,
    oids.QB_STATIC_EGRESS,
    oids.QB_STATIC_UNTAGGED,
    oids.QB_PVID,
)


def worth_walking(found: frozenset[str]) -> set[str]:
    """Of the columns with a first row, those whose other rows are used: the LLDP local
    port table only beside remote rows; Q-BRIDGE's static lists only where the current ones
    are missing, and Q-BRIDGE not at all on a switch with the Cisco tables; the bridge port
    map only for Q-BRIDGE lists or LLDP neighbours."""
    keep = set(found)
    if not found & set(oids.LLDP_REMOTE_COLUMNS):
        keep -= set(oids.LLDP_LOCAL_COLUMNS)
    if found & {oids.VTP_DYNAMIC_STATUS, oids.VM_VLAN}:
        keep -= set(QB_TABLES)
    elif oids.QB_CURRENT_EGRESS in found:
        keep -= {oids.QB_STATIC_EGRESS, oids.QB_STATIC_UNTAGGED}
    if not keep & {*QB_TABLES, *oids.LLDP_REMOTE_COLUMNS}:
        keep.discard(oids.BASE_PORT_IFINDEX)
    return keep


def decode_device(reading: Reading, what: Collection[str]) -> DeviceFacts:
    """Facts from one reading; a reading that failed, or that does not decode, gives the
    reason as ``error``."""
    name = reading.target.name
    if reading.walked is None:
        return DeviceFacts(name, reading.error or "no answer", seconds=reading.seconds)
    try:
        return _decode(name, reading.walked, what, reading.seconds)
    except DecodeError as exc:
        return DeviceFacts(name, f"bad reply: {exc}", seconds=reading.seconds)


def _decode(name: str, walked: Walked, what: Collection[str], seconds: float) -> DeviceFacts:
    uptime_value = walked.scalars.get(oids.SYS_UPTIME)
    if uptime_value is None:
        raise DecodeError("sysUpTime.0: no such object (is this an SNMP agent of a switch?)")
    uptime = integer(uptime_value, "sysUpTime.0", None, Kind.TIMETICKS)
    sys_name = walked.scalars.get(oids.SYS_NAME)
    interfaces = decode_interfaces(walked)
    if not interfaces:
        raise DecodeError("IF-MIB: no interfaces")
    return DeviceFacts(
        name,
        system=text(sys_name, "sysName.0") if sys_name is not None else "",
        uptime=uptime,
        interfaces=interfaces,
        vlans=decode_port_vlans(walked) if "vlans" in what else (),
        neighbours=decode_neighbours(walked, interfaces) if "lldp" in what else (),
        seconds=seconds,
        upper=decode_stack(walked) if "vlans" in what else {},
    )


def read_devices(
    targets: Sequence[Target],
    what: Collection[str],
    timeout: float,
    max_repetitions: int = 10,
    fetcher: Fetcher = fetch,
) -> list[DeviceFacts]:
    """Read and decode every target, concurrently, within ``timeout`` seconds."""
    request = request_for(what, timeout, max_repetitions)
    return [decode_device(r, what) for r in read_all(targets, request, fetcher)]
