"""switch verify's judgement: per hypervisor NIC, what is wrong with its trunk."""

from __future__ import annotations

from stackwatch.core.result import Status
from stackwatch.switch.device import DeviceFacts
from stackwatch.switch.inventory import parse_inventory
from stackwatch.switch.tables import Interface, Neighbour, PortVlans
from stackwatch.switch.verify import judge_inventory

INVENTORY = parse_inventory(
    """\
devices:
  tor1: {address: 192.0.2.1, community_file: c}
roles:
  compute:
    em1: {vlans: "15,100-102", native: 15}
hypervisors:
  cmp1: {role: compute}
  cmp2: {role: compute}
known_neighbours: [spine1]
""",
    "inv.yaml",
)


def device(
    vlans: dict[int, PortVlans], neighbours: list[Neighbour], oper: str = "up"
) -> DeviceFacts:
    interfaces = tuple(Interface(i, f"Gi0/{i}", oper=oper) for i in (1, 2, 3))
    return DeviceFacts(
        "tor1", interfaces=interfaces, vlans=tuple(vlans.values()), neighbours=tuple(neighbours)
    )


def lldp(ifindex: int, system: str, port: str = "aa:bb", desc: str = "em1") -> Neighbour:
    return Neighbour(ifindex, ifindex, system, "00:11:22:33:44:55", port, desc)


def trunk(ifindex: int, vlans: set[int], native: int = 15, unknown: tuple = ()) -> PortVlans:
    return PortVlans(ifindex, "trunk", frozenset(vlans), native, "vtp", unknown)


GOOD = {15, 100, 101, 102}


def test_all_well() -> None:
    facts = device(
        {1: trunk(1, GOOD), 2: trunk(2, GOOD)},
        [lldp(1, "cmp1.example.org"), lldp(2, "CMP2", "em1", "")],
    )
    result = judge_inventory(INVENTORY, [facts])
    assert result.status is Status.OK, result.summary
    assert result.summary == "2 ports carry what the inventory says, on 1 switches"


def test_missing_extra_and_native() -> None:
    facts = device(
        {1: trunk(1, {15, 100, 200}), 2: trunk(2, GOOD, native=1)},
        [lldp(1, "cmp1"), lldp(2, "cmp2")],
    )
    result = judge_inventory(INVENTORY, [facts])
    assert result.status is Status.CRITICAL
    assert "cmp1 em1 (tor1 Gi0/1): VLANs missing 101-102" in result.summary
    assert "cmp1 em1 (tor1 Gi0/1): VLANs extra 200" in result.summary
    assert "cmp2 em1 (tor1 Gi0/2): native VLAN 1, expected 15" in result.summary


def test_link_down_and_no_neighbour() -> None:
    facts = device({1: trunk(1, GOOD)}, [lldp(1, "cmp1")], oper="down")
    result = judge_inventory(INVENTORY, [facts])
    assert "cmp1 em1 (tor1 Gi0/1): link down" in result.summary
    assert "cmp2 em1: no neighbour seen" in result.summary
    assert result.status is Status.CRITICAL


def test_unknown_neighbour_is_a_warning_known_one_is_not() -> None:
    facts = device(
        {1: trunk(1, GOOD), 2: trunk(2, GOOD)},
        [lldp(1, "cmp1"), lldp(2, "cmp2"), lldp(3, "rogue", "p1"), lldp(3, "spine1")],
    )
    result = judge_inventory(INVENTORY, [facts])
    assert result.status is Status.WARNING
    assert result.summary == "tor1: unknown neighbour Gi0/3 rogue"
    assert "tor1 Gi0/3: unknown neighbour rogue port p1" in result.details


def test_truncated_bitmap_is_unknown_not_missing() -> None:
    facts = device(
        {1: trunk(1, {15}, unknown=((100, 4095),)), 2: trunk(2, GOOD)},
        [lldp(1, "cmp1"), lldp(2, "cmp2")],
    )
    result = judge_inventory(INVENTORY, [facts])
    assert result.status is Status.UNKNOWN
    assert "VLANs 100-102 not reported by the switch (truncated bitmap)" in result.summary
    assert "missing" not in result.summary


def test_unreadable_device_is_unknown_with_reason() -> None:
    result = judge_inventory(INVENTORY, [DeviceFacts("tor1", "no answer (timeout)")])
    assert result.status is Status.UNKNOWN
    assert result.summary.startswith("tor1: no answer (timeout)")


def test_the_hypervisors_lldpd_ties_a_nic_where_the_switch_publishes_no_lldp() -> None:
    from stackwatch.switch.lldpctl import Uplink

    facts = device({1: trunk(1, GOOD), 2: trunk(2, {15})}, [])
    facts = DeviceFacts(
        "tor1", system="TOR1.example.net", interfaces=facts.interfaces, vlans=facts.vlans
    )
    uplinks = {
        "cmp1": (Uplink("em1", "tor1.example.net", "aa", "Gi0/1", ""),),
        "cmp2.example.net": (Uplink("em1", "tor1", "aa", "xx", "Gi0/2"),),
    }
    result = judge_inventory(INVENTORY, [facts], uplinks)
    assert result.summary == "cmp2 em1 (tor1 Gi0/2): VLANs missing 100-102"
    assert "cmp1 em1 (tor1 Gi0/1): carries 15,100-102 native 15: OK" in result.details


def test_unreadable_lldpctl_files_are_unknown() -> None:
    result = judge_inventory(INVENTORY, [], {}, ["/x/cmp1.json: lldpctl JSON: not JSON"])
    assert result.status is Status.UNKNOWN
    assert result.summary.startswith("/x/cmp1.json: lldpctl JSON: not JSON")
