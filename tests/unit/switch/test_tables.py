"""Decoding the real switch recordings (../shared/realdata/snmp) into ports, VLANs and LLDP
neighbours. Every expected value was read by hand from the .snmprec lines quoted beside it."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from stackwatch.switch import oids
from stackwatch.switch.octets import DecodeError
from stackwatch.switch.tables import (
    decode_interfaces,
    decode_neighbours,
    decode_port_vlans,
    local_port_ifindex,
)
from stackwatch.switch.values import Kind, Value, Walked
from tests.unit.switch.snmprec import read_snmprec, walked_from

ALL = (*oids.PORT_COLUMNS, *oids.VLAN_COLUMNS, *oids.VTP_TRUNK_DETAILS, *oids.LLDP_COLUMNS)


@cache
def _records(path: Path) -> dict[str, Value]:
    return read_snmprec(path)


def walked(realdata: Path, name: str) -> Walked:
    return walked_from(_records(realdata / "snmp" / f"{name}.snmprec"), ALL, (oids.SYS_UPTIME,))


def test_cisco_vtp_trunks(realdata: Path) -> None:
    w = walked(realdata, "cisco-c3560")
    ports = {p.ifindex: p for p in decode_port_vlans(w)}
    # ...46.1.6.1.1.14.10149|2|1 (trunking), .4.10149|4x|20 00.. (0x20: bit 2 -> VLAN 2),
    # .5.10149|2|1 (native 1), .17/.18/.19.10149|4| (empty: VLANs 1024-4095 not said)
    trunk = ports[10149]
    assert (trunk.mode, trunk.vlans, trunk.native, trunk.source) == ("trunk", {2}, 1, "vtp")
    assert trunk.unknown == ((1024, 4095),)
    # .4.10152|4x|30 00..: 0011 0000 -> VLANs 2 and 3
    assert ports[10152].vlans == {2, 3}
    # three rows have DynamicStatus trunking(1); the other 49 are access ports by vmVlan
    assert sorted(p.ifindex for p in ports.values() if p.mode == "trunk") == [10149, 10151, 10152]
    # ...68.1.2.2.1.2.10101|2|3 -> access port in VLAN 3
    access = ports[10101]
    assert (access.mode, access.vlans, access.native, access.source) == (
        "access",
        {3},
        3,
        "vlan-membership",
    )


def test_cisco_interface_names(realdata: Path) -> None:
    interfaces = {i.ifindex: i for i in decode_interfaces(walked(realdata, "cisco-c3560"))}
    # 31.1.1.1.1.10149|4x|4769302f3439 = "Gi0/49"; 2.2.1.2.10101 = "GigabitEthernet0/1"
    assert interfaces[10149].name == "Gi0/49"
    assert interfaces[10101].descr == "GigabitEthernet0/1"


def test_hpe_qbridge_current_table(realdata: Path) -> None:
    ports = {p.ifindex: p for p in decode_port_vlans(walked(realdata, "hpe-procurve-516733-b21"))}
    # dot1qVlanCurrentEgressPorts (17.7.1.4.2.1.4.0.VLAN), bridge port n = ifIndex n
    # (17.1.4.1.2.n|2|n): port 1 is in e1.. (1110 0001) of VLANs 50, 52, 70, 77, 78 and in
    # f9.. (1111 1001) of 53 and 71; not in VLAN 1 (06 = 0000 0110); untagged nowhere;
    # dot1qPvid.1 = 1
    assert ports[1].vlans == {50, 52, 53, 70, 71, 77, 78}
    assert (ports[1].mode, ports[1].native, ports[1].source) == ("trunk", 1, "q-bridge")
    # port 13: only VLAN 50 (eb = 1110 1011, bit 5 of byte 2), untagged there (00 08),
    # dot1qPvid.13|66|50 -> an access port of VLAN 50
    assert (ports[13].mode, ports[13].vlans, ports[13].native) == ("access", {50}, 50)


def test_edgecore_qbridge_and_lldp_through_bridge_ports(realdata: Path) -> None:
    w = walked(realdata, "librenms-edgecos_ecs4610-24f")
    interfaces = decode_interfaces(w)
    neighbours = decode_neighbours(w, interfaces)
    # lldpLocPortId.1 is a MAC (7072CF66BF11), so port 1 is placed through
    # dot1dBasePortIfIndex.1|2|1 on ifIndex 1 ("Port1")
    first = next(n for n in neighbours if n.local_port == 1)
    assert first.ifindex == 1
    # 4.1.1.9.0.1.16 "cementnikiv12-1-1", .5 (subtype 4, MAC) 7072CF8AC513,
    # .7 (subtype 3, MAC) 7072CF8AC52C, .8 "Ethernet Port on unit 1, port 25"
    assert first.remote_system == "cementnikiv12-1-1"
    assert first.remote_chassis == "70:72:cf:8a:c5:13"
    assert first.remote_port == "70:72:cf:8a:c5:2c"
    assert first.remote_port_description == "Ethernet Port on unit 1, port 25"
    assert len(neighbours) == 21  # 21 rows of lldpRemSysName in the recording


def test_arista_lldp_by_local_port_id(realdata: Path) -> None:
    w = walked(realdata, "arista-dcs-7150s-52-cl")
    neighbours = decode_neighbours(w, decode_interfaces(w))
    # 3.7.1.3.47|4|Ethernet47 = ifName.47; remote 4.1.1.7.0.47.2 "Ethernet23" (subtype 5),
    # sysName 5a4a2d...= "ZJ-BP-Bak-Arista", chassis (subtype 4) 444ca8313edf
    assert [(n.ifindex, n.remote_port) for n in neighbours] == [
        (47, "Ethernet23"),
        (48, "Ethernet24"),
    ]
    assert neighbours[0].remote_system == "ZJ-BP-Bak-Arista"
    assert neighbours[0].remote_chassis == "44:4c:a8:31:3e:df"


def test_hpe_local_chassis_subtype_is_text(realdata: Path) -> None:
    w = walked(realdata, "hpe-procurve-516733-b21")
    neighbours = decode_neighbours(w, decode_interfaces(w))
    # 4.1.1.7.0.17.2|4x|45746865726e6574312f3139: subtype 7 (local) -> "Ethernet1/19"
    row = next(n for n in neighbours if n.local_port == 17 and n.remote_port == "Ethernet1/19")
    assert row.ifindex == 17


def test_edgecore_interface_counters(realdata: Path) -> None:
    interfaces = {
        i.ifindex: i for i in decode_interfaces(walked(realdata, "librenms-edgecos_ecs4610-24f"))
    }
    port = interfaces[1]
    # 31.1.1.1.6.1|70|382231344675, 31.1.1.1.15.1|66|1000, 2.2.1.8.1|2|1, 18.1 "cementnikiv12-1-1"
    assert port.counters["in_octets"] == 382231344675
    assert (port.speed_mbps, port.oper, port.admin_up) == (1000, "up", True)
    assert port.alias == "cementnikiv12-1-1"


def _w(columns: dict[str, dict[tuple[int, ...], Value]]) -> Walked:
    return Walked(columns, {})


def octets(data: bytes) -> Value:
    return Value(Kind.OCTETS, data)


def test_lldp_local_port_number_is_not_the_ifindex() -> None:
    # a switch numbering LLDP ports 1.. while its ifIndexes are 1001..; the names tie them
    w = _w(
        {
            oids.IF_NAME: {(1001,): octets(b"xe-0/0/1"), (1002,): octets(b"xe-0/0/2")},
            oids.LLDP_LOC_PORT_ID: {(1,): octets(b"xe-0/0/2"), (2,): octets(b"xe-0/0/1")},
            oids.LLDP_REM_SYS_NAME: {(0, 1, 1): octets(b"cmp001")},
        }
    )
    interfaces = decode_interfaces(w)
    assert local_port_ifindex(w, interfaces) == {1: 1002, 2: 1001}
    assert decode_neighbours(w, interfaces)[0].ifindex == 1002


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        (oids.IF_HIGH_SPEED, octets(b"fast"), "OCTET STRING where Gauge32"),
        (oids.IF_NAME, Value(Kind.INTEGER, 5), "INTEGER where OCTET STRING"),
        (oids.IF_HC_IN_OCTETS, Value(Kind.COUNTER32, 5), "Counter32 where Counter64"),
        (oids.IF_OPER, Value(Kind.INTEGER, 1 << 40), "out of range"),
    ],
)
def test_wrong_types_name_the_object(column: str, value: Value, message: str) -> None:
    w = _w({oids.IF_DESCR: {(7,): octets(b"eth7")}, column: {(7,): value}})
    with pytest.raises(DecodeError, match=message):
        decode_interfaces(w)


def test_oversized_vtp_bitmap_names_the_port() -> None:
    w = _w(
        {
            oids.VTP_DYNAMIC_STATUS: {(5,): Value(Kind.INTEGER, 1)},
            oids.VTP_VLANS_ENABLED: {(5,): octets(bytes(200))},
        }
    )
    with pytest.raises(DecodeError, match=r"vlanTrunkPortVlansEnabled\.5: .*200 bytes"):
        decode_port_vlans(w)


def test_qbridge_portlist_as_hex_text() -> None:
    # an agent sending PortLists as text: "40 00" = bridge port 2, which is ifIndex 12
    w = _w(
        {
            oids.BASE_PORT_IFINDEX: {(2,): Value(Kind.INTEGER, 12)},
            oids.QB_STATIC_EGRESS: {(100,): octets(b"40 00"), (200,): octets(b"40 00")},
            oids.QB_STATIC_UNTAGGED: {(100,): octets(b"40 00")},
            oids.QB_PVID: {(2,): Value(Kind.GAUGE32, 100)},
        }
    )
    (port,) = decode_port_vlans(w)
    assert (port.ifindex, port.vlans, port.native, port.mode) == (12, {100, 200}, 100, "trunk")


def test_bad_index_is_refused() -> None:
    w = _w({oids.IF_NAME: {(1, 2): octets(b"x")}})
    with pytest.raises(DecodeError, match="not one number"):
        decode_interfaces(w)


def test_verify_walks_only_what_this_switch_has_and_uses() -> None:
    from stackwatch.switch.device import QB_TABLES, worth_walking

    cisco = frozenset(
        {oids.IF_NAME, oids.VTP_DYNAMIC_STATUS, oids.VM_VLAN, *oids.LLDP_LOCAL_COLUMNS}
    )
    # no LLDP neighbours: the local port table is not walked on
    assert worth_walking(cisco) == {oids.IF_NAME, oids.VTP_DYNAMIC_STATUS, oids.VM_VLAN}
    both = frozenset({oids.IF_NAME, *QB_TABLES, oids.BASE_PORT_IFINDEX})
    kept = worth_walking(both)
    assert oids.QB_STATIC_EGRESS not in kept and oids.QB_STATIC_UNTAGGED not in kept
    assert {oids.QB_CURRENT_EGRESS, oids.QB_PVID, oids.BASE_PORT_IFINDEX} <= kept
    static_only = both - {oids.QB_CURRENT_EGRESS, oids.QB_CURRENT_UNTAGGED}
    assert oids.QB_STATIC_EGRESS in worth_walking(static_only)
    lonely = frozenset({oids.IF_NAME, oids.BASE_PORT_IFINDEX})
    assert worth_walking(lonely) == {oids.IF_NAME}  # the bridge map serves nothing here


def test_trunk_details_are_those_of_trunking_ports(realdata: Path) -> None:
    from stackwatch.switch.device import trunk_details

    w = walked(realdata, "cisco-c3560")
    wanted = trunk_details(w.columns)
    # ...46.1.6.1.1.14.IFINDEX|2|1 (trunking) for 10149, 10151, 10152 only; the others |2|2
    assert set(wanted) == set(oids.VTP_TRUNK_DETAILS)
    assert wanted[oids.VTP_VLANS_ENABLED] == {(10149,), (10151,), (10152,)}
    assert trunk_details({oids.VTP_DYNAMIC_STATUS: {(1,): Value(Kind.INTEGER, 2)}}) == {}
