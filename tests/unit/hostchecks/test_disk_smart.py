"""The disk-smart check: every real smartctl capture, and a `smartctl` on PATH that prints them."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackwatch.checks.disk_smart import (
    DiskHealth,
    SmartParseError,
    parse_scan,
    parse_smart,
)
from stackwatch.core.result import Status
from tests.conftest import run_stackwatch
from tests.unit.hostchecks.support import run

# Prints the scan, or the captured JSON of the device named last, with that capture's exit status.
FAKE_SMARTCTL = """#!/bin/sh
dir=$(dirname "$0")
if [ "$1" = "--scan-open" ]; then cat "$dir/scan.json"; exit 0; fi
for last; do :; done
name=$(basename "$last")
case "$name" in hang*) exec sleep 30;; esac
if [ -f "$dir/$name.json" ]; then cat "$dir/$name.json"; exit "$(cat "$dir/$name.rc")"; fi
echo "Smartctl open device: $last failed: No such device" >&2
exit 2
"""

CLEAN_ATA = "sat-HGST_Ultrastar_7K6000-HGST_HUS726040ALA614-sda.json"
REALLOCATED = "ST3500418AS_12.json"
SCSI = "SEAGATE_ST373453LC_27.json"
NVME_FAILING = "nvme-null-SAMSUNG_MZWLL3T2HAJQ-00005-nvme0.json"


def fake_smartctl(directory: Path, disks: dict[str, dict[str, Any] | None]) -> str:
    """A bin directory with an executable smartctl; ``disks`` maps a device name to the JSON it
    prints (None: listed by the scan but does not answer). Returns the PATH to use."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "smartctl"
    script.write_text(FAKE_SMARTCTL)
    script.chmod(0o755)
    scan = {"devices": [{"name": f"/dev/{n}", "type": "auto"} for n in disks]}
    (directory / "scan.json").write_text(json.dumps(scan))
    for name, data in disks.items():
        if data is not None:
            (directory / f"{name}.json").write_text(json.dumps(data))
            (directory / f"{name}.rc").write_text(str(data["smartctl"]["exit_status"]))
    return f"{directory}:/usr/bin:/bin"


