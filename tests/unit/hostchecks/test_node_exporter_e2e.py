"""stackwatch's figures on node_exporter's capture equal node_exporter's own expectations for it.

node_exporter ships a capture of /proc and /sys (collector/fixtures) and the exact output its
collectors give on it (collector/fixtures/e2e-output.txt, compared byte for byte by its
end-to-end test). Where stackwatch reads the same facts from the same capture, its figures must be
the same: a figure that differs is a parser that misreads the kernel. The capture is in
../shared/realdata/node_exporter (commit a7dcc3a01545); each check runs in-process on it through
the engine, with Host(root).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from stackwatch.checks.links import LinksFacts
from stackwatch.core.result import Result
from tests.unit.hostchecks.support import collect, copy_tree, run_engine

# node_exporter's expected figures, copied from prometheus/node_exporter,
# collector/fixtures/e2e-output.txt (Apache-2.0). The capture is of commit a7dcc3a01545, whose
# version of that file was not at hand; the version read is of commit
# 0071b24e3dc50a1fcb0ae1e49879f59a46103aab, whose figures for these collectors are those of the
# capture (the same hwmon chips, the mt7996 radios and hwmon4's freq sensors included). Its EDAC
# output lists csrows 0 and 1 only where the capture also has a csrow2, so the csrows are not
# compared: the controllers' totals and the errors no csrow was given for are.
# Each constant names the metric it comes from.
NODE_NF_CONNTRACK_ENTRIES = 123
NODE_NF_CONNTRACK_ENTRIES_LIMIT = 65536
NODE_NF_CONNTRACK_STAT = {"drop": 0, "early_drop": 0, "insert_failed": 0}
NODE_NETSTAT_TCP_OUTSEGS = 54915039
NODE_NETSTAT_TCP_RETRANSSEGS = 227
# node_edac_correctable_errors_total / node_edac_uncorrectable_errors_total{controller}
NODE_EDAC_CORRECTABLE = {"0": 1}
NODE_EDAC_UNCORRECTABLE = {"0": 5}
# node_edac_csrow_*_errors_total{csrow="unknown"}: the errors the driver could not place
NODE_EDAC_CSROW_UNKNOWN = {"0": (2, 6)}  # (correctable, uncorrectable)
# node_hwmon_temp_celsius{chip,sensor}
NODE_HWMON_TEMP_CELSIUS = {
    ("hwmon4", "temp1"): 55,
    ("hwmon4", "temp2"): 54,
    ("ieee80211_phy0_mt7996_phy0_0", "temp1"): 55,
    ("ieee80211_phy0_mt7996_phy0_1", "temp1"): 56,
    ("ieee80211_phy0_mt7996_phy0_2", "temp1"): 57,
    ("platform_coretemp_0", "temp1"): 55,
    ("platform_coretemp_0", "temp2"): 54,
    ("platform_coretemp_0", "temp3"): 52,
    ("platform_coretemp_0", "temp4"): 53,
    ("platform_coretemp_0", "temp5"): 50,
    ("platform_coretemp_1", "temp1"): 55,
    ("platform_coretemp_1", "temp2"): 54,
    ("platform_coretemp_1", "temp3"): 52,
    ("platform_coretemp_1", "temp4"): 53,
    ("platform_coretemp_1", "temp5"): 50,
}
# node_exporter labels a chip by its device path; stackwatch by the driver's own name.
CHIP_NAMES = {
    "hwmon4": "hwmon4",  # no name file: both fall back to the hwmon entry
    "platform_coretemp_0": "coretemp",
    "platform_coretemp_1": "coretemp",
    "ieee80211_phy0_mt7996_phy0_0": "mt7996_phy0_0",
    "ieee80211_phy0_mt7996_phy0_1": "mt7996_phy0_1",
    "ieee80211_phy0_mt7996_phy0_2": "mt7996_phy0_2",
}
NODE_NETWORK_CARRIER = {"bond0": 1, "eth0": 1}
NODE_NETWORK_SPEED_BYTES = {"eth0": 1.25e08}  # bond0's speed is -1: no figure
NODE_BONDING_SLAVES = {"bond0": 0, "dmz": 2, "int": 2}
NODE_BONDING_ACTIVE = {"bond0": 0, "dmz": 2, "int": 1}


@pytest.fixture(scope="module")
def capture(realdata_module: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The capture as a root: its /sys symlinks (stored as small files) made links again."""
    root = tmp_path_factory.mktemp("node_exporter")
    copy_tree(realdata_module / "node_exporter", root)
    return root


