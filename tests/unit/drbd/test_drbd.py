"""drbd-lvm: parsers on the real /proc/drbd capture and real lvm2 outputs, the judgement, and
the check on a captured tree."""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.conftest import run_stackwatch

from stackwatch.core.result import Status
from stackwatch.drbd.check import DrbdFacts, DrbdOptions, judge
from stackwatch.drbd.parse import (
    DrbdParseError,
    LvmConfig,
    Peer,
    Resource,
    parse_drbdsetup_show,
    parse_drbdsetup_status_json,
    parse_lvmconfig,
    parse_proc_drbd,
    parse_vgs_json,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "drbd"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def shared_vgs(lock_type: str, attr: str) -> str:
    """The recorded vgs output with the VG made shared (lvmlockd) or clustered (clvmd)."""
    text = fixture("recorded-vgs-local.json")
    return text.replace('"wz--n-"', f'"{attr}"').replace(
        '"vg_lock_type":""', f'"vg_lock_type":"{lock_type}"'
    )


def facts_for(resources: tuple[Resource, ...], lvm: str, vgs: str) -> DrbdFacts:
    return DrbdFacts("test", resources, parse_lvmconfig(fixture(lvm)), parse_vgs_json(vgs))


# --- parsers on real captures ------------------------------------------------------------------


def test_proc_drbd_real_capture_is_dual_primary(realdata: Path) -> None:
    (res,) = parse_proc_drbd((realdata / "node_exporter/proc/drbd").read_text())
    assert res.name == "drbd1" and res.minors == (1,)
    assert (res.role, res.disk) == ("Primary", "UpToDate")
    assert res.peers == (Peer("peer", "Connected", "Primary", "UpToDate"),)
    assert res.dual_primary


def test_proc_drbd_old_st_field_and_unconfigured_minors() -> None:
    text = (
        "version: 8.0.14 (api:86/proto:86)\n"
        " 0: cs:WFConnection st:Primary/Unknown ds:UpToDate/DUnknown C r---\n"
        " 1: cs:Unconfigured\n"
    )
    (res,) = parse_proc_drbd(text)
    assert (res.name, res.peers[0].connection, res.peers[0].role) == (
        "drbd0",
        "WFConnection",
        "Unknown",
    )


def test_proc_drbd_without_version_is_refused() -> None:
    with pytest.raises(DrbdParseError, match="version"):
        parse_proc_drbd("garbage\n")


def test_recorded_lvmconfig_outputs() -> None:
    assert parse_lvmconfig(fixture("recorded-lvmconfig-default.txt")) == LvmConfig(1, False)
    assert parse_lvmconfig(fixture("recorded-lvmconfig-lvmlockd.txt")) == LvmConfig(1, True)
    assert parse_lvmconfig(fixture("recorded-lvmconfig-clvmd.txt")) == LvmConfig(3, False)
    nested = "global {\n\tlocking_type=3  # clvmd\n\tuse_lvmlockd=0\n}\n"
    assert parse_lvmconfig(nested) == LvmConfig(3, False)


def test_recorded_vgs_on_a_drbd_device() -> None:
    (vg,) = parse_vgs_json(fixture("recorded-vgs-local.json"))
    assert (vg.name, vg.lock_type, vg.clustered, vg.pvs) == (
        "recorded_vg",
        "",
        False,
        ("/dev/drbd1",),
    )
    (shared,) = parse_vgs_json(shared_vgs("dlm", "wz--ns"))
    assert shared.lock_type == "dlm" and shared.clustered


def test_drbdsetup_status_and_show() -> None:
    r0, r1 = parse_drbdsetup_status_json(fixture("status-dual.json"))
    assert r0.dual_primary and r0.minors == (1,)
    assert r1.peers[0].connection == "StandAlone" and not r1.dual_primary
    assert parse_drbdsetup_show(fixture("show-dual.txt")) == {"r0": True, "r1": False}


# --- hypothesis: untrusted text gives facts or DrbdParseError, nothing else ---------------------


def _parsed_or_refused(parser: object, text: str) -> None:
    with contextlib.suppress(DrbdParseError):
        parser(text)  # type: ignore[operator]


@given(st.text())
def test_proc_drbd_never_crashes(text: str) -> None:
    _parsed_or_refused(parse_proc_drbd, "version: 8.4.3\n" + text)
    _parsed_or_refused(parse_proc_drbd, text)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "name",
                    "role",
                    "devices",
                    "connections",
                    "minor",
                    "disk-state",
                    "peer_devices",
                    "peer-role",
                    "connection-state",
                    "report",
                    "vg",
                    "vg_name",
                    "vg_attr",
                    "pv_name",
                    "vg_lock_type",
                ]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@given(JSONISH)