def capture(realdata: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((realdata / "smartctl" / name).read_text())
    return data


def test_every_real_capture_parses(realdata: Path) -> None:
    files = sorted((realdata / "smartctl").glob("*.json"))
    assert len(files) > 50
    protocols = set()
    for file in files:
        disk = parse_smart(file.read_text(), file.name)
        protocols.add(disk.protocol)
        assert disk.health_passed is not None
        assert all(v >= 0 for v in disk.signals.values())
    assert protocols == {"ATA", "SCSI", "NVMe"}


def test_strong_signals_of_real_drives(realdata: Path) -> None:
    worn = parse_smart((realdata / "smartctl" / REALLOCATED).read_text())
    assert worn.signals["reallocated_sectors"] == 304
    scsi = parse_smart((realdata / "smartctl" / SCSI).read_text())
    assert scsi.signals == {"grown_defects": 0} and scsi.protocol == "SCSI"
    nvme = parse_smart((realdata / "smartctl" / NVME_FAILING).read_text())
    assert nvme.health_passed is False and nvme.nvme_critical_warning == 16


def test_a_fleet_of_disks_through_a_real_executable(realdata: Path, tmp_path: Path) -> None:
    path = fake_smartctl(
        tmp_path / "bin",
        {
            "sda": capture(realdata, CLEAN_ATA),
            "sdb": capture(realdata, REALLOCATED),
            "sdc": capture(realdata, SCSI),
            "nvme0": capture(realdata, NVME_FAILING),
            "sdz": None,
        },
    )
    result = run("disk-smart", "/", tmp_path / "state", path_env=path)
    assert result.status == Status.CRITICAL
    assert "/dev/sdb: reallocated sectors 304" in result.summary
    assert "overall health FAILED, NVMe critical warning 0x10" in result.summary
    assert "/dev/sdz: UNKNOWN, smartctl could not read it (Smartctl open device" in result.summary
    assert result.hint and "treat it as failing" in result.hint
    assert "/dev/sda" not in result.summary
    assert any("over half of the failed disks" in d for d in result.details)
    assert result.hint and "replace the disk" in result.hint
    sectors = {m.labels["device"]: m.value for m in result.metrics if m.name.startswith("reall")}
    assert sectors == {"sda": 0, "sdb": 304}
    wear = next(m for m in result.metrics if m.name == "used")  # NVMe: share of rated endurance
    assert (str(wear.warn), str(wear.crit)) == ("80", "95")


def test_only_a_strong_signal_warns_and_a_clean_record_says_what_it_means(
    realdata: Path, tmp_path: Path
) -> None:
    path = fake_smartctl(tmp_path / "bin", {"sda": capture(realdata, CLEAN_ATA)})
    result = run("disk-smart", "/", tmp_path / "state", path_env=path)
    assert result.status == Status.OK
    assert result.summary == "1 disks, no failure signals"
    assert any("does not prove a disk healthy" in d for d in result.details)


def test_failed_self_test_is_critical(realdata: Path, tmp_path: Path) -> None:
    data = capture(realdata, CLEAN_ATA)
    data["ata_smart_data"] = {"self_test": {"status": {"value": 121, "passed": False}}}
    path = fake_smartctl(tmp_path / "bin", {"sda": data})
    result = run("disk-smart", "/", tmp_path / "state", path_env=path)
    assert result.status == Status.CRITICAL and "a self-test failed" in result.summary


def test_a_disk_that_hangs_is_unknown_alone(realdata: Path, tmp_path: Path) -> None:
    path = fake_smartctl(tmp_path / "bin", {"sda": capture(realdata, CLEAN_ATA), "hang": None})
    started = time.monotonic()
    result = run("disk-smart", "/", tmp_path / "state", path_env=path, command_timeout=1.0)
    assert time.monotonic() - started < 10
    assert result.status == Status.UNKNOWN
    assert result.summary == "/dev/hang: UNKNOWN, no answer within 1 s"


def test_slow_disks_are_read_at_once_and_each_is_unknown_alone(
    realdata: Path, tmp_path: Path
) -> None:
    # A storage server: six disks that do not answer among healthy and failing ones. Read one
    # after another they would take six timeouts; read at once, about one.
    disks: dict[str, dict[str, Any] | None] = {f"hang{n}": None for n in range(6)}
    disks |= {"sda": capture(realdata, CLEAN_ATA), "sdb": capture(realdata, REALLOCATED)}
    path = fake_smartctl(tmp_path / "bin", disks)
    started = time.monotonic()
    result = run("disk-smart", "/", tmp_path / "state", path_env=path, command_timeout=2.0)
    elapsed = time.monotonic() - started
    assert 2.0 <= elapsed < 5.0, elapsed
    assert result.status == Status.UNKNOWN
    unknown = [d for d in result.details if "UNKNOWN, no answer within 2 s" in d]
    assert len(unknown) == 6
    assert "/dev/sdb: reallocated sectors 304" in result.summary
    assert any(d.startswith("/dev/sda ") and ": OK;" in d for d in result.details)
    # Details keep the order smartctl listed the disks in, whatever order they answered in.
    listed = [d.split(":")[0].split(" ")[0] for d in result.details if d.startswith("/dev/")]
    assert listed == [f"/dev/{n}" for n in disks]


def test_the_pool_is_bounded(tmp_path: Path) -> None:
    path = fake_smartctl(tmp_path / "bin", {f"hang{n}": None for n in range(4)})
    started = time.monotonic()
    result = run(
        "disk-smart", "/", tmp_path / "state", path_env=path, command_timeout=1.0, parallel=2
    )
    elapsed = time.monotonic() - started
    assert 2.0 <= elapsed < 4.0, elapsed  # two at a time: two rounds of one timeout
    assert result.status == Status.UNKNOWN and result.summary.count("UNKNOWN") == 4


def test_parallel_must_be_positive(tmp_path: Path) -> None:
    result = run_stackwatch(
        "check",
        "disk-smart",
        "--config",
        str(write_config(tmp_path, "[checks.disk-smart]\nparallel = 0\n")),
    )
    assert "parallel: must be at least 1" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def write_config(directory: Path, text: str) -> Path:
    file = directory / "stackwatch.toml"
    file.write_text(text)
    return file


def test_missing_smartctl_or_no_disks_is_a_skip(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run("disk-smart", "/", tmp_path / "state", path_env=str(empty))
    assert result.skipped and "smartctl is not installed" in result.summary
    path = fake_smartctl(tmp_path / "bin", {})
    result = run("disk-smart", "/", tmp_path / "state", path_env=path)
    assert result.skipped and "found no disks" in result.summary


@pytest.mark.skipif(shutil.which("smartctl") is None, reason="smartmontools not installed")
def test_the_real_smartctl_on_this_machine(tmp_path: Path) -> None:
    result = run("disk-smart", "/", tmp_path / "state")
    assert result.skipped or all("UNKNOWN" not in d for d in result.details)


def test_nagios_plugin_on_its_own(realdata: Path, tmp_path: Path) -> None:
    path = fake_smartctl(tmp_path / "bin", {"sdb": capture(realdata, REALLOCATED)})
    done = run_stackwatch(
        "check",
        "disk-smart",
        "--format",
        "nagios",
        "--state-dir",
        str(tmp_path / "s"),
        env={"PATH": path + ":" + os.environ["PATH"]},
    )
    assert done.returncode == 1, done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith("DISK-SMART WARNING - /dev/sdb: reallocated sectors 304 |")
    assert "'reallocated_sectors_sdb'=304;0;;0" in first


def test_scan_parser() -> None:
    text = json.dumps({"devices": [{"name": "/dev/sda", "type": "sat"}, {"name": "x"}]})
    assert [(d.name, d.type) for d in parse_scan(text)] == [("/dev/sda", "sat")]
    with pytest.raises(SmartParseError):
        parse_scan("[1, 2]")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
KEYS = st.sampled_from(
    [
        "device",
        "smart_status",
        "ata_smart_attributes",
        "nvme_smart_health_information_log",
        "scsi_grown_defect_list",
        "temperature",
        "smartctl",
        "ata_smart_data",
        "nvme_self_test_log",
    ]
)


@given(st.text())
def test_parser_on_arbitrary_text(text: str) -> None:
    with contextlib.suppress(SmartParseError):
        assert isinstance(parse_smart(text), DiskHealth)
    with contextlib.suppress(SmartParseError):
        parse_scan(text)


@given(st.dictionaries(KEYS, JSON), st.sampled_from(["ATA", "NVMe", "SCSI"]))
def test_parser_on_arbitrary_json_shapes(data: dict[str, Any], protocol: str) -> None:
    data.setdefault("device", {"protocol": protocol})
    try:
        disk = parse_smart(json.dumps(data))
    except SmartParseError:
        return
    assert all(isinstance(v, int) for v in disk.signals.values())


# Raw values packed by vendors, and smartctl answers no SMART record looks like -----------------


def ata_record(raw: dict[str, Any]) -> str:
    return json.dumps(
        {
            "device": {"name": "/dev/sda", "protocol": "ATA"},
            "smartctl": {"exit_status": 0},
            "ata_smart_attributes": {
                "table": [{"id": 5, "name": "Reallocated_Sector_Ct", "raw": raw}]
            },
        }
    )


@given(st.integers(min_value=1, max_value=(1 << 32) - 1))
def test_a_raw_count_that_is_a_multiple_of_65536_is_not_zero(multiple: int) -> None:
    # smartctl's default raw48: the string is the whole 48-bit number, and so is the count.
    value = (multiple << 16) & ((1 << 48) - 1) or 1 << 16
    disk = parse_smart(ata_record({"value": value, "string": str(value)}))
    assert disk.signals["reallocated_sectors"] == value
    # Without a string, the whole raw value: never its low 16 bits.
    assert parse_smart(ata_record({"value": value})).signals["reallocated_sectors"] == value


@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))
def test_a_packed_raw_field_reads_the_count_smartctl_documents(
    count: int, second: int, third: int
) -> None:
    # A drive whose database entry says raw16(raw16): smartctl prints "count (second third)".
    value = count | second << 16 | third << 32
    disk = parse_smart(ata_record({"value": value, "string": f"{count} ({third} {second})"}))
    assert disk.signals["reallocated_sectors"] == count


