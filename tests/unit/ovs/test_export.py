"""ovs export writes only layouts that ovs plan accepts, whatever OVSDB holds: hostile names and
values (a tenant's port name, external_ids anyone can set, a lying server) are either written so
that they read back the same, or left out with the reason, never written into a file that plan
refuses."""

from __future__ import annotations

import copy
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stackwatch.ovs.export import export_layout
from stackwatch.ovs.layout import PORT_TYPES, VLAN_MODES, load_layout, parse_layout
from stackwatch.ovs.live import (
    ADDRESS_KEY,
    MANAGED_KEY,
    LiveBridge,
    LiveInterface,
    LivePort,
    LiveSwitch,
    parse_live,
)
from stackwatch.ovs.ovsdb import OvsdbError
from stackwatch.ovs.plan import plan_layout
from tests.conftest import run_stackwatch
from tests.unit.ovs.test_live_plan import _paths, reply

sys.path.insert(0, str(Path(__file__).parent))
from fakeovsdb import FakeOvsdb

# names an operator gives, and names anyone who can create a port could give
plain_names = st.sampled_from(["br-int", "br-ex", "tap1", "em1", "em2", "vxlan-1", "p", "qvo1a2b"])
yaml_special = st.sampled_from(
    ["null", "true", "off", "~", "- x", "[a]", "*a", "&a", "!t", "'q", '"q', "#c", "a: b", "<<",
     "1e3", "0x10", "12", "", ".", "..", "a/b", "a b", "x\ny", "\x1b[31m", "a:b", "é" * 9,
     "\udcff\udcfe", "\u2028", "\ufeffx", "verylongportname0123456789", "%"]
)  # fmt: skip
hostile_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
names = st.one_of(plain_names, plain_names, yaml_special, hostile_text)
values = st.one_of(
    st.sampled_from(["10.0.0.2", "flow", "52:54:00:00:00:01", "1"]), yaml_special, hostile_text
)
text_maps = st.dictionaries(st.one_of(plain_names, yaml_special, hostile_text), values, max_size=3)
types = st.one_of(
    st.sampled_from(PORT_TYPES), st.sampled_from(["dpdkvhostuser", "afxdp", "", "x\n"])
)

uuids = iter(range(10**9))


def uuid() -> str:
    return f"00000000-0000-0000-0000-{next(uuids):012d}"


@st.composite
def ports(draw: st.DrawFn) -> LivePort:
    name = draw(names)
    count = draw(st.sampled_from([1, 1, 1, 2, 0, 3]))
    kind = draw(types)
    interfaces = tuple(
        LiveInterface(
            uuid(),
            name if count == 1 and draw(st.booleans() | st.just(True)) else draw(names),
            "system" if count > 1 and draw(st.booleans()) else kind,
            draw(
                st.just({})
                | text_maps
                | st.just({"remote_ip": "10.0.0.2"})
                | st.just({"peer": "p"})
            ),
        )
        for _ in range(count)
    )
    ids = draw(st.just({}) | text_maps)
    if draw(st.booleans()):
        ids[ADDRESS_KEY] = draw(
            st.sampled_from(["10.0.15.11/24", "fe80::1/64", "x", "10.0.0.1"]) | values
        )
    if draw(st.booleans()):
        ids[MANAGED_KEY] = "true"
    return LivePort(
        uuid(),
        name,
        tuple(sorted(interfaces, key=lambda i: i.name)),
        draw(st.none() | st.integers(-1, 4096)),
        tuple(sorted(draw(st.lists(st.integers(0, 4096), max_size=3)))),
        draw(st.none() | st.sampled_from(VLAN_MODES) | values),
        draw(st.none() | st.sampled_from(["active-backup", "balance-slb", "x"])),
        draw(st.none() | st.sampled_from(["active", "off", "x"])),
        draw(st.just({}) | text_maps),
        ids,
    )


