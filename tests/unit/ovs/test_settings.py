"""[ovs] reaches the checks validated, through OvsSettings, as it reaches the ovs commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stackwatch.core.config import Config
from stackwatch.core.engine import run_check
from stackwatch.core.host import Host
from stackwatch.core.registry import CheckContext, CheckState, NoOptions, NotApplicable, get_check
from stackwatch.core.result import Result, Status
from stackwatch.core.state import StateStore
from stackwatch.ovs.checks import collect_managers

CLASSIC = Path(__file__).resolve().parents[2] / "fixtures" / "ovs" / "openstack-compute.yaml"


def run(check: str, data: dict[str, Any], tmp_path: Path) -> Result:
    store = StateStore(tmp_path / "state")
    return run_check(get_check(check), Host(tmp_path), Config(None, data), store)


def test_db_and_layout_come_from_the_ovs_section(tmp_path: Path) -> None:
    sock = tmp_path / "none.sock"
    ovs = {"db": f"unix:{sock}", "layout": str(CLASSIC)}
    for check in ("ovs-managers", "ovs-controllers", "ovs-bridges"):
        result = run(check, {"ovs": ovs}, tmp_path)
        assert result.status is Status.UNKNOWN, check
        assert result.summary == f"OVSDB not reachable: {sock} does not exist (is ovsdb-server up?)"


def test_no_layout_configured_is_a_skip_naming_the_key(tmp_path: Path) -> None:
    result = run("ovs-bridges", {"ovs": {"db": f"unix:{tmp_path}/none.sock"}}, tmp_path)
    assert result.skipped and result.summary == "no layout file configured ([ovs] layout)"


def test_a_bad_ovs_section_is_unknown_naming_the_key(tmp_path: Path) -> None:
    cases = {
        "netns": ("a/b", "configuration: ovs.netns: not a network namespace name: 'a/b'"),
        "db": ("db.sock", "configuration: ovs.db: not an OVSDB address"),
        "timeout": (0.0, "configuration: ovs.timeout: must be above 0"),
    }
    for key, (value, message) in cases.items():
        for check in ("ovs-managers", "ovs-bridges"):
            result = run(check, {"ovs": {"layout": str(CLASSIC), key: value}}, tmp_path)
            assert result.status is Status.UNKNOWN and result.summary.startswith(message), key


def test_without_settings_the_defaults_apply(tmp_path: Path) -> None:
    # a tree without the default OVSDB socket and without ovs-vswitchd: not an OVS host
    state = CheckState(StateStore(tmp_path / "state"), "ovs-managers")
    ctx = CheckContext(Host(tmp_path), NoOptions(), state, Config(None, {}))
    with pytest.raises(NotApplicable, match="Open vSwitch is not installed here"):
        collect_managers(ctx)
