"""Names from OVSDB (bridges, ports, interfaces, manager and controller targets) are chosen by
whoever can reach the switch: they never change the shape of any output of stackwatch ovs (one
line per bridge in show, per change and note in plan, per object left out in export; the check
formats through render()), and names that are not UTF-8 never cause a traceback."""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from stackwatch.ovs.cli import app
from stackwatch.ovs.export import export_layout
from stackwatch.ovs.layout import load_layout, parse_layout
from stackwatch.ovs.live import parse_live
from stackwatch.ovs.plan import plan_layout
from tests.conftest import run_stackwatch
from tests.unit.ovs.test_live_plan import reply

sys.path.insert(0, str(Path(__file__).parent))
from fakeovsdb import FakeOvsdb

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ovs"
CLASSIC = reply("classic")
TARGETS = reply("targets")

hostile = st.one_of(
    st.text(st.characters(codec=None, exclude_categories=()), min_size=1, max_size=12),
    st.sampled_from(
        ["a\nb", "x\r\ny", "\x1b[2J\x1b[31mred", "a|b", "\u2028", "\x85", "\udcff\udc80", "\x00",
         "tab\there", "\u202eevil", "br-int\n~ port br-x/y: forged"]
    ),
)  # fmt: skip


def renamed(tables: dict[str, Any], table: str, names: list[str], column: str = "name") -> None:
    for row, name in zip(tables[table], names, strict=False):
        row[column] = name


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOvsdb]:
    with FakeOvsdb() as fake:
        yield fake


@pytest.fixture(scope="module")
def plain_layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The classic layout without mgmt's address: plan does not look for devices here."""
    path = tmp_path_factory.mktemp("layout") / "compute.yaml"
    text = (FIXTURES / "openstack-compute.yaml").read_text()
    path.write_text(text.replace(", address: 10.0.15.11/24", ""))
    return path


def invoke(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


hostile_switch = st.tuples(
    st.lists(hostile, min_size=3, max_size=3),
    st.lists(hostile, min_size=6, max_size=6),
    st.lists(hostile, min_size=8, max_size=8),
)


def tables_named(names: tuple[list[str], list[str], list[str]]) -> dict[str, Any]:
    tables = copy.deepcopy(CLASSIC)
    for table, chosen in zip(("Bridge", "Port", "Interface"), names, strict=True):
        renamed(tables, table, chosen)
    return tables


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(hostile_switch)
def test_show_prints_one_line_per_bridge_and_port(
    server: FakeOvsdb, names: tuple[list[str], list[str], list[str]]
) -> None:
    server.tables = tables_named(names)
    live = parse_live(server.tables)
    result = invoke("show", "--db", server.db)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == (sum(1 + len(b.user_ports) for b in live.bridges) or 1)
    assert all(line.isprintable() for line in lines)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(hostile_switch)
def test_plan_prints_one_line_per_change_and_note(
    server: FakeOvsdb, plain_layout: Path, names: tuple[list[str], list[str], list[str]]
) -> None:
    server.tables = tables_named(names)
    plan = plan_layout(load_layout(str(plain_layout)), parse_live(server.tables))
    result = invoke("plan", str(plain_layout), "--db", server.db)
    assert result.exit_code == (4 if plan.changes else 0), result.output
    lines = result.stdout.splitlines()
    assert len(lines) == len(plan.changes) + len(plan.notes) + 1
    assert all(line.isprintable() for line in lines)


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(hostile_switch)
def test_export_says_one_line_per_object_left_out(
    server: FakeOvsdb, names: tuple[list[str], list[str], list[str]]
) -> None:
    server.tables = tables_named(names)
    exported = export_layout(parse_live(server.tables))
    result = invoke("export", "--db", server.db)
    assert result.exit_code == 0, result.output
    parse_layout(result.stdout, "exported")
    lines = result.stderr.splitlines()
    assert len(lines) == len(exported.left_out)
    assert all(line.isprintable() and line.startswith("stackwatch: left out ") for line in lines)


# Names that are not UTF-8, sent as raw bytes, through the real command line -------------------


@pytest.fixture
def raw_switch(server: FakeOvsdb) -> Iterator[FakeOvsdb]:
    tables = copy.deepcopy(CLASSIC)
    renamed(tables, "Bridge", ["br-\udcff", "br-int", "br-\udce9x"])
    next(row for row in tables["Port"] if row["name"] == "mgmt")["name"] = "mg\udcfft"
    targets = copy.deepcopy(TARGETS)
    targets["Controller"][0]["target"] = "tcp:\udcff\n|x"
    server.tables = {**tables, **{k: v for k, v in targets.items() if k != "Bridge"}}
    server.tables["Bridge"] = [
        {**row, "controller": t["controller"]}
        for row, t in zip(tables["Bridge"], targets["Bridge"], strict=True)
    ]
    server.raw_bytes = True
    yield server
    server.raw_bytes = False


def test_raw_bytes_never_cause_a_traceback(raw_switch: FakeOvsdb, tmp_path: Path) -> None:
    db = ["--db", raw_switch.db]
    done = run_stackwatch("ovs", "show", *db)
    assert done.returncode == 0 and "Traceback" not in done.stderr
    assert done.stdout.splitlines()[2:] == [
        "br-\\xe9x  (fail_mode secure, datapath netdev)",
        "  ├─ br-tun: internal",  # the bridge's own port, now that the bridge has another name
        "  ├─ patch-int: patch, peer=patch-tun",
        "  └─ vxlan-0a000002: vxlan, key=flow, remote_ip=10.0.0.2",
        "br-\\xff  (datapath netdev, hwaddr=52:54:00:00:00:01)",
        "  ├─ bond0: bond of em1+em2, balance-slb, lacp off",
        "  ├─ br-ex: internal",
        "  └─ mg\\xfft: internal, tag 15, address 10.0.15.11/24",
    ]

    done = run_stackwatch("ovs", "export", *db)
    assert done.returncode == 0 and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        "stackwatch: left out bridge br-\\xe9x (and its 3 ports): name holds bytes that are not "
        "UTF-8",
        "stackwatch: left out bridge br-\\xff (and its 3 ports): name holds bytes that are not "
        "UTF-8",
    ]
    parse_layout(done.stdout)

    config = tmp_path / "sw.toml"
    config.write_text(f'[ovs]\ndb = "{raw_switch.db}"\n')
    for fmt in ("text", "nagios", "json", "prometheus"):
        done = run_stackwatch("check", "ovs-controllers", "--config", str(config), "--format", fmt)
        assert done.returncode == 2 and "Traceback" not in done.stderr, (fmt, done.stderr)
        if fmt == "nagios":
            assert done.stdout.splitlines()[0].startswith(
                "OVS-CONTROLLERS CRITICAL - controller tcp:\\xff /x not connected"
            )
            assert done.stdout.count("\n") == 3  # status line, one detail, the hint
        if fmt == "json":
            (result,) = json.loads(done.stdout)["checks"]
            assert result["details"] == [
                "br-int: tcp:\udcff\n|x, NOT connected, state BACKOFF, last error: "
                "Connection refused"
            ]
