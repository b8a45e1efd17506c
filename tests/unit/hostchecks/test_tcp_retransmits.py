"""The tcp-retransmits check: /proc/net/snmp and netstat parsers, the first run, rates, resets."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackwatch.checks.sysfs import parse_table_pairs
from stackwatch.checks.tcp_retransmits import TcpParseError, parse_tcp_counters
from stackwatch.core.result import Status
from tests.unit.hostchecks.support import run, run_engine, write

SNMP_TCP = (
    "Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets "
    "CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors\n"
    "Tcp: 1 200 120000 -1 20 2 0 0 0 2040 {out} {retrans} 0 18 0\n"
)
NETSTAT = "TcpExt: SyncookiesSent ListenOverflows ListenDrops\nTcpExt: 0 {over} {drops}\n"


def tree(root: Path, out: int, retrans: int, over: int = 0, drops: int = 0) -> None:
    write(root, "/proc/net/snmp", SNMP_TCP.format(out=out, retrans=retrans))
    write(root, "/proc/net/netstat", NETSTAT.format(over=over, drops=drops))
    write(root, "/proc/sys/net/ipv4/tcp_window_scaling", "1\n")
    write(root, "/proc/sys/net/ipv4/tcp_rmem", "4096\t131072\t6291456\n")
    write(root, "/proc/sys/net/ipv4/tcp_wmem", "4096\t16384\t4194304\n")


def test_realdata_snmp_and_netstat(realdata: Path) -> None:
    proc = realdata / "node_exporter" / "proc" / "net"
    counters = parse_tcp_counters((proc / "snmp").read_text(), (proc / "netstat").read_text())
    assert counters.out_segs > 0 and counters.retrans_segs >= 0
    assert counters.listen_overflows is not None and counters.listen_drops is not None
    tables = parse_table_pairs((proc / "snmp").read_text())
    assert tables["Tcp"]["MaxConn"] == -1  # a signed value in a real capture


def test_this_machines_counters_and_settings(tmp_path: Path) -> None:
    root = tmp_path / "root"
    for path in (
        "proc/net/snmp",
        "proc/net/netstat",
        "proc/sys/net/ipv4/tcp_window_scaling",
        "proc/sys/net/ipv4/tcp_rmem",
        "proc/sys/net/ipv4/tcp_wmem",
    ):
        write(root, "/" + path, Path("/", path).read_text())
    counters = parse_tcp_counters(
        (root / "proc/net/snmp").read_text(), (root / "proc/net/netstat").read_text()
    )
    assert counters.out_segs >= counters.retrans_segs >= 0
    result = run("tcp-retransmits", root, tmp_path / "state")
    assert "since boot (first run)" in result.summary
    assert any(d.startswith("TCP settings: tcp_window_scaling=") for d in result.details)
    assert any("tcp_rmem=" in d and "tcp_wmem=" in d for d in result.details)


def test_first_run_judges_the_lifetime_ratio_and_says_so(tmp_path: Path) -> None:
    tree(tmp_path / "root", out=100_000, retrans=3_000)
    result = run("tcp-retransmits", tmp_path / "root", tmp_path / "state")
    assert result.status == Status.WARNING
    assert result.summary.startswith("3.000% of segments retransmitted since boot (first run)")
    assert result.hint and "ss -ti" in result.hint


def test_rates_since_the_last_run_and_listen_overflows(tmp_path: Path) -> None:
    root, state = tmp_path / "root", tmp_path / "state"
    tree(root, out=1_000_000, retrans=50_000, over=7)  # 5% over the lifetime
    run("tcp-retransmits", root, state, now=1000.0)
    tree(root, out=1_100_000, retrans=50_100, over=7)  # 0.1% in the last minute
    quiet = run("tcp-retransmits", root, state, now=1060.0)
    assert quiet.status == Status.OK
    assert quiet.summary.startswith("0.100% of segments retransmitted in the last 60 s")
    tree(root, out=1_200_000, retrans=60_100, over=67)  # 10%, and 60 overflows in 60 s
    bad = run("tcp-retransmits", root, state, now=1120.0)
    assert bad.status == Status.CRITICAL
    assert "60 listen overflows (1.00/s)" in bad.summary
    rates = {m.name: m.value for m in bad.metrics}
    assert rates["listen_overflows_rate"] == pytest.approx(1.0)
    assert rates["retransmitted"] == pytest.approx(10.0)
    tree(root, out=1_300_000, retrans=60_200, over=127, drops=60)  # overflows and drops
    both = run("tcp-retransmits", root, state, now=1180.0)
    assert "listen overflows" in both.summary and "listen drops" in both.summary
    assert both.hint is not None and both.hint.count("ss -ltn") == 1  # one remedy, said once


def test_counter_reset_falls_back_to_lifetime_ratio(tmp_path: Path) -> None:
    root, state = tmp_path / "root", tmp_path / "state"
    tree(root, out=5_000_000, retrans=100)
    run("tcp-retransmits", root, state, now=1000.0)
    tree(root, out=2_000, retrans=1)  # rebooted
    result = run("tcp-retransmits", root, state, now=1060.0)
    assert "since boot (counters reset since the last run)" in result.summary
    assert any("counters went down" in d for d in result.details)


def test_few_segments_are_not_judged_and_small_buffers_are_named(tmp_path: Path) -> None:
    root = tmp_path / "root"
    tree(root, out=100, retrans=50)
    write(root, "/proc/sys/net/ipv4/tcp_window_scaling", "0\n")
    write(root, "/proc/sys/net/ipv4/tcp_rmem", "4096 87380 174760\n")
    result = run("tcp-retransmits", root, tmp_path / "state")
    assert result.status == Status.OK
    assert any("only 100 segments" in d for d in result.details)
    assert any("tcp_window_scaling is 0" in d for d in result.details)
    assert any("tcp_rmem maximum is 174760" in d for d in result.details)


def test_thresholds_from_configuration(tmp_path: Path) -> None:
    tree(tmp_path / "root", out=100_000, retrans=3_000)
    result = run("tcp-retransmits", tmp_path / "root", tmp_path / "s", config={"warning": "5"})
    assert result.status == Status.OK


def test_missing_snmp_is_a_skip_and_a_broken_one_unknown(tmp_path: Path) -> None:
    assert run("tcp-retransmits", tmp_path, tmp_path / "state").skipped
    # A file that is there but cannot be read is not "this machine has no TCP": UNKNOWN.
    write(tmp_path, "/proc/net/snmp", "Ip: 1 2\n")
    result = run_engine("tcp-retransmits", tmp_path, tmp_path / "state")
    assert not result.skipped and result.status == Status.UNKNOWN
    assert "no Tcp OutSegs/RetransSegs" in result.summary
    shutil.rmtree(tmp_path / "proc")


@given(st.text(), st.one_of(st.none(), st.text()))
def test_parser_gives_counters_or_a_clear_error(snmp: str, netstat: str | None) -> None:
    try:
        counters = parse_tcp_counters(snmp, netstat)
    except TcpParseError:
        return
    assert isinstance(counters.out_segs, int)
