"""From walked columns to facts: interfaces (IF-MIB), the VLANs of each port (CISCO-VTP or
Q-BRIDGE) and LLDP neighbours tied to the interface they were seen on. Pure functions.

Every value is type-checked (values.py); a wrong type, a malformed index or an oversized bitmap
raises ``DecodeError`` naming the object, which makes the device UNKNOWN with that reason.
"""

from __future__ import annotations

from collections.abc import Mapping

from stackwatch.core.record import dataclass, field
from stackwatch.switch import oids
from stackwatch.switch.octets import (
    DecodeError,
    decode_portlist,
    decode_vtp_bitmaps,
    mac_text,
    printable_or_hex,
)
from stackwatch.switch.values import Index, Kind, Value, Walked, integer, octets, text

OPER_STATUS = {
    1: "up",
    2: "down",
    3: "testing",
    4: "unknown",
    5: "dormant",
    6: "notPresent",
    7: "lowerLayerDown",
}
COUNTER_KINDS = {
    name: (Kind.COUNTER64 if "octets" in name else Kind.COUNTER32) for name in oids.COUNTERS
}


@dataclass(frozen=True)
class Interface:
    ifindex: int
    name: str
    descr: str = ""
    alias: str = ""
    admin_up: bool | None = None
    oper: str = "unknown"
    speed_mbps: int | None = None
    counters: Mapping[str, int] = field(default_factory=dict)
    discontinuity: int | None = None  # ifCounterDiscontinuityTime, in sysUpTime ticks


@dataclass(frozen=True)
class PortVlans:
    ifindex: int
    mode: str  # "trunk" or "access"
    vlans: frozenset[int]
    native: int | None
    source: str  # "vtp", "vlan-membership", "q-bridge"
    unknown: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Neighbour:
    ifindex: int | None  # None where the local port matches no interface
    local_port: int  # lldpRemLocalPortNum, as the agent numbers it
    remote_system: str
    remote_chassis: str
    remote_port: str
    remote_port_description: str


def _single(index: Index, name: str) -> int:
    if len(index) != 1:
        raise DecodeError(f"{name}: index {'.'.join(map(str, index))} is not one number")
    return index[0]


def _by_ifindex(walked: Walked, column: str, name: str) -> dict[int, Value]:
    return {_single(i, name): v for i, v in walked.column(column).items()}


# --- IF-MIB -------------------------------------------------------------------------------


def decode_interfaces(walked: Walked) -> tuple[Interface, ...]:
    """One Interface per ifIndex seen in any of the name or status columns."""
    names = {col: _by_ifindex(walked, col, col) for col in oids.NAME_COLUMNS}
    indexes: set[int] = set()
    for col in (*oids.NAME_COLUMNS, oids.IF_OPER):
        indexes.update(_by_ifindex(walked, col, col))
    numbers = {col: walked.column(col) for col in NUMBER_COLUMNS if walked.column(col)}
    return tuple(_interface(i, names, numbers) for i in sorted(indexes))


NUMBER_COLUMNS = (
    oids.IF_ADMIN,
    oids.IF_OPER,
    oids.IF_HIGH_SPEED,
    oids.IF_DISCONTINUITY,
    *oids.COUNTERS.values(),
)


def _label(names: Mapping[str, Mapping[int, Value]], column: str, ifindex: int) -> str:
    value = names[column].get(ifindex)
    return text(value, column, (ifindex,)) if value is not None else ""


def _optional_int(
    numbers: Mapping[str, Mapping[Index, Value]], column: str, ifindex: int, *kinds: Kind
) -> int | None:
    """The number of one interface in a column; None where the column (the command did not
    read it) or the row is missing."""
    rows = numbers.get(column)
    value = None if rows is None else rows.get((ifindex,))
    return None if value is None else integer(value, column, (ifindex,), *kinds)


