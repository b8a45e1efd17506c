"""live.py and plan.py on OVSDB replies recorded from a real switch
(tests/integration/ovs/capture_replies.py wrote tests/fixtures/ovs/replies/)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stackwatch.ovs.layout import dump_layout, load_layout, parse_layout
from stackwatch.ovs.live import ADDRESS_KEY, LiveSwitch, live_to_layout, parse_live
from stackwatch.ovs.ovsdb import OvsdbError
from stackwatch.ovs.plan import plan_layout, verify_differences

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ovs"
REPLIES = FIXTURES / "replies"
CLASSIC = load_layout(str(FIXTURES / "openstack-compute.yaml"))


def reply(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((REPLIES / f"{name}.json").read_text())
    return data


def live(name: str) -> LiveSwitch:
    return parse_live(reply(name))


# live.py ----------------------------------------------------------------------------------------


def test_parse_empty_switch() -> None:
    switch = live("empty")
    assert switch.bridges == () and switch.bridge_uuids == ()
    assert switch.root_uuid == reply("empty")["Open_vSwitch"][0]["_uuid"][1]


def test_parse_classic_switch() -> None:
    switch = live("classic")
    assert [b.name for b in switch.bridges] == ["br-ex", "br-int", "br-tun"]
    br_ex = switch.bridge("br-ex")
    assert br_ex is not None and br_ex.managed
    assert br_ex.datapath_type == "netdev" and br_ex.fail_mode is None
    assert br_ex.other_config == {"hwaddr": "52:54:00:00:00:01"}
    # the bridge's own local port is live but not a user port
    assert [p.name for p in br_ex.ports] == ["bond0", "br-ex", "mgmt"]
    assert [p.name for p in br_ex.user_ports] == ["bond0", "mgmt"]
    bond, mgmt = br_ex.user_ports
    assert [i.name for i in bond.interfaces] == ["em1", "em2"]
    assert (bond.bond_mode, bond.lacp, bond.tag) == ("balance-slb", "off", None)
    assert mgmt.tag == 15 and mgmt.interfaces[0].type == "internal"
    assert mgmt.external_ids[ADDRESS_KEY] == "10.0.15.11/24"
    tun = switch.bridge("br-tun")
    assert tun is not None and tun.fail_mode == "secure"
    vxlan = next(p for p in tun.user_ports if p.name == "vxlan-0a000002")
    assert vxlan.interfaces[0].options == {"key": "flow", "remote_ip": "10.0.0.2"}


def test_live_layout_is_the_declared_one_and_round_trips() -> None:
    exported = live_to_layout(live("classic"))
    assert {b.name: [p.name for p in b.ports] for b in exported.bridges} == {
        "br-ex": ["bond0", "mgmt"],
        "br-int": ["patch-tun"],
        "br-tun": ["patch-int", "vxlan-0a000002"],
    }
    mgmt = exported.bridges[0].ports[1]
    assert (mgmt.type, mgmt.tag, mgmt.address) == ("internal", 15, "10.0.15.11/24")
    # the exported layout, written and read back, plans nothing against the same switch
    again = parse_layout(dump_layout(exported), "exported")
    plan = plan_layout(again, live("classic"))
    assert plan.empty and plan.notes == [] and plan.operations == []


# plan.py ----------------------------------------------------------------------------------------


def test_classic_against_empty_is_one_transaction_of_inserts() -> None:
    plan = plan_layout(CLASSIC, live("empty"))
    assert [str(c) for c in plan.changes][:2] == [
        "+ bridge br-int: 1 ports; fail_mode secure; datapath netdev",
        "+ port br-int/patch-tun: patch, peer=patch-int",
    ]
    assert len(plan.changes) == 8  # 3 bridges, 5 ports
    kinds = [op["op"] for op in plan.operations]
    assert kinds[-4:] == ["wait", "mutate", "mutate", "comment"]
    inserts = [op for op in plan.operations if op["op"] == "insert"]
    tables = [op["table"] for op in inserts]
    # 6 interfaces of 5 ports, and 3 bridge-local ports with their interfaces
    assert tables.count("Bridge") == 3 and tables.count("Port") == 8
    assert tables.count("Interface") == 9
    assert all(["stackwatch-managed", "true"] in op["row"]["external_ids"][1] for op in inserts)
    mgmt = next(op for op in inserts if op["row"].get("name") == "mgmt" and op["table"] == "Port")
    assert mgmt["row"]["tag"] == ["set", [15]]
    assert [ADDRESS_KEY, "10.0.15.11/24"] in mgmt["row"]["external_ids"][1]
    # the wait guards the bridges read: the root row had none
    wait = next(op for op in plan.operations if op["op"] == "wait")
    assert wait["table"] == "Open_vSwitch" and wait["rows"] == [{"bridges": ["set", []]}]


def test_classic_against_itself_plans_nothing() -> None:
    plan = plan_layout(CLASSIC, live("classic"))
    assert plan.empty and plan.operations == [] and plan.notes == []
    assert verify_differences(CLASSIC, live("classic")) == []


def test_drift_is_listed_and_repaired_without_touching_hand_made_ports() -> None:
    drifted = live("classic-drifted")
    assert verify_differences(CLASSIC, drifted) == [
        "~ bridge br-tun: fail_mode standalone -> secure",
        "~ port br-ex/mgmt: tag 20 -> 15",
        "port br-int/tapdead: not in the layout and not created by stackwatch; left alone",
    ]
    plan = plan_layout(CLASSIC, drifted, prune=True)
    updates = {
        (op["table"], json.dumps(op["row"], sort_keys=True))
        for op in plan.operations
        if op["op"] == "update"
    }
    assert any(t == "Bridge" and '"fail_mode": ["set", ["secure"]]' in r for t, r in updates)
    assert any(t == "Port" and '"tag": ["set", [15]]' in r for t, r in updates)
    # nothing removed: the hand-made port is not stackwatch's, even with prune
    assert not any(
        op["op"] == "mutate" and op["mutations"][0][1] == "delete" for op in plan.operations
    )


def test_undeclared_managed_port_is_removed_only_with_prune() -> None:
    smaller = parse_layout(
        (FIXTURES / "openstack-compute.yaml")
        .read_text()
        .replace(
            "      vxlan-0a000002: {type: vxlan, options: {remote_ip: 10.0.0.2, key: flow}}\n", ""
        )
    )
    plan = plan_layout(smaller, live("classic"))
    assert plan.empty
    assert plan.notes == [
        "port br-tun/vxlan-0a000002: no longer declared; apply --prune removes it"
    ]
    pruned = plan_layout(smaller, live("classic"), prune=True)
    assert [str(c) for c in pruned.changes] == ["- port br-tun/vxlan-0a000002: no longer declared"]
    ops = pruned.operations
    wait = next(op for op in ops if op["op"] == "wait")
    delete = next(op for op in ops if op["op"] == "mutate" and op["table"] == "Bridge")
    # the removal is guarded by the bridge's ports as read, and comes after the guard
    assert ops.index(wait) < ops.index(delete)
    assert delete["mutations"][0][1] == "delete"
    tun = live("classic").bridge("br-tun")
    assert tun is not None
    vxlan = next(p for p in tun.ports if p.name == "vxlan-0a000002")
    assert delete["mutations"][0][2] == ["set", [["uuid", vxlan.uuid]]]


def test_port_moved_to_another_bridge() -> None:
    text = (FIXTURES / "openstack-compute.yaml").read_text()
    text = text.replace("      mgmt: {type: internal, tag: 15, address: 10.0.15.11/24}\n", "")
    text = text.replace(
        "      patch-tun: {type: patch, peer: patch-int}\n",
        "      patch-tun: {type: patch, peer: patch-int}\n      mgmt: {type: internal, tag: 15}\n",
    )
    moved = parse_layout(text)
    changes = [str(c) for c in plan_layout(moved, live("classic")).changes]
    assert "- port br-ex/mgmt: moves to bridge br-int" in changes
    assert "+ port br-int/mgmt: internal, tag 15" in changes


def test_bond_members_changed() -> None:
    text = (FIXTURES / "openstack-compute.yaml").read_text().replace("[em1, em2]", "[em1, em3]")
    plan = plan_layout(parse_layout(text), live("classic"))
    assert [str(c) for c in plan.changes] == ["~ port br-ex/bond0: members em1,em2 -> em1,em3"]
    port_update = next(op for op in plan.operations if op["op"] == "update")
    refs = port_update["row"]["interfaces"][1]
    # em1 is kept (its row referenced), em3 is a new row
    assert ["named-uuid", "row1"] in refs and sum(r[0] == "uuid" for r in refs) == 1


# Garbled replies: a clear OvsdbError, never another exception ------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
ovsdb_like = st.recursive(
    json_values,
    lambda inner: (
        st.tuples(st.sampled_from(["set", "map", "uuid", "named-uuid"]), inner).map(list)
        | st.lists(inner, max_size=3)
    ),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _paths(item, (*prefix, i))
    return found


CLASSIC_REPLY = reply("classic")
CLASSIC_PATHS = _paths(CLASSIC_REPLY)[1:]


def _parse_or_clear_error(tables: Any) -> None:
    try:
        switch = parse_live(tables)
    except OvsdbError as exc:
        assert str(exc)
        return
    # whatever parsed is usable: planning against it does not crash either
    plan_layout(CLASSIC, switch, prune=True)
    live_to_layout(switch)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(CLASSIC_PATHS), ovsdb_like)
def test_recorded_reply_with_one_value_garbled(path: tuple[Any, ...], value: Any) -> None:
    tables = copy.deepcopy(CLASSIC_REPLY)
    target = tables
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    _parse_or_clear_error(tables)


@settings(max_examples=300)
@given(
    st.dictionaries(
        st.sampled_from(["Open_vSwitch", "Bridge", "Port", "Interface", "x"]),
        st.lists(
            st.dictionaries(
                st.sampled_from(
                    [
                        "_uuid",
                        "name",
                        "ports",
                        "interfaces",
                        "bridges",
                        "tag",
                        "trunks",
                        "type",
                        "options",
                        "error",
                    ]
                ),
                ovsdb_like,
                max_size=5,
            ),
            max_size=3,
        )
        | ovsdb_like,
    )
    | ovsdb_like
)
def test_arbitrary_reply_shapes(tables: Any) -> None:
    _parse_or_clear_error(tables)


def test_garbled_reply_names_table_and_row() -> None:
    tables = reply("classic")
    tables["Port"][2]["tag"] = "fifteen"
    with pytest.raises(
        OvsdbError, match=r"malformed OVSDB reply: Port row 3: tag: expected an integer"
    ):
        parse_live(tables)
