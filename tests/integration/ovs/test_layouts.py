"""stackwatch ovs plan/apply/verify/export/show against a real switch."""

from __future__ import annotations

from pathlib import Path

import pytest
from switch import Switch, ovs_config

from stackwatch.ovs.layout import load_layout
from tests.conftest import run_stackwatch

pytestmark = pytest.mark.integration

CLASSIC = Path(__file__).resolve().parents[2] / "fixtures" / "ovs" / "openstack-compute.yaml"


def ovs(*args: str) -> tuple[int, str, str]:
    done = run_stackwatch("ovs", *args, timeout=60)
    return done.returncode, done.stdout, done.stderr


def verify(*args: str) -> tuple[int, str]:
    """ovs verify's exit code and text output, its white space made single: the text is the
    check's table, whose lines wrap at the terminal's width."""
    code, out, _ = ovs("verify", *args)
    return code, " ".join(out.split())


def test_classic_layout_plan_apply_idempotent_verify(switch: Switch) -> None:
    code, out, _ = ovs("plan", str(CLASSIC), "--db", switch.db, "--netns", switch.netns)
    assert code == 4  # FOUND: changes to make
    assert "+ bridge br-ex" in out and "+ port br-ex/bond0: bond of em1+em2, balance-slb" in out

    code, out, err = ovs("apply", str(CLASSIC), "--db", switch.db, "--netns", switch.netns)
    assert code == 0, err
    assert "in one transaction" in out
    shown = switch.vsctl("show")
    assert "Bridge br-int" in shown and "fail_mode: secure" in shown
    assert switch.vsctl("get", "port", "mgmt", "tag").strip() == "15"
    assert switch.vsctl("get", "port", "bond0", "bond_mode").strip() == "balance-slb"
    assert switch.vsctl("get", "interface", "patch-tun", "options:peer").strip() == "patch-int"
    assert switch.vsctl("br-get-external-id", "br-ex", "stackwatch-managed").strip() == "true"

    code, out, _ = ovs("apply", str(CLASSIC), "--db", switch.db, "--netns", switch.netns)
    assert code == 0 and "no changes" in out
    code, out, _ = ovs("plan", str(CLASSIC), "--db", switch.db, "--netns", switch.netns)
    assert code == 0
    code, out = verify(str(CLASSIC), "--db", switch.db, "--netns", switch.netns)
    assert code == 0 and "ovs-bridges OK 3 bridges, 5 ports match" in out

    # drift made by hand: every difference is listed by verify and by the check
    switch.vsctl("set", "port", "mgmt", "tag=20", "--", "add-port", "br-int", "tapdeadbeef")
    switch.vsctl("set", "bridge", "br-tun", "fail_mode=standalone")
    code, out = verify(str(CLASSIC), "--db", switch.db, "--netns", switch.netns)
    assert code == 1, out
    assert "~ port br-ex/mgmt: tag 20 -> 15" in out
    assert "~ bridge br-tun: fail_mode standalone -> secure" in out
    assert "port br-int/tapdeadbeef: not in the layout and not created by stackwatch" in out
    config = ovs_config(
        Path(switch.dir) / "sw.toml", switch.db, netns=switch.netns, layout=str(CLASSIC)
    )
    done = run_stackwatch("check", "ovs-bridges", "--config", str(config))
    assert done.returncode == 1 and "3 differences" in done.stdout, done.stdout

    # apply repairs what it declares and leaves the hand-made port alone
    code, out, _ = ovs("apply", str(CLASSIC), "--db", switch.db, "--netns", switch.netns)
    assert code == 0
    assert switch.vsctl("get", "port", "mgmt", "tag").strip() == "15"
    assert "tapdeadbeef" in switch.vsctl("list-ports", "br-int").split()


def test_prune_removes_only_what_stackwatch_created(switch: Switch, tmp_path: Path) -> None:
    assert ovs("apply", str(CLASSIC), "--db", switch.db, "--netns", switch.netns)[0] == 0
    switch.vsctl(
        "add-port", "br-ex", "handmade", "--", "set", "interface", "handmade", "type=internal"
    )
    smaller = tmp_path / "smaller.yaml"
    smaller.write_text(
        "bridges:\n  br-ex:\n    datapath_type: netdev\n"
        "    other_config: {hwaddr: '52:54:00:00:00:01'}\n"
        "    ports:\n      bond0: {members: [em1, em2], bond_mode: active-backup}\n"
    )
    code, out, _ = ovs("plan", str(smaller), "--db", switch.db, "--netns", switch.netns)
    assert code == 4
    assert "~ port br-ex/bond0: bond_mode balance-slb -> active-backup" in out
    assert "bridge br-int: no longer declared; apply --prune removes it" in out
    code, out, _ = ovs("apply", str(smaller), "--db", switch.db, "--netns", switch.netns, "--prune")
    assert code == 0, out
    assert switch.vsctl("list-br").split() == ["br-ex"]
    assert sorted(switch.vsctl("list-ports", "br-ex").split()) == ["bond0", "handmade"]
    assert switch.vsctl("get", "port", "bond0", "bond_mode").strip() == "active-backup"