def _interface(
    ifindex: int,
    names: Mapping[str, Mapping[int, Value]],
    numbers: Mapping[str, Mapping[Index, Value]],
) -> Interface:
    descr = _label(names, oids.IF_DESCR, ifindex)
    name = _label(names, oids.IF_NAME, ifindex) or descr or str(ifindex)
    admin = _optional_int(numbers, oids.IF_ADMIN, ifindex)
    oper = _optional_int(numbers, oids.IF_OPER, ifindex)
    counters = {}
    for counter, column in oids.COUNTERS.items():
        value = _optional_int(numbers, column, ifindex, COUNTER_KINDS[counter])
        if value is not None:
            counters[counter] = value
    return Interface(
        ifindex=ifindex,
        name=name,
        descr=descr,
        alias=_label(names, oids.IF_ALIAS, ifindex),
        admin_up=None if admin is None else admin == 1,
        oper=OPER_STATUS.get(oper, "unknown") if oper is not None else "unknown",
        speed_mbps=_optional_int(numbers, oids.IF_HIGH_SPEED, ifindex, Kind.GAUGE32),
        counters=counters,
        discontinuity=_optional_int(numbers, oids.IF_DISCONTINUITY, ifindex, Kind.TIMETICKS),
    )


# --- VLANs --------------------------------------------------------------------------------


def decode_port_vlans(walked: Walked) -> tuple[PortVlans, ...]:
    """The VLANs of each port, from CISCO-VTP-MIB where the agent has it, else Q-BRIDGE-MIB."""
    if walked.column(oids.VTP_DYNAMIC_STATUS) or walked.column(oids.VM_VLAN):
        return _cisco_ports(walked)
    return _qbridge_ports(walked)


def _cisco_ports(walked: Walked) -> tuple[PortVlans, ...]:
    ports: dict[int, PortVlans] = {}
    for ifindex, value in _by_ifindex(walked, oids.VM_VLAN, "vmVlan").items():
        vlan = integer(value, "vmVlan", (ifindex,))
        vlans = frozenset({vlan}) if 1 <= vlan <= 4094 else frozenset()
        ports[ifindex] = PortVlans(ifindex, "access", vlans, vlan, "vlan-membership")
    statuses = _by_ifindex(walked, oids.VTP_DYNAMIC_STATUS, "vlanTrunkPortDynamicStatus")
    for ifindex, value in statuses.items():
        if integer(value, "vlanTrunkPortDynamicStatus", (ifindex,)) == 1:  # trunking
            ports[ifindex] = _vtp_trunk(walked, ifindex)
    return tuple(ports[i] for i in sorted(ports))


def _vtp_trunk(walked: Walked, ifindex: int) -> PortVlans:
    blocks: list[bytes | None] = []
    for column in oids.VTP_BITMAPS:
        value = walked.column(column).get((ifindex,))
        blocks.append(None if value is None else octets(value, column, (ifindex,)))
    try:
        decoded = decode_vtp_bitmaps(blocks)
    except DecodeError as exc:
        raise DecodeError(f"vlanTrunkPortVlansEnabled.{ifindex}: {exc}") from None
    native = _optional_int(walked.columns, oids.VTP_NATIVE, ifindex)
    return PortVlans(ifindex, "trunk", decoded.vlans, native, "vtp", decoded.unknown)


def bridge_port_map(walked: Walked) -> dict[int, int]:
    """dot1dBasePortIfIndex: bridge port -> ifIndex."""
    return {
        port: integer(value, "dot1dBasePortIfIndex", (port,))
        for port, value in _by_ifindex(walked, oids.BASE_PORT_IFINDEX, "dot1dBasePort").items()
    }


def _vlan_lists(walked: Walked, column: str) -> dict[int, list[int]]:
    """VLAN id -> bridge ports of one PortList column (current: TimeMark.VlanIndex)."""
    lists: dict[int, list[int]] = {}
    for index, value in walked.column(column).items():
        if not index or len(index) > 2:
            raise DecodeError(f"{column}: index {'.'.join(map(str, index))} is not a VLAN")
        vlan = index[-1]
        where = f"{column}.{'.'.join(map(str, index))}"
        try:
            lists.setdefault(vlan, []).extend(decode_portlist(octets(value, column, index)))
        except DecodeError as exc:
            raise DecodeError(f"{where}: {exc}") from None
    return lists