@st.composite
def switches(draw: st.DrawFn) -> LiveSwitch:
    bridges = []
    for _ in range(draw(st.integers(0, 3))):
        bridge_ports = tuple(sorted(draw(st.lists(ports(), max_size=4)), key=lambda p: p.name))
        bridges.append(
            LiveBridge(
                uuid(),
                draw(names),
                bridge_ports,
                tuple(p.uuid for p in bridge_ports),
                draw(st.none() | st.sampled_from(["secure", "standalone", "x"])),
                draw(st.none() | st.sampled_from(["netdev", "dummy", "\n"])),
                draw(st.just({}) | text_maps),
                draw(st.just({}) | st.just({MANAGED_KEY: "true"})),
            )
        )
    bridges.sort(key=lambda b: b.name)
    return LiveSwitch(uuid(), tuple(b.uuid for b in bridges), tuple(bridges))


def assert_exports_what_plan_accepts(live: LiveSwitch) -> None:
    exported = export_layout(live)
    text = exported.text()
    layout = parse_layout(text, "exported")  # plan's own reader accepts the file
    # every object is in the file or left out, with a reason on one printable line
    written = {(b.name, p.name) for b in layout.bridges for p in b.ports}
    left = [str(item) for item in exported.left_out]
    for bridge in live.bridges:
        if layout.bridge(bridge.name) is None:
            assert any(item.startswith(f"bridge {bridge.name}") for item in left), bridge.name
            continue
        for port in bridge.user_ports:
            assert (bridge.name, port.name) in written or any(
                item.startswith(f"port {bridge.name}/{port.name}: ") for item in left
            ), (bridge.name, port.name)
    head = text.split("# exported by stackwatch ovs export\n", 1)[1]
    comments = [line for line in head.splitlines() if line.startswith("#")]
    assert len(comments) == len(left) + (1 if left else 0)
    assert all(line.isprintable() for line in comments)
    # what was written is the switch as it is: plan finds nothing to change
    plan = plan_layout(layout, live)
    assert plan.changes == [], [str(c) for c in plan.changes]


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(switches())
def test_export_of_any_switch_is_a_layout_plan_accepts(live: LiveSwitch) -> None:
    assert_exports_what_plan_accepts(live)


CLASSIC = reply("classic")


def _at(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        data = data[key]
    return data


STRINGS = [p for p in _paths(CLASSIC)[1:] if isinstance(_at(CLASSIC, p), str) and p[-1] != 0]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(st.tuples(st.sampled_from(STRINGS), names | values), min_size=1, max_size=3))
def test_export_of_the_recorded_switch_with_hostile_strings(
    changes: list[tuple[tuple[Any, ...], str]],
) -> None:
    tables = copy.deepcopy(CLASSIC)
    for path, value in changes:
        _at(tables, path[:-1])[path[-1]] = value
    try:
        live = parse_live(tables)
    except OvsdbError:
        return  # a uuid that is no longer one: refused when read, as a lying reply
    assert_exports_what_plan_accepts(live)


def test_recorded_switch_exports_whole() -> None:
    exported = export_layout(parse_live(reply("classic")))
    assert exported.left_out == ()
    assert exported.text().startswith("# exported by stackwatch ovs export\nbridges:\n")


def live_with(*user_ports: LivePort, bridge: str = "br-int") -> LiveSwitch:
    b = LiveBridge(uuid(), bridge, user_ports, tuple(p.uuid for p in user_ports))
    return LiveSwitch(uuid(), (b.uuid,), (b,))


def port(name: str, kind: str = "system", **fields: Any) -> LivePort:
    options = fields.pop("options", {})
    iface_names = fields.pop("interfaces", [name])
    ifaces = tuple(LiveInterface(uuid(), n, kind, options) for n in iface_names)
    return LivePort(uuid(), name, ifaces, **fields)