def test_bad_layout_is_refused_before_anything_changes(switch: Switch, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "bridges:\n  br-a:\n    ports:\n      bond0:\n        members: [em1]\n  br-b: {}\n"
    )
    code, _out, err = ovs("apply", str(bad), "--db", switch.db, "--netns", switch.netns)
    assert code == 2  # a usage error: the layout the user named
    assert f"{bad}:5: port bond0: a bond needs at least two members" in err
    assert "Traceback" not in err
    assert switch.vsctl("list-br").strip() == ""


def test_export_round_trips_and_show(switch: Switch, tmp_path: Path) -> None:
    assert ovs("apply", str(CLASSIC), "--db", switch.db, "--netns", switch.netns)[0] == 0
    exported = tmp_path / "exported.yaml"
    code, out, _ = ovs("export", "--db", switch.db, "-o", str(exported))
    assert code == 0
    assert load_layout(str(exported)).bridges == load_layout(str(exported)).bridges
    assert {b.name for b in load_layout(str(exported)).bridges} == {"br-int", "br-tun", "br-ex"}
    # the exported file describes the switch exactly: nothing to plan
    code, out, _ = ovs("plan", str(exported), "--db", switch.db, "--netns", switch.netns)
    assert code == 0, out
    code, out, _ = ovs("show", "--db", switch.db)
    assert code == 0
    assert "mgmt: internal, tag 15, address 10.0.15.11/24" in out
    assert "bond0: bond of em1+em2, balance-slb, lacp off" in out


def test_apply_is_one_transaction(switch: Switch, tmp_path: Path) -> None:
    # a layout the server refuses halfway (a second bridge of the same name cannot exist
    # in the running switch): nothing at all is left behind
    from stackwatch.ovs.apply import apply_layout
    from stackwatch.ovs.layout import parse_layout
    from stackwatch.ovs.ovsdb import OvsdbClient, OvsdbError

    layout = parse_layout(
        "bridges:\n  br-one:\n    datapath_type: netdev\n    ports: {p1: {type: internal}}\n"
        "  br-two:\n    datapath_type: netdev\n    ports: {p2: {type: internal, tag: 7}}\n"
    )
    with OvsdbClient(switch.db) as client:
        from stackwatch.ovs.apply import plan_against

        plan = plan_against(client, layout).plan
        # corrupt the last insert so that the server refuses the transaction at the end
        last_insert = [op for op in plan.operations if op["op"] == "insert"][-1]
        last_insert["row"]["no_such_column"] = 1
        with pytest.raises(OvsdbError):
            client.transact(plan.operations)
        assert switch.vsctl("list-br").strip() == ""
        outcome = apply_layout(client, layout)
        assert outcome.applied
    assert switch.vsctl("list-br").split() == ["br-one", "br-two"]


def test_unreachable_db_is_one_clear_error(tmp_path: Path) -> None:
    code, _, err = ovs("plan", str(CLASSIC), "--db", f"unix:{tmp_path}/none.sock")
    assert code == 1
    assert err.startswith("stackwatch: OVSDB not reachable") and "Traceback" not in err


def _device(switch: Switch, name: str) -> tuple[bool, list[str]]:
    """(link up, global addresses) of a device in the switch's namespace, read with ip(8)."""
    import json
    import subprocess

    done = subprocess.run(
        ["ip", "-n", switch.netns, "-j", "addr", "show", "dev", name],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    )
    (entry,) = json.loads(done.stdout)
    addresses = [
        f"{a['local']}/{a['prefixlen']}" for a in entry["addr_info"] if a["scope"] == "global"
    ]
    return "UP" in entry["flags"], addresses


def _ip(switch: Switch, *args: str) -> None:
    import subprocess

    subprocess.run(["ip", "-n", switch.netns, *args], check=True, timeout=10)