def test_json_parsers_never_crash(data: object) -> None:
    _parsed_or_refused(parse_drbdsetup_status_json, json.dumps(data))
    _parsed_or_refused(parse_vgs_json, json.dumps(data))


@given(st.text())
def test_text_parsers_never_crash(text: str) -> None:
    _parsed_or_refused(parse_lvmconfig, text)
    _parsed_or_refused(parse_drbdsetup_status_json, text)
    _parsed_or_refused(parse_vgs_json, text)
    assert set(parse_drbdsetup_show(text).values()) <= {True, False}


# --- judgement -----------------------------------------------------------------------------------


def test_dual_primary_under_a_local_vg_is_critical_with_the_remedy(realdata: Path) -> None:
    resources = parse_proc_drbd((realdata / "node_exporter/proc/drbd").read_text())
    facts = facts_for(
        resources, "recorded-lvmconfig-default.txt", fixture("recorded-vgs-local.json")
    )
    result = judge(facts, DrbdOptions())
    assert result.status == Status.CRITICAL
    assert "drbd1: dual primary under VG recorded_vg without cluster locking" in result.summary
    assert result.hint and "vgchange --lock-type dlm recorded_vg" in result.hint


@pytest.mark.parametrize(
    ("lvm", "lock", "attr"),
    [
        ("recorded-lvmconfig-lvmlockd.txt", "dlm", "wz--ns"),
        ("recorded-lvmconfig-clvmd.txt", "clvm", "wz--nc"),
    ],
)
def test_dual_primary_under_cluster_locking_is_ok(
    realdata: Path, lvm: str, lock: str, attr: str
) -> None:
    resources = parse_proc_drbd((realdata / "node_exporter/proc/drbd").read_text())
    result = judge(facts_for(resources, lvm, shared_vgs(lock, attr)), DrbdOptions())
    assert result.status == Status.OK
    assert (
        result.summary
        == "1 DRBD resources UpToDate and connected, 1 dual primary under cluster locking"
    )


def test_shared_vg_without_lvmlockd_running_config_is_still_critical(realdata: Path) -> None:
    resources = parse_proc_drbd((realdata / "node_exporter/proc/drbd").read_text())
    facts = facts_for(resources, "recorded-lvmconfig-default.txt", shared_vgs("dlm", "wz--ns"))
    assert judge(facts, DrbdOptions()).status == Status.CRITICAL


def test_standalone_is_split_brain_critical_and_allowed_two_primaries_warns() -> None:
    resources = parse_drbdsetup_status_json(fixture("status-dual.json"))
    r0, r1 = resources
    single = Resource(
        "r0",
        r0.minors,
        "Primary",
        "UpToDate",
        (Peer("nodeb", "Connected", "Secondary", "UpToDate"),),
        True,
    )
    facts = facts_for(
        (single, r1), "recorded-lvmconfig-default.txt", fixture("recorded-vgs-local.json")
    )
    result = judge(facts, DrbdOptions())
    assert result.status == Status.CRITICAL
    assert "r0: allows two primaries under VG recorded_vg without cluster locking" in result.summary
    assert "r1 to nodeb: StandAlone (split brain or disconnected)" in result.summary
    assert result.hint and "drbdadm connect --discard-my-data r1" in result.hint


@pytest.mark.parametrize(
    ("disk", "peer", "expected"),
    [
        ("Inconsistent", Peer("b", "Connected", "Secondary", "UpToDate"), "r: disk Inconsistent"),
        ("UpToDate", Peer("b", "Connected", "Secondary", "Outdated"), "r to b: peer disk Outdated"),
        ("UpToDate", Peer("b", "WFConnection", "Unknown", "DUnknown"), "r to b: WFConnection"),
    ],
)
def test_disk_and_connection_states(disk: str, peer: Peer, expected: str) -> None:
    facts = DrbdFacts("test", (Resource("r", (0,), "Primary", disk, (peer,)),), None, None)
    result = judge(facts, DrbdOptions())
    assert result.summary == expected
    assert result.status == (Status.WARNING if "WFConnection" in expected else Status.CRITICAL)


# --- the command on a captured tree ---------------------------------------------------------------


def test_check_on_the_captured_tree(realdata: Path, tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    shutil.copy(realdata / "node_exporter/proc/drbd", tmp_path / "proc" / "drbd")
    done = run_stackwatch("check", "drbd-lvm", "--root", str(tmp_path), "--format", "nagios")
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith("DRBD-LVM WARNING - drbd1: dual primary, LVM not readable")


def test_check_skips_without_drbd(tmp_path: Path) -> None:
    done = run_stackwatch("check", "drbd-lvm", "--root", str(tmp_path), "--format", "nagios")
    assert done.returncode == 0
    assert "no DRBD here" in done.stdout