@pytest.mark.parametrize(
    ("live_port", "reason"),
    [
        (port("vhu1", "dpdkvhostuser"), "type: 'dpdkvhostuser' is not one of system, internal"),
        (port("tap 1"), "not a valid name"),
        (port("tap\x1b[2J"), "not a valid name (it holds a character that is not printable)"),
        (port("tapé\udcff"), "name holds bytes that are not UTF-8"),
        (port("tap0123456789abcdef"), "longer than 15 characters (the kernel's limit)"),
        (port("eth0:1"), "not a valid name for a network device (the kernel refuses ':')"),
        (port("p", tag=0), "tag: 0 is out of range 1-4094"),
        (port("p", bond_mode="balance-slb"), "bond_mode needs members (a bond)"),
        (port("vx", "vxlan"), "a vxlan tunnel needs options.remote_ip"),
        (port("p", external_ids={ADDRESS_KEY: "10.0.0.3/24"}), "an address needs a port of type"),
        (port("m", "internal", external_ids={ADDRESS_KEY: "10.0.0.300/24"}), "is not an address"),
        (port("p", interfaces=["q"]), "its interface is named q (a layout gives it the port's"),
        (port("p", interfaces=[]), "it has no interface"),
        (port("b", "internal", interfaces=["e1", "e2"]), "bond member e1 is of type internal"),
    ],
)  # fmt: skip
def test_what_cannot_be_expressed_is_left_out_saying_why(live_port: LivePort, reason: str) -> None:
    fine = port("tap-ok")
    exported = export_layout(live_with(fine, live_port))
    (left,) = exported.left_out
    assert left.what == f"port br-int/{live_port.name}"
    assert reason in left.reason
    assert [p.name for p in exported.layout.bridges[0].ports] == ["tap-ok"]


def test_names_a_lying_server_repeats_leave_out_every_holder() -> None:
    exported = export_layout(live_with(port("p1", interfaces=["em1"]), port("em1")))
    reasons = sorted(str(item) for item in exported.left_out)
    assert reasons == [
        "port br-int/em1: interface em1 is also a bridge or in another port",
        "port br-int/p1: interface em1 is also a bridge or in another port",
    ]


# The command line against a fake OVSDB holding a hostile switch ----------------------------------


@pytest.fixture
def hostile_switch() -> Iterator[FakeOvsdb]:
    tables = copy.deepcopy(CLASSIC)
    ports_by_name = {row["name"]: row for row in tables["Port"]}
    ifaces_by_name = {row["name"]: row for row in tables["Interface"]}
    # the tunnel port renamed by someone: a newline and a terminal escape in it
    ports_by_name["vxlan-0a000002"]["name"] = "vx\n\x1b[2Jlan"
    ifaces_by_name["vxlan-0a000002"]["name"] = "vx\n\x1b[2Jlan"
    ifaces_by_name["patch-tun"]["type"] = "dpdkvhostuser"
    # no address on mgmt: plan would look for its device on this machine
    ports_by_name["mgmt"]["external_ids"] = ["map", [["stackwatch-managed", "true"]]]
    with FakeOvsdb(tables) as server:
        yield server


def test_export_command_says_what_it_leaves_out_and_plan_accepts_the_file(
    hostile_switch: FakeOvsdb, tmp_path: Path
) -> None:
    exported = tmp_path / "exported.yaml"
    done = run_stackwatch("ovs", "export", "--db", hostile_switch.db, "-o", str(exported))
    assert done.returncode == 0 and done.stdout == f"wrote {exported}\n"
    assert done.stderr.splitlines() == [
        "stackwatch: left out port br-int/patch-tun: type: 'dpdkvhostuser' is not one of "
        + ", ".join(PORT_TYPES),
        "stackwatch: left out port br-tun/vx\\n\\x1b[2Jlan: not a valid name",
    ]
    layout = load_layout(str(exported))
    assert sorted(p.name for b in layout.bridges for p in b.ports) == [
        "bond0", "mgmt", "patch-int",
    ]  # fmt: skip
    done = run_stackwatch("ovs", "plan", str(exported), "--db", hostile_switch.db)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        "  note: port br-int/patch-tun: no longer declared; apply --prune removes it",
        "  note: port br-tun/vx\\n\\x1b[2Jlan: no longer declared; apply --prune removes it",
        f"no changes: the switch matches {exported}",
    ]