def test_management_port_gets_its_address(switch: Switch, tmp_path: Path) -> None:
    at = ("--db", switch.db, "--netns", switch.netns)
    code, out, _ = ovs("plan", str(CLASSIC), *at)
    assert "+ device mgmt (br-ex/mgmt): address 10.0.15.11/24, link up" in out
    code, out, err = ovs("apply", str(CLASSIC), *at)
    assert code == 0, err
    assert _device(switch, "mgmt") == (True, ["10.0.15.11/24"])
    assert "set the address of 1 devices" in out

    # idempotent: nothing to do, nothing done
    code, out, _ = ovs("apply", str(CLASSIC), *at)
    assert code == 0 and "no changes" in out
    assert ovs("plan", str(CLASSIC), *at)[0] == 0

    # removed by hand and link down: verify sees both, plan lists them, apply repairs
    _ip(switch, "addr", "flush", "dev", "mgmt")
    _ip(switch, "link", "set", "dev", "mgmt", "down")
    code, out = verify(str(CLASSIC), *at)
    assert code == 1, out
    assert "~ device mgmt (br-ex/mgmt): address (none) -> 10.0.15.11/24; link down -> up" in out
    assert ovs("plan", str(CLASSIC), *at)[0] == 4
    code, out, _ = ovs("apply", str(CLASSIC), *at)
    assert code == 0 and "applied" not in out and "set the address of 1 devices" in out
    assert _device(switch, "mgmt") == (True, ["10.0.15.11/24"])

    # a different address added by hand is reported, and kept: stackwatch did not set it
    _ip(switch, "addr", "flush", "dev", "mgmt")
    _ip(switch, "addr", "add", "10.0.15.99/24", "dev", "mgmt")
    code, out = verify(str(CLASSIC), *at)
    assert code == 1 and "address 10.0.15.99/24 -> 10.0.15.11/24" in out, out
    assert ovs("apply", str(CLASSIC), *at)[0] == 0
    assert sorted(_device(switch, "mgmt")[1]) == ["10.0.15.11/24", "10.0.15.99/24"]

    # the layout's address changes: the one stackwatch set before is replaced
    moved = tmp_path / "moved.yaml"
    moved.write_text(CLASSIC.read_text().replace("10.0.15.11/24", "10.0.15.12/24"))
    code, out, _ = ovs("apply", str(moved), *at)
    assert code == 0, out
    assert sorted(_device(switch, "mgmt")[1]) == ["10.0.15.12/24", "10.0.15.99/24"]
    assert ovs("verify", str(moved), *at)[0] == 0

    # without --netns the device is looked for in the host's namespace: a clear difference
    code, out = verify(str(moved), "--db", switch.db)
    assert code == 1 and "the device does not exist in the host's network namespace" in out


def test_address_step_fails_clearly_when_vswitchd_is_elsewhere(switch: Switch) -> None:
    # the switch daemon runs in its namespace; asked to look in another, apply says so clearly
    code, _out, err = ovs(
        "apply", str(CLASSIC), "--db", switch.db, "--netns", "swovs-no-such-namespace"
    )
    assert code == 1 and "Traceback" not in err
    assert err.startswith("stackwatch: network namespace swovs-no-such-namespace does not exist")
    assert switch.vsctl("list-br").strip() == ""


def test_export_leaves_out_what_a_layout_cannot_express(switch: Switch, tmp_path: Path) -> None:
    # ports OVSDB takes from anyone who reaches it, that no layout can declare
    assert ovs("apply", str(CLASSIC), "--db", switch.db, "--netns", switch.netns)[0] == 0
    switch.vsctl(
        "--no-wait", "add-port", "br-int", "vhu9f8e7d6c-5b", "--",
        "set", "interface", "vhu9f8e7d6c-5b", "type=dpdkvhostuser", "--",
        "add-port", "br-int", "tap 1", "--",
        "add-port", "br-int", "tap\x1b[2J", "--",
        "add-port", "br-ex", "qvo0123456789abcdef",
    )  # fmt: skip
    exported = tmp_path / "exported.yaml"
    code, out, err = ovs("export", "--db", switch.db, "-o", str(exported))
    assert code == 0 and out == f"wrote {exported}\n"
    assert sorted(err.splitlines()) == [
        "stackwatch: left out port br-ex/qvo0123456789abcdef: longer than 15 characters "
        "(the kernel's limit)",
        "stackwatch: left out port br-int/tap 1: not a valid name",
        "stackwatch: left out port br-int/tap\\x1b[2J: not a valid name (it holds a character "
        "that is not printable)",
        "stackwatch: left out port br-int/vhu9f8e7d6c-5b: type: 'dpdkvhostuser' is not one of "
        "system, internal, patch, vxlan, gre, geneve, stt, erspan, ip6gre, ip6erspan, gtpu, "
        "bareudp, dpdk, dpdkvhostuserclient, tap",
    ]
    assert "# left out, since a layout cannot express them:\n" in exported.read_text()
    # plan accepts the file, finds nothing to change, and notes what it does not declare
    code, out, _ = ovs("plan", str(exported), "--db", switch.db, "--netns", switch.netns)
    assert code == 0, out
    assert out.splitlines()[-1] == f"no changes: the switch matches {exported}"
    assert (
        "  note: port br-int/tap\\x1b[2J: not in the layout and not created by stackwatch; "
        "left alone" in out.splitlines()
    )