def _qbridge_ports(walked: Walked) -> tuple[PortVlans, ...]:
    """Egress and untagged port lists per VLAN (current where the agent has them, else
    static), each bridge port put on its ifIndex; dot1qPvid is the native VLAN."""
    egress_col, untagged_col = oids.QB_CURRENT_EGRESS, oids.QB_CURRENT_UNTAGGED
    if not walked.column(egress_col):
        egress_col, untagged_col = oids.QB_STATIC_EGRESS, oids.QB_STATIC_UNTAGGED
    egress = _vlan_lists(walked, egress_col)
    if not egress:
        return ()
    untagged = _vlan_lists(walked, untagged_col)
    ports = bridge_port_map(walked)
    carried: dict[int, set[int]] = {}
    plain: dict[int, set[int]] = {}
    for target, lists in ((carried, egress), (plain, untagged)):
        for vlan, members in lists.items():
            for port in members:
                if port in ports and 1 <= vlan <= 4094:  # bits past the last port mean nothing
                    target.setdefault(ports[port], set()).add(vlan)
    pvids = _pvids(walked, ports)
    return tuple(
        _qbridge_port(ifindex, carried[ifindex], plain.get(ifindex, set()), pvids.get(ifindex))
        for ifindex in sorted(carried)
    )


def _pvids(walked: Walked, ports: Mapping[int, int]) -> dict[int, int]:
    found = {}
    for port, value in _by_ifindex(walked, oids.QB_PVID, "dot1qPvid").items():
        pvid = integer(value, "dot1qPvid", (port,), Kind.GAUGE32, Kind.INTEGER)
        if port in ports:
            found[ports[port]] = pvid
    return found


def _qbridge_port(ifindex: int, vlans: set[int], untagged: set[int], pvid: int | None) -> PortVlans:
    tagged = vlans - untagged
    native = pvid if pvid is not None else (min(untagged) if len(untagged) == 1 else None)
    mode = "trunk" if tagged or len(vlans) > 1 else "access"
    return PortVlans(ifindex, mode, frozenset(vlans), native, "q-bridge")


def decode_stack(walked: Walked) -> dict[int, int]:
    """ifStackTable: lower layer -> higher layer (a LAG member -> its port-channel), where
    both are interfaces (0 stands for "nothing above/below")."""
    upper: dict[int, int] = {}
    for index in walked.column(oids.IF_STACK_STATUS):
        if len(index) != 2:
            raise DecodeError(f"ifStackStatus: index {'.'.join(map(str, index))} is not two")
        higher, lower = index
        if higher and lower:
            upper.setdefault(lower, higher)
    return upper


# --- LLDP ---------------------------------------------------------------------------------

CHASSIS_MAC, PORT_MAC = 4, 3  # lldpChassisIdSubtype macAddress(4), lldpPortIdSubtype macAddress(3)
CHASSIS_NETWORK, PORT_NETWORK = 5, 4  # networkAddress: IANA family byte, then the address


def identifier(raw: bytes, subtype: int | None, mac: int, network: int) -> str:
    """An LLDP chassis or port id as an operator writes it: a MAC with colons, an IPv4 address
    dotted, anything else as text (hex where it is not printable)."""
    if subtype == mac and len(raw) == 6:
        return mac_text(raw)
    if subtype == network and len(raw) == 5 and raw[0] == 1:
        return ".".join(str(b) for b in raw[1:])
    return printable_or_hex(raw)


