"""The links check: /proc/net/dev and /proc/net/bonding parsers, bonds, rates, virtual devices."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackwatch.checks.links import (
    LinksParseError,
    parse_proc_bonding,
    parse_proc_net_dev,
)
from stackwatch.core.result import Status
from tests.unit.hostchecks.support import FIXTURES, copy_tree, run, write

DEV_HEADER = (
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
    "drop fifo colls carrier compressed\n"
)


def dev_line(
    name: str,
    rx_bytes: int,
    rx_packets: int,
    rx_errs: int,
    rx_drop: int,
    tx_bytes: int,
    tx_packets: int,
    frame: int = 0,
) -> str:
    return (
        f"{name:>6}: {rx_bytes} {rx_packets} {rx_errs} {rx_drop} 0 {frame} 0 0 "
        f"{tx_bytes} {tx_packets} 0 0 0 0 0 0\n"
    )


@pytest.fixture
def bond_root(tmp_path: Path) -> Path:
    return copy_tree(FIXTURES / "bond-dead-member", tmp_path / "root")


def test_proc_net_dev_of_this_machine_names_every_interface() -> None:
    counters = parse_proc_net_dev(Path("/proc/net/dev").read_text())
    assert set(os.listdir("/sys/class/net")) <= set(counters)
    lo_bytes = int(Path("/sys/class/net/lo/statistics/rx_bytes").read_text())
    assert counters["lo"]["rx_bytes"] <= lo_bytes  # read first, so never ahead of sysfs
    assert all(len(row) == 16 for row in counters.values())


def test_bonding_file_members_and_lacp_aggregator(bond_root: Path) -> None:
    bond = parse_proc_bonding("bond0", (bond_root / "proc/net/bonding/bond0").read_text())
    assert bond.mode == "IEEE 802.3ad Dynamic link aggregation"
    assert bond.active_aggregator == "1"
    assert [(m.name, m.mii_status, m.speed_mbps, m.link_failures) for m in bond.members] == [
        ("eth0", "up", 10000, 0),
        ("eth1", "down", None, 3),
    ]


def test_not_a_bonding_file_is_a_clear_error() -> None:
    with pytest.raises(LinksParseError, match="not a bonding status file"):
        parse_proc_bonding("bond0", "hello\nworld\n")


def test_bond_with_a_dead_member_warns_and_virtual_devices_are_left_out(
    bond_root: Path, tmp_path: Path
) -> None:
    result = run("links", bond_root, tmp_path / "state")
    assert result.status == Status.WARNING
    assert "bond bond0: member eth1 is down" in result.summary
    assert result.hint and "no redundancy left" in result.hint
    assert any("left out (virtual or ignored): br-int, vnet0" in d for d in result.details)
    watched = {m.labels["interface"] for m in result.metrics if m.name == "up"}
    assert watched == {"bond0", "eth0", "eth1"}  # eth1 is judged through its bond, not alone


def test_bond_without_any_live_member_is_critical(bond_root: Path, tmp_path: Path) -> None:
    text = (bond_root / "proc/net/bonding/bond0").read_text()
    write(
        bond_root,
        "/proc/net/bonding/bond0",
        text.replace("MII Status: up\nSpeed: 10000", "MII Status: down\nSpeed: 10000"),
    )
    result = run("links", bond_root, tmp_path / "state")
    assert result.status == Status.CRITICAL
    assert "no live member" in result.summary


def test_member_up_outside_the_active_aggregator_is_not_live(
    bond_root: Path, tmp_path: Path
) -> None:
    text = (bond_root / "proc/net/bonding/bond0").read_text()
    write(bond_root, "/proc/net/bonding/bond0", text.replace("MII Status: down", "MII Status: up"))
    result = run("links", bond_root, tmp_path / "state")
    assert result.status == Status.WARNING
    assert "outside the active LACP aggregator" in result.summary


def test_virtual_devices_are_watched_when_configured(bond_root: Path, tmp_path: Path) -> None:
    result = run("links", bond_root, tmp_path / "state", config={"watch": ["vnet*", "eth0"]})
    watched = {m.labels["interface"] for m in result.metrics if m.name == "up"}
    assert watched == {"vnet0", "eth0"}
    assert result.status == Status.OK  # vnet0 says "unknown" with carrier 1: working


def test_ignored_down_port_is_not_reported(bond_root: Path, tmp_path: Path) -> None:
    (bond_root / "proc/net/bonding/bond0").unlink()
    # Without /proc/net/bonding the members come from sysfs; eth1 has no carrier.
    result = run("links", bond_root, tmp_path / "state", config={"ignore": ["eth1", "bond0"]})
    assert result.status == Status.OK
    result = run("links", bond_root, tmp_path / "state2")
    assert result.status == Status.WARNING and "member eth1 is down" in result.summary


def test_admin_down_interface_is_not_judged(bond_root: Path, tmp_path: Path) -> None:
    eth1 = bond_root / "sys/class/net/eth1"
    (eth1 / "flags").write_text("0x1802\n")  # IFF_UP cleared: ip link set eth1 down
    result = run("links", bond_root, tmp_path / "state", config={"ignore": ["bond0"]})
    assert result.status == Status.OK
    assert "eth1: administratively down, not judged" in result.details


def _raise_counters(
    root: Path, rx_bytes: int, rx_packets: int, errs: int, drops: int, frame: int = 2
) -> None:
    write(
        root,
        "/proc/net/dev",
        DEV_HEADER
        + dev_line("eth0", rx_bytes, rx_packets, errs, drops, 80_000_000_000, 60_000_000, frame)
        + dev_line("eth1", 5_000_000, 40_000, 0, 0, 4_000_000, 30_000)
        + dev_line("bond0", rx_bytes, rx_packets, errs, drops, 80_000_000_000, 60_000_000, frame),
    )


def test_rates_over_two_runs_and_a_counter_reset(bond_root: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    config = {"ignore": ["eth1"]}
    first = run("links", bond_root, state, now=1000.0, config=config)
    assert any("first run" in d for d in first.details)
    assert not [m for m in first.metrics if m.name == "bits_in"]

    # 60 s later: 75 GB more in (10 Gb/s for 60 s), 1_000_000 packets of which 500 errors.
    _raise_counters(bond_root, 90_000_000_000 + 75_000_000_000, 71_000_000, 512, 3)
    second = run("links", bond_root, state, now=1060.0, config=config)
    bits = {m.labels["interface"]: m.value for m in second.metrics if m.name == "bits_in"}
    assert bits["eth0"] == pytest.approx(10e9)
    used = {m.labels["interface"]: m.value for m in second.metrics if m.name == "bandwidth_in"}
    assert used["eth0"] == pytest.approx(100.0)
    errors = {m.labels["interface"]: m.value for m in second.metrics if m.name == "errors"}
    assert errors["eth0"] == pytest.approx(0.05)  # 500 of 1_000_000 packets
    assert second.status == Status.CRITICAL  # 100% of the link: bandwidth critical
    assert "eth0 in at 100% of its speed" in second.summary
    assert "eth0 errors 0.050%" in second.summary

    # A reboot: counters start again near zero. No rate, never a huge or negative one.
    _raise_counters(bond_root, 1_000, 10, 0, 0, frame=0)
    third = run("links", bond_root, state, now=1120.0, config=config)
    assert not [m for m in third.metrics if m.name in ("bits_in", "errors")]
    assert any("counters went down" in d and "eth0" in d for d in third.details)
    assert third.status == Status.WARNING  # only the bond's dead member is left


def test_realdata_bonds_from_sysfs(realdata: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    copy_tree(realdata / "node_exporter" / "sys", root / "sys")
    assert (root / "sys/class/net/eth0").is_symlink()
    result = run("links", root, tmp_path / "state")
    # bond0 lists no members. The bonding driver says (dmz/slave_eth0/bonding_slave/mii_status
    # ...): dmz has both members up, int has eth5 up and eth1 down. That eth4, eth5 and eth1 have
    # no /sys/class/net entry of their own in this capture says nothing about their links.
    assert result.status == Status.CRITICAL
    assert "bond bond0 has no members" in result.summary
    assert "bond int: member eth1 is down" in result.summary
    assert "bond dmz" not in result.summary and "missing" not in result.summary
    live = {
        m.labels["interface"]: (m.value, m.max)
        for m in result.metrics
        if m.name == "bond_live_members"
    }
    assert live == {"bond0": (0, 0), "dmz": (2, 2), "int": (1, 2)}
    kinds = {d.split(" ")[0]: d for d in result.details if "(" in d and "):" in d}
    assert "(physical)" in kinds["eth0"] and "(bond)" in kinds["dmz"]


def test_this_machine(tmp_path: Path) -> None:
    result = run("links", "/", tmp_path / "state")
    if result.skipped:
        assert "no physical NICs" in result.summary
        return
    assert result.status != Status.UNKNOWN
    for metric in result.metrics:
        if metric.name == "up":
            target = os.readlink(f"/sys/class/net/{metric.labels['interface']}")
            assert "/virtual/" not in target or os.path.isdir(
                f"/sys/class/net/{metric.labels['interface']}/bonding"
            )


@given(st.text())
def test_proc_net_dev_parser_never_crashes(text: str) -> None:
    for row in parse_proc_net_dev(text).values():
        assert all(isinstance(v, int) and v >= 0 for v in row.values())


@given(st.text())
def test_bonding_parser_gives_a_value_or_a_clear_error(text: str) -> None:
    try:
        bond = parse_proc_bonding("bond0", text)
    except LinksParseError:
        return
    assert all(m.name is not None for m in bond.members)
