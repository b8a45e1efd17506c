"""Lying OVSDB replies through the whole path of each check: the recorded replies of a real switch
(tests/fixtures/ovs/replies), garbled (wrong types, missing columns, huge sets, hostile names, a
schema or a result that is not one), served by a fake OVSDB server to the real client. Every
answer is a judgement, or UNKNOWN with the reason in one bounded line, never a traceback or an
"internal error", and renders in every format without a name changing the output's shape."""

from __future__ import annotations

import copy
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stackwatch.core.config import Config
from stackwatch.core.engine import run_check
from stackwatch.core.host import Host
from stackwatch.core.registry import get_check
from stackwatch.core.result import Result, Status
from stackwatch.core.state import StateStore
from stackwatch.render import FORMATS, render
from tests.unit.ovs.test_live_plan import _paths, reply

sys.path.insert(0, str(Path(__file__).parent))
from fakeovsdb import FakeOvsdb, schema_of

LAYOUT = Path(__file__).resolve().parents[2] / "fixtures" / "ovs" / "openstack-compute.yaml"
REPLY_OF = {"ovs-managers": "targets", "ovs-controllers": "targets", "ovs-bridges": "classic"}

hostile_text = st.one_of(
    st.text(st.characters(codec=None, exclude_categories=()), max_size=10),
    st.sampled_from(["a|b", "x\ny", "'q'='1'", "\x1b[31mred", "\udcff\udc80", "a\rb", "é"]),
)
ovsdb_like = st.recursive(
    st.none() | st.booleans() | st.integers() | hostile_text,
    lambda inner: (
        st.tuples(st.sampled_from(["set", "map", "uuid", "named-uuid"]), inner).map(list)
        | st.lists(inner, max_size=3)
        | st.dictionaries(hostile_text, inner, max_size=3)
    ),
    max_leaves=10,
)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOvsdb]:
    with FakeOvsdb() as fake:
        yield fake


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A captured tree: the address step of ovs-bridges does not read this machine's devices."""
    return tmp_path_factory.mktemp("tree")


def run(server: FakeOvsdb, root: Path, name: str, tables: Any) -> Result:
    server.tables = tables
    config = Config(None, {"ovs": {"db": server.db, "layout": str(LAYOUT), "timeout": 5.0}})
    return run_check(get_check(name), Host(root), config, StateStore(str(root / "state")))


def assert_sound(result: Result) -> None:
    """A judgement, or UNKNOWN saying why in a line of bounded length; every format renders it,
    one line per detail, nothing that is not UTF-8 reaching the output."""
    assert "internal error" not in result.summary, result.summary
    if result.status is Status.UNKNOWN:
        assert "OVSDB" in result.summary and len(result.summary) < 600, result.summary
    for fmt in FORMATS:
        render([result], fmt).encode("utf-8")
    lines = render([result], "nagios").splitlines()
    hint = result.hint is not None and result.status is not Status.OK
    assert len(lines) == 1 + len(result.details) + hint
    assert lines[0].count("|") <= 1


RECORDED = {name: reply(name) for name in ("targets", "classic")}
PATHS = {name: _paths(data)[1:] for name, data in RECORDED.items()}


def _at(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        data = data[key]
    return data


@st.composite
def garbled(draw: st.DrawFn, check: str) -> Any:
    """The check's recorded reply with one to three values replaced or columns removed."""
    recorded = REPLY_OF[check]
    tables = copy.deepcopy(RECORDED[recorded])
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS[recorded]))
        try:
            parent = _at(tables, path[:-1])
            if isinstance(parent, dict) and draw(st.booleans()):
                parent.pop(path[-1], None)  # a missing column (or table)
            else:
                parent[path[-1]] = draw(ovsdb_like)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed the way there
    return tables


@pytest.mark.parametrize("check", REPLY_OF)
def test_recorded_replies_as_they_are(server: FakeOvsdb, root: Path, check: str) -> None:
    result = run(server, root, check, RECORDED[REPLY_OF[check]])
    assert_sound(result)
    assert result.status is not Status.UNKNOWN, result


@pytest.mark.parametrize("check", REPLY_OF)
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_garbled_replies_are_judged_or_unknown_with_the_reason(
    server: FakeOvsdb, root: Path, check: str, data: st.DataObject
) -> None:
    assert_sound(run(server, root, check, data.draw(garbled(check))))


@pytest.mark.parametrize("check", REPLY_OF)
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_lying_schema_or_result(
    server: FakeOvsdb, root: Path, check: str, data: st.DataObject
) -> None:
    tables = RECORDED[REPLY_OF[check]]
    schema = copy.deepcopy(schema_of(tables))
    if data.draw(st.booleans()):
        server.schema = data.draw(ovsdb_like)
    else:
        path = data.draw(st.sampled_from(_paths(schema)[1:]))
        _at(schema, path[:-1])[path[-1]] = data.draw(ovsdb_like)
        server.schema = schema
    server.results = data.draw(st.none() | ovsdb_like)
    try:
        result = run(server, root, check, tables)
    finally:
        server.schema = server.results = None
    assert_sound(result)


def _huge_set(kind: str) -> list[Any]:
    item: Any = {"uuid": ["uuid", "00000000-0000-0000-0000-000000000000"], "int": 7, "str": "x"}
    return ["set", [item[kind]] * 200_000]


@pytest.mark.parametrize(
    ("check", "column", "kind"),
    [
        ("ovs-managers", ("Manager", 0, "target"), "str"),
        ("ovs-managers", ("Manager", 1, "status"), "str"),
        ("ovs-controllers", ("Bridge", 1, "controller"), "uuid"),
        ("ovs-controllers", ("Controller", 0, "is_connected"), "int"),
        ("ovs-bridges", ("Port", 0, "trunks"), "int"),
        ("ovs-bridges", ("Port", 0, "name"), "str"),
        ("ovs-bridges", ("Bridge", 0, "ports"), "uuid"),
        ("ovs-bridges", ("Interface", 0, "options"), "str"),
    ],
)
def test_huge_sets(
    server: FakeOvsdb, root: Path, check: str, column: tuple[Any, ...], kind: str
) -> None:
    tables = copy.deepcopy(RECORDED[REPLY_OF[check]])
    table, row, name = column
    tables[table][row][name] = _huge_set(kind)
    started = time.monotonic()
    result = run(server, root, check, tables)
    assert time.monotonic() - started < 10
    assert_sound(result)
    assert len(json.dumps(result.summary)) < 600


def test_a_wrong_type_is_unknown_naming_table_row_and_column(server: FakeOvsdb, root: Path) -> None:
    tables = copy.deepcopy(RECORDED["targets"])
    tables["Controller"][0]["is_connected"] = "yes"
    result = run(server, root, "ovs-controllers", tables)
    assert result.status is Status.UNKNOWN
    assert result.summary == (
        "malformed OVSDB reply: Controller row 1: is_connected: expected true or false, got 'yes'"
    )
