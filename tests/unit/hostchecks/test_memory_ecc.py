"""The memory-ecc check: csrow and dimmN EDAC layouts, uncorrected and rising corrected errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackwatch.checks.memory_ecc import parse_csrow, parse_dimm
from stackwatch.core.result import Status
from tests.unit.hostchecks.support import FIXTURES, copy_tree, run, write

MC0 = "/sys/devices/system/edac/mc/mc0"


@pytest.fixture
def dimm_root(tmp_path: Path) -> Path:
    return copy_tree(FIXTURES / "edac-dimm", tmp_path / "root")


def test_realdata_csrow_layout_uncorrected_errors_are_critical(
    realdata: Path, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    copy_tree(realdata / "node_exporter" / "sys" / "devices", root / "sys" / "devices")
    result = run("memory-ecc", root, tmp_path / "state")
    assert result.status == Status.CRITICAL
    assert result.summary.startswith("5 uncorrected memory errors on mc0 on ")
    assert "mc0/csrow0/ch0 (mc0csrow0channel0)" in result.summary
    assert result.hint and "replace the DIMM" in result.hint
    assert "mc0: 1 corrected, 5 uncorrected, without location: 2 CE, 6 UE" in result.details


def test_dimm_layout_names_the_dimm_whose_corrected_errors_rise(
    dimm_root: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    first = run("memory-ecc", dimm_root, state, now=1000.0)
    assert first.status == Status.OK
    assert first.summary == "7 corrected, 0 uncorrected errors on 1 memory controllers, none new"
    assert "mc0 (Intel_10nm Socket#0 IMC#0): 7 corrected, 0 uncorrected" in first.details
    write(dimm_root, f"{MC0}/dimm0/dimm_ce_count", "9\n")
    write(dimm_root, f"{MC0}/ce_count", "9\n")
    second = run("memory-ecc", dimm_root, state, now=1060.0)
    assert second.status == Status.WARNING
    assert "mc0/dimm0 (CPU_SrcID#0_MC#0_Chan#0_DIMM#0) +2" in second.summary
    assert second.hint and "plan its replacement" in second.hint
    third = run("memory-ecc", dimm_root, state, now=1120.0)
    assert third.status == Status.OK  # no new errors since the last run


def test_reset_counters_are_not_rising_errors(dimm_root: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    run("memory-ecc", dimm_root, state, now=1000.0)
    write(dimm_root, f"{MC0}/dimm0/dimm_ce_count", "0\n")
    write(dimm_root, f"{MC0}/ce_count", "0\n")
    result = run("memory-ecc", dimm_root, state, now=1060.0)
    assert result.status == Status.OK
    assert any("counters went down" in d for d in result.details)


def test_no_edac_driver_is_a_skip_with_advice(tmp_path: Path) -> None:
    result = run("memory-ecc", tmp_path, tmp_path / "state")
    assert result.skipped
    assert "no EDAC driver" in result.summary and "crashing databases" in result.summary


def test_csrow_without_channel_counts_keeps_its_own() -> None:
    units = parse_csrow(
        "mc0",
        "csrow2",
        {"ce_count": "0", "ue_count": "5", "ch0_dimm_label": "A1", "ch0_ce_count": "0"},
    )
    assert [(u.location, u.label, u.ue) for u in units] == [
        ("mc0/csrow2/ch0", "A1", None),
        ("mc0/csrow2", "", 5),
    ]


@given(st.dictionaries(st.text(max_size=20), st.text(max_size=20)))
def test_parsers_never_crash(files: dict[str, str]) -> None:
    for unit in parse_csrow("mc0", "csrow0", files):
        assert unit.ce is None or isinstance(unit.ce, int)
    assert parse_dimm("mc0", "dimm0", files).location == "mc0/dimm0"
