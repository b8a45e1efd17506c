"""The temperature check: hwmon sensors of a real capture, own limits, configured ranges."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from stackwatch.checks.temperature import parse_hwmon
from stackwatch.core.result import Status
from tests.unit.hostchecks.support import copy_tree, run, write


def realdata_root(realdata: Path, tmp_path: Path) -> Path:
    root = tmp_path / "root"
    copy_tree(realdata / "node_exporter" / "sys", root / "sys")
    return root


def test_realdata_hwmon_sensors_against_their_own_limits(realdata: Path, tmp_path: Path) -> None:
    root = realdata_root(realdata, tmp_path)
    assert (root / "sys/class/hwmon/hwmon0").is_symlink()
    result = run("temperature", root, tmp_path / "state")
    chips = {m.labels["chip"] for m in result.metrics}
    assert {"coretemp", "mt7996_phy0_0", "hwmon4"} <= chips  # hwmon4 has no name file
    assert len(result.metrics) == 15
    assert any(d.startswith("coretemp/Core 0: ") for d in result.details)
    # Every reading is in °C (millidegrees divided), within what a machine can show.
    assert all(-50 < m.value < 150 for m in result.metrics)
    hot = [d for d in result.details if not d.endswith(" OK")]
    assert (result.status == Status.OK) == (not hot)


def test_own_max_warns_and_crit_is_critical(tmp_path: Path) -> None:
    base = "/sys/class/hwmon/hwmon0"
    write(tmp_path, f"{base}/name", "coretemp\n")
    write(tmp_path, f"{base}/temp1_label", "Package id 0\n")
    write(tmp_path, f"{base}/temp1_input", "84000\n")
    write(tmp_path, f"{base}/temp1_max", "84000\n")
    write(tmp_path, f"{base}/temp1_crit", "100000\n")
    write(tmp_path, f"{base}/temp2_input", "40000\n")
    write(tmp_path, f"{base}/temp2_crit", "0\n")  # a placeholder limit, ignored
    result = run("temperature", tmp_path, tmp_path / "state")
    assert result.status == Status.WARNING
    assert result.summary == "coretemp/Package id 0 at 84 °C (max 84, crit 100)"
    assert result.hint and "fans" in result.hint
    # Perfdata carries the limits the sensor was judged by (its own max and crit).
    package = next(m for m in result.metrics if m.labels["sensor"] == "Package id 0")
    assert package.warn is not None and package.warn.alerts(84) and not package.warn.alerts(83)
    assert package.crit is not None and package.crit.alerts(100) and not package.crit.alerts(99)
    write(tmp_path, f"{base}/temp1_input", "101000\n")
    assert run("temperature", tmp_path, tmp_path / "state").status == Status.CRITICAL
    # Configured ranges take the place of the chip's own limits.
    cfg = {"sensors": {"coretemp/Package*": {"warning": "~:105", "critical": "~:110"}}}
    assert run("temperature", tmp_path, tmp_path / "state", config=cfg).status == Status.OK
    cfg2 = {"ignore": ["coretemp/Package*"]}
    assert run("temperature", tmp_path, tmp_path / "state", config=cfg2).status == Status.OK


def test_no_sensors_is_a_skip(tmp_path: Path) -> None:
    result = run("temperature", tmp_path, tmp_path / "state")
    assert result.skipped and "sensors-detect" in result.summary


@given(st.dictionaries(st.text(max_size=15), st.text(max_size=12)))
def test_parser_never_crashes(files: dict[str, str]) -> None:
    for sensor in parse_hwmon("chip", files):
        assert isinstance(sensor.celsius, float)
