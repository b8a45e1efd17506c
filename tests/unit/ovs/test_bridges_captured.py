"""ovs-bridges on a captured tree (--root): the devices of this machine are never read."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackwatch.core.host import CommandNotFound, Host
from stackwatch.core.result import Status
from stackwatch.ovs.checks import OvsBridgesOptions, compare_layout, judge_bridges
from stackwatch.ovs.layout import load_layout
from tests.unit.ovs.test_live_plan import live

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ovs"
CLASSIC = load_layout(str(FIXTURES / "openstack-compute.yaml"))


def test_live_host_reads_the_devices_with_ip(tmp_path: Path) -> None:
    # the control case: on the running machine the address step runs ip(8); with an empty PATH
    # that is a clear CommandNotFound, which proves the step is taken
    empty = tmp_path / "bin"
    empty.mkdir()
    with pytest.raises(CommandNotFound):
        compare_layout(CLASSIC, live("classic"), Host("/", path_env=str(empty)))


def test_captured_tree_skips_the_devices_and_says_so(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    tree = tmp_path / "tree"
    tree.mkdir()
    facts = compare_layout(CLASSIC, live("classic"), Host(tree, path_env=str(empty)))
    assert facts.differences == ()
    assert len(facts.notes) == 1 and "not compared" in facts.notes[0]
    assert str(tree) in facts.notes[0]
    result = judge_bridges(facts, OvsBridgesOptions())
    # not a difference: still OK, the note is a detail line
    assert result.status is Status.OK
    assert result.details == facts.notes


def test_captured_tree_note_follows_the_differences(tmp_path: Path) -> None:
    text = (FIXTURES / "openstack-compute.yaml").read_text().replace("tag: 15", "tag: 20")
    drifted = tmp_path / "drifted.yaml"
    drifted.write_text(text)
    facts = compare_layout(load_layout(str(drifted)), live("classic"), Host(tmp_path))
    result = judge_bridges(facts, OvsBridgesOptions())
    assert result.status is Status.WARNING
    assert result.details[0] == "~ port br-ex/mgmt: tag 15 -> 20"
    assert "not compared" in result.details[-1]
    assert result.summary.startswith("1 differences")


def test_no_addresses_declared_no_note(tmp_path: Path) -> None:
    text = (FIXTURES / "openstack-compute.yaml").read_text().replace(", address: 10.0.15.11/24", "")
    plain = tmp_path / "plain.yaml"
    plain.write_text(text)
    facts = compare_layout(load_layout(str(plain)), live("classic"), Host(tmp_path))
    assert facts.notes == ()