def test_real_drives_raw_strings_agree_with_their_values(realdata: Path) -> None:
    for file in sorted((realdata / "smartctl").glob("*.json")):
        data = json.loads(file.read_text())
        table = (data.get("ata_smart_attributes") or {}).get("table") or []
        raws = {a["id"]: a["raw"] for a in table if a.get("id") in (5, 187, 197, 198)}
        signals = parse_smart(file.read_text()).signals
        for number, raw in raws.items():
            name = {5: "reallocated_sectors", 187: "reported_uncorrectable"}.get(number)
            if name and raw["string"].split(" ")[0].isdigit():
                assert signals[name] == int(raw["string"].split(" ")[0]), file.name


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[" * 100_000 + "]" * 100_000, "JSON nested too deeply to be a SMART record"),
        ('{"a": ' * 5000 + "1" + "}" * 5000, "JSON nested too deeply to be a SMART record"),
        ('{"x": "' + "a" * (9 << 20) + '"}', "more than the 8388608 a SMART record can take"),
        ('{"n": 1' + "0" * 5000 + "}", "not JSON"),
        ("NaN", "not a JSON object"),
    ],
)
def test_answers_no_smart_record_looks_like_are_refused_with_a_reason(
    text: str, reason: str
) -> None:
    with pytest.raises(SmartParseError, match=reason.replace("(", r"\(")):
        parse_smart(text, "/dev/sda")


def test_a_hostile_answer_is_that_disks_unknown_and_no_thread_traceback(
    realdata: Path, tmp_path: Path
) -> None:
    path = fake_smartctl(
        tmp_path / "bin",
        {"sda": capture(realdata, CLEAN_ATA), "sdb": {"smartctl": {"exit_status": 0}}},
    )
    (tmp_path / "bin/sdb.json").write_text("[" * 200_000)
    (tmp_path / "bin/sdb.rc").write_text("0")
    done = run_stackwatch(
        "check", "disk-smart", "--format", "nagios", "--state-dir", str(tmp_path / "s"),
        env={"PATH": path + ":" + os.environ["PATH"]},
    )  # fmt: skip
    assert done.returncode == 3
    assert done.stdout.startswith(
        "DISK-SMART UNKNOWN - /dev/sdb: UNKNOWN, smartctl /dev/sdb: JSON nested too deeply"
    )
    assert done.stderr == ""  # no "Exception in thread smartctl"
    assert "/dev/sda" in done.stdout