@pytest.fixture(scope="module")
def realdata_module() -> Path:
    from tests.conftest import REALDATA

    if not REALDATA.is_dir():
        pytest.skip(f"real captures not available at {REALDATA}")
    return REALDATA


def metric_values(result: Result, name: str, label: str | None = None) -> dict[str, float]:
    return {
        (m.labels.get(label, "") if label else ""): m.value
        for m in result.metrics
        if m.name == name
    }


def test_conntrack_entries_limit_and_drops(capture: Path, tmp_path: Path) -> None:
    result = run_engine("conntrack", capture, tmp_path)
    entries = next(m for m in result.metrics if m.name == "entries" and not m.labels)
    assert entries.value == NODE_NF_CONNTRACK_ENTRIES
    assert entries.max == NODE_NF_CONNTRACK_ENTRIES_LIMIT
    for name, value in NODE_NF_CONNTRACK_STAT.items():
        assert metric_values(result, f"{name}_total") == {"": value}


def test_tcp_segments_and_retransmits(capture: Path, tmp_path: Path) -> None:
    result = run_engine("tcp-retransmits", capture, tmp_path)
    assert metric_values(result, "out_segments_total") == {"": NODE_NETSTAT_TCP_OUTSEGS}
    assert metric_values(result, "retransmitted_segments_total") == {
        "": NODE_NETSTAT_TCP_RETRANSSEGS
    }


def test_edac_counts_per_controller(capture: Path, tmp_path: Path) -> None:
    result = run_engine("memory-ecc", capture, tmp_path)
    controllers = {f"mc{c}" for c in NODE_EDAC_CORRECTABLE}
    assert metric_values(result, "corrected_total", "controller") == {
        f"mc{c}": v for c, v in NODE_EDAC_CORRECTABLE.items()
    }
    assert metric_values(result, "uncorrected_total", "controller") == {
        f"mc{c}": v for c, v in NODE_EDAC_UNCORRECTABLE.items()
    }
    facts = collect("memory-ecc", capture, tmp_path / "facts")
    unplaced = {mc.name: (mc.ce_noinfo, mc.ue_noinfo) for mc in facts.controllers}
    assert unplaced == {f"mc{c}": v for c, v in NODE_EDAC_CSROW_UNKNOWN.items()}
    assert set(unplaced) == controllers


def test_hwmon_temperatures(capture: Path, tmp_path: Path) -> None:
    result = run_engine("temperature", capture, tmp_path)
    ours = Counter((m.labels["chip"], m.value) for m in result.metrics if m.name == "temperature")
    theirs = Counter(
        (CHIP_NAMES[chip], float(v)) for (chip, _), v in NODE_HWMON_TEMP_CELSIUS.items()
    )
    assert ours == theirs
    assert not any("cannot be read" in d for d in result.details)


def test_carrier_and_speed(capture: Path, tmp_path: Path) -> None:
    facts: LinksFacts = collect("links", capture, tmp_path)
    interfaces = {i.name: i for i in facts.interfaces}
    assert {n: interfaces[n].carrier for n in NODE_NETWORK_CARRIER} == NODE_NETWORK_CARRIER
    speeds = {
        n: i.speed_mbps * 1_000_000 / 8
        for n, i in interfaces.items()
        if n in NODE_NETWORK_CARRIER and i.speed_mbps is not None
    }
    assert speeds == NODE_NETWORK_SPEED_BYTES


def test_bond_members_and_members_up(capture: Path, tmp_path: Path) -> None:
    result = run_engine("links", capture, tmp_path)
    live = {
        m.labels["interface"]: (m.max, m.value)
        for m in result.metrics
        if m.name == "bond_live_members"
    }
    assert live == {
        b: (NODE_BONDING_SLAVES[b], NODE_BONDING_ACTIVE[b]) for b in NODE_BONDING_SLAVES
    }