def decode_neighbours(walked: Walked, interfaces: tuple[Interface, ...]) -> tuple[Neighbour, ...]:
    """One Neighbour per row of lldpRemTable, on the interface its local port is."""
    local = local_port_ifindex(walked, interfaces)
    rows: dict[Index, dict[str, Value]] = {}
    for column in (
        oids.LLDP_REM_CHASSIS_SUBTYPE,
        oids.LLDP_REM_CHASSIS_ID,
        oids.LLDP_REM_PORT_SUBTYPE,
        oids.LLDP_REM_PORT_ID,
        oids.LLDP_REM_PORT_DESC,
        oids.LLDP_REM_SYS_NAME,
    ):
        for index, value in walked.column(column).items():
            if len(index) != 3:
                raise DecodeError(
                    f"{column}: index {'.'.join(map(str, index))} is not "
                    "TimeMark.LocalPortNum.Index"
                )
            rows.setdefault(index, {})[column] = value
    return tuple(
        _neighbour(index, row, local) for index, row in sorted(rows.items(), key=lambda r: r[0][1:])
    )


def _row_text(row: Mapping[str, Value], column: str, index: Index) -> bytes:
    value = row.get(column)
    return b"" if value is None else octets(value, column, index)


def _row_int(row: Mapping[str, Value], column: str, index: Index) -> int | None:
    value = row.get(column)
    return None if value is None else integer(value, column, index)


def _neighbour(index: Index, row: Mapping[str, Value], local: Mapping[int, int]) -> Neighbour:
    chassis_type = _row_int(row, oids.LLDP_REM_CHASSIS_SUBTYPE, index)
    port_type = _row_int(row, oids.LLDP_REM_PORT_SUBTYPE, index)
    chassis = _row_text(row, oids.LLDP_REM_CHASSIS_ID, index)
    port = _row_text(row, oids.LLDP_REM_PORT_ID, index)
    return Neighbour(
        ifindex=local.get(index[1]),
        local_port=index[1],
        remote_system=printable_or_hex(_row_text(row, oids.LLDP_REM_SYS_NAME, index)),
        remote_chassis=identifier(chassis, chassis_type, CHASSIS_MAC, CHASSIS_NETWORK),
        remote_port=identifier(port, port_type, PORT_MAC, PORT_NETWORK),
        remote_port_description=printable_or_hex(_row_text(row, oids.LLDP_REM_PORT_DESC, index)),
    )


def local_port_ifindex(walked: Walked, interfaces: tuple[Interface, ...]) -> dict[int, int]:
    """lldpLocPortNum -> ifIndex. The port number is not the ifIndex on many switches: match
    lldpLocPortId, then lldpLocPortDesc, against ifName and ifDescr (where one interface alone
    has that name); then the bridge port map; then the number itself where it is an ifIndex."""
    by_label = _unique_labels(interfaces)
    bridge = bridge_port_map(walked)
    known = {i.ifindex for i in interfaces}
    ids = _by_ifindex(walked, oids.LLDP_LOC_PORT_ID, "lldpLocPortId")
    descs = _by_ifindex(walked, oids.LLDP_LOC_PORT_DESC, "lldpLocPortDesc")
    mapping = {}
    for port in sorted(set(ids) | set(descs) | set(_remote_local_ports(walked))):
        found = _match_label(ids.get(port), by_label) or _match_label(descs.get(port), by_label)
        if found is None:
            found = bridge.get(port) if port in bridge else (port if port in known else None)
        if found is not None:
            mapping[port] = found
    return mapping


def _remote_local_ports(walked: Walked) -> set[int]:
    return {i[1] for i in walked.column(oids.LLDP_REM_SYS_NAME) if len(i) == 3} | {
        i[1] for i in walked.column(oids.LLDP_REM_PORT_ID) if len(i) == 3
    }


def _unique_labels(interfaces: tuple[Interface, ...]) -> dict[str, int]:
    seen: dict[str, set[int]] = {}
    for interface in interfaces:
        for label in {interface.name, interface.descr}:
            if label:
                seen.setdefault(label, set()).add(interface.ifindex)
    return {label: next(iter(found)) for label, found in seen.items() if len(found) == 1}


def _match_label(value: Value | None, by_label: Mapping[str, int]) -> int | None:
    if value is None or value.kind is not Kind.OCTETS or not isinstance(value.data, bytes):
        return None
    return by_label.get(value.data.decode("utf-8", "backslashreplace").rstrip("\x00"))
