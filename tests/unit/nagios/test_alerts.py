"""Alert analytics: what the report counts, archives (.gz, cut ones), the order of files, the
JSON a program reads, the picture and the StatsD datagrams."""

from __future__ import annotations

import gzip
import json
import socket
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackwatch.core.host import Host
from stackwatch.nagios import alerts_tally as tally_module
from stackwatch.nagios.alerts import (
    CellFinder,
    ServiceRow,
    Tally,
    Where,
    read_logs,
    summarize,
    tally_logs,
)
from stackwatch.nagios.alerts_statsd import send_counters, statsd_lines
from stackwatch.nagios.alerts_view import json_data, to_text
from stackwatch.render.statsd import MAX_DATAGRAM
from tests.conftest import run_stackwatch

T0 = 1_700_000_000  # 2023-11-14 22:13:20 UTC


def sa(t: int, host: str, service: str, state: str, kind: str = "HARD", out: str = "x") -> str:
    return f"[{t}] SERVICE ALERT: {host};{service};{state};{kind};1;{out}"


LOG = [
    # Load on cmp-c0001-001: a problem over in 2 minutes (by itself), then one acknowledged.
    sa(T0, "cmp-c0001-001", "Load", "WARNING", "SOFT", "load 5; 4; 3"),
    sa(T0 + 60, "cmp-c0001-001", "Load", "CRITICAL", "HARD"),
    f"[{T0 + 61}] SERVICE NOTIFICATION: ops;cmp-c0001-001;Load;CRITICAL;notify;load 9",
    sa(T0 + 120, "cmp-c0001-001", "Load", "OK", "HARD"),
    sa(T0 + 3600, "cmp-c0001-001", "Load", "CRITICAL", "HARD"),
    f"[{T0 + 3660}] EXTERNAL COMMAND: ACKNOWLEDGE_SVC_PROBLEM;cmp-c0001-001;Load;2;1;1;al;on it",
    sa(T0 + 3700, "cmp-c0001-001", "Load", "OK", "HARD"),
    # NTP on another cell: a long problem (not within the window), and flapping.
    sa(T0 + 100, "cmp-c0002-001", "NTP", "CRITICAL", "SOFT"),
    f"[{T0 + 200}] SERVICE FLAPPING ALERT: cmp-c0002-001;NTP;STARTED; flapping (30% change)",
    sa(T0 + 7200, "cmp-c0002-001", "NTP", "OK", "SOFT"),
    f"[{T0 + 300}] HOST ALERT: cmp-c0002-001;DOWN;SOFT;1;PING CRITICAL",
    f"[{T0 + 400}] CURRENT SERVICE STATE: cmp-c0001-001;Load;OK;HARD;1;fine",
    "[1700000500] SERVICE ALERT: cmp-c0001-001;Load;CRIT",  # cut in half
    f"[{T0 + 500}] LOG ROTATION: DAILY",
]


def report_of(
    lines: list[str], window: float = 600, groups: dict[str, tuple[str, ...]] | None = None
):  # type: ignore[no-untyped-def]
    tally = Tally(window)
    tally.add_text("\n".join(lines) + "\n", "nagios.log")
    return summarize(tally, Where(CellFinder(r"c\d{4}"), groups or {}))


def test_counts_per_service() -> None:
    report = report_of(LOG)
    rows = {(r.host, r.service): r for r in report.services}
    load = rows[("cmp-c0001-001", "Load")]
    assert (load.alerts, load.hard, load.soft, load.notifications, load.flapping) == (5, 4, 1, 1, 0)
    assert (load.problems, load.recovered_soon) == (2, 1)  # the acknowledged one is not counted
    assert load.states == {"CRITICAL": 2, "OK": 2, "WARNING": 1}
    assert load.recovered_share == 0.5
    ntp = rows[("cmp-c0002-001", "NTP")]
    assert (ntp.alerts, ntp.soft, ntp.flapping, ntp.problems, ntp.recovered_soon) == (2, 2, 1, 1, 0)
    assert report.services[0].service == "Load"  # chattiest first
    assert [(h.host, h.alerts) for h in report.hosts] == [("cmp-c0002-001", 1)]
    assert report.lines == len(LOG) and report.malformed == 1
    assert report.examples == (("nagios.log", 13, "SERVICE ALERT with 3 fields, expected 6"),)


def test_what_when_where() -> None:
    report = report_of(LOG, groups={"cmp-c0001-001": ("compute",)})
    assert dict(report.by_service) == {"Load": 5, "NTP": 2}
    assert dict(report.by_cell) == {"c0001": 5, "c0002": 3}
    assert dict(report.by_hostgroup) == {"compute": 5}
    assert sum(report.by_hour) == 8 and report.by_hour[22] == 5  # T0 is 22:13 UTC
    assert dict(report.by_day) == {"2023-11-14": 7, "2023-11-15": 1}
    assert report.timeline[0] == ((T0 // 3600) * 3600, 5)


def test_a_longer_window_counts_the_slow_recovery() -> None:
    rows = {(r.host, r.service): r for r in report_of(LOG, window=3 * 3600).services}
    assert rows[("cmp-c0002-001", "NTP")].recovered_soon == 1


def test_json_holds_the_documented_fields() -> None:
    data = json.loads(json.dumps(json_data(report_of(LOG))))
    assert data["lines"] == len(LOG) and data["malformed"] == 1
    first = data["services"][0]
    assert {"host", "service", "alerts", "hard", "soft", "notifications", "flapping"} <= set(first)
    assert first["host"] == "cmp-c0001-001" and first["alerts"] == 5
    assert data["malformed_examples"][0]["line"] == 13


def test_text_shows_names_from_the_log_safely() -> None:
    text = to_text(report_of([sa(T0, "evil\x1b[31mhost", "Load", "CRITICAL")]))
    assert "\x1b" not in text and "evil\\x1b[31mhost" in text


def test_archives_gzip_cut_and_ordered_by_time(tmp_path: Path) -> None:
    older = "\n".join([sa(T0, "h1", "Load", "CRITICAL"), sa(T0 + 60, "h1", "Load", "OK")]) + "\n"
    (tmp_path / "nagios-11-14-2023-00.log.gz").write_bytes(gzip.compress(older.encode()))
    cut = gzip.compress(
        ("\n".join(sa(T0 + 100 + i, "h2", "Disk", "OK") for i in range(500))).encode()
    )
    (tmp_path / "nagios-11-13-2023-00.log.gz").write_bytes(cut[: len(cut) // 2])
    (tmp_path / "nagios.log").write_text(sa(T0 + 9000, "h1", "Load", "CRITICAL") + "\n")
    paths = [
        str(tmp_path / n)
        for n in ("nagios.log", "nagios-11-14-2023-00.log.gz", "nagios-11-13-2023-00.log.gz")
    ]
    logs = read_logs(Host(), paths)
    assert Path(logs[0].path).name == "nagios-11-14-2023-00.log.gz"
    assert [log.cut for log in logs] == [False, True, False]
    tally = Tally(600)
    for log in logs:
        tally.add_log(log)
    load = tally.services[("h1", "Load")]
    assert (load.problems, load.recovered_soon, load.open_since) == (2, 1, T0 + 9000)
    assert 0 < tally.services[("h2", "Disk")].alerts < 500


def test_plot_with_dollars_and_control_characters_in_labels(tmp_path: Path) -> None:
    from stackwatch.nagios.alerts_plot import plot_alerts

    lines = [
        sa(T0 + i * 600, "h$1", "cost $5 $$ \\$", "CRITICAL" if i % 2 else "OK") for i in range(30)
    ]
    png = tmp_path / "alerts.png"
    plot_alerts(str(png), report_of(lines), "alerts of $HOST\x07")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_statsd_lines_are_safe_and_datagrams_bounded() -> None:
    lines = [
        sa(T0 + i, f"cmp-c{i % 7:04d}-{i:04d}", f"svc.{i % 13} x", "CRITICAL") for i in range(2000)
    ]
    names = statsd_lines(report_of(lines), "nagios.alerts")
    assert "nagios.alerts.service.svc_0_x.alerts:154|c" in names
    assert all(line.count(":") == 1 and "\n" not in line for line in names)
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    with receiver:
        sent = send_counters(report_of(lines), f"127.0.0.1:{receiver.getsockname()[1]}", "n")
        got = [receiver.recv(65535) for _ in range(sent)]
    assert sent > 1 and all(len(d) <= MAX_DATAGRAM for d in got)
    assert sum(len(d.split(b"\n")) for d in got) == len(statsd_lines(report_of(lines), "n"))


def test_cli_alerts_json_and_errors(tmp_path: Path) -> None:
    log = tmp_path / "nagios.log"
    log.write_text("\n".join(LOG) + "\n")
    done = run_stackwatch("nagios", "alerts", str(log), "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["services"][0]["alerts"] == 5
    missing = run_stackwatch("nagios", "alerts", str(tmp_path / "nope.log"))
    assert missing.returncode == 2 and "nope.log: no such log" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad = run_stackwatch("nagios", "alerts", str(log), "--recovery-window", "soon")
    assert bad.returncode == 2 and "--recovery-window" in bad.stderr
    globbed = run_stackwatch("nagios", "alerts", str(tmp_path / "nagios*.log"), "--limit", "3")
    assert globbed.returncode == 0 and "chattiest services" in globbed.stdout


EVENT_LINES = [
    "SERVICE ALERT: h1;Load;CRITICAL;SOFT;1;x",
    "SERVICE ALERT: h1;Load;CRITICAL;HARD;2;x",
    "SERVICE ALERT: h1;Load;OK;HARD;1;x",
    "SERVICE ALERT: h2;NTP;WARNING;SOFT;1;x",
    "SERVICE ALERT: h2;NTP;OK;SOFT;1;x",
    "HOST ALERT: h1;DOWN;HARD;1;x",
    "HOST ALERT: h1;UP;HARD;1;x",
    "SERVICE NOTIFICATION: ops;h1;Load;ACKNOWLEDGEMENT (CRITICAL);n;x;al;c",
    "EXTERNAL COMMAND: ACKNOWLEDGE_SVC_PROBLEM;h2;NTP;2;1;1;al;c",
    "SERVICE FLAPPING ALERT: h1;Load;STARTED;x",
    "SERVICE ALERT: h1;Load;CRIT",
]
EVENTS = st.sampled_from(EVENT_LINES)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 400), EVENTS), max_size=40),
    st.lists(st.integers(0, 40), max_size=4),
)
def test_a_log_counted_in_parts_and_joined_is_counted_as_in_one_pass(
    steps: list[tuple[int, str]], cuts: list[int]
) -> None:
    """tally_logs cuts a large log into parts counted by several processes: joining them must
    give what one pass gives, problems that span a cut included."""
    when, lines = T0, []
    for gap, event in steps:
        when += gap
        lines.append(f"[{when}] {event}")
    whole = Tally(300)
    whole.add_text("".join(f"{line}\n" for line in lines), "nagios.log")
    joined, start = Tally(300), 0
    for cut in [*sorted(c for c in cuts if c <= len(lines)), len(lines)]:
        part = Tally(300)
        part.add_text("".join(f"{line}\n" for line in lines[start:cut]), "nagios.log", start + 1)
        joined.absorb(part)
        start = cut
    assert summarize(joined) == summarize(whole)
    for table in ("services", "hosts"):
        assert _ends(getattr(whole, table)) == _ends(getattr(joined, table))


def _ends(tallies: dict[object, ServiceRow]) -> dict[object, tuple[int, bool | None]]:
    """Where each problem stands at the end (an acknowledgement matters while one is open)."""
    return {
        key: (t.open_since, t.acknowledged if t.open_since >= 0 else None)
        for key, t in tallies.items()
    }


@pytest.mark.parametrize("open_from", [None, 0])  # read whole first; each process its part
def test_tally_logs_in_processes_equals_one_pass(tmp_path: Path, open_from: int | None) -> None:
    import random

    rng = random.Random(7)
    # malformed lines (the last of EVENT_LINES) only in the last part: their line numbers
    # count the lines of the parts before
    lines = [f"[{T0 + i * 7}] {rng.choice(EVENT_LINES[:-1])}" for i in range(15000)]
    lines += [f"[{T0 + i * 7}] {rng.choice(EVENT_LINES)}" for i in range(15000, 20000)]
    log = tmp_path / "nagios.log"
    log.write_text("\n".join(lines) + "\n")
    one = tally_logs(read_logs(Host(), [str(log)]), 300, workers=1)
    tally_module.PARALLEL_BYTES, saved = 0, tally_module.PARALLEL_BYTES
    try:
        several = tally_logs(read_logs(Host(), [str(log)], open_from), 300, workers=3)
    finally:
        tally_module.PARALLEL_BYTES = saved
    assert summarize(several) == summarize(one)
    assert several.malformed == one.malformed > 0
    assert several.examples == one.examples and max(n for _, n, _ in one.examples) > 10000


def test_states_count_hard_and_soft_alerts_together() -> None:
    lines = [sa(T0, "h", "x", "CRITICAL", "SOFT"), sa(T0 + 1, "h", "x", "CRITICAL", "HARD")]
    row = report_of([*lines, sa(T0 + 2, "h", "x", "OK", "SOFT")]).services[0]
    assert dict(row.states) == {"CRITICAL": 2, "OK": 1} and (row.hard, row.soft) == (1, 2)


def test_a_name_seen_only_in_a_notification_after_counting_is_counted_too() -> None:
    """The count is made again when names were added since, events or not."""
    tally = Tally(300)
    tally.add_text(f"{sa(T0, 'h1', 'Load', 'CRITICAL', 'HARD')}\n", "nagios.log")
    assert len(tally.services) == 1
    tally.add_text(f"[{T0 + 10}] SERVICE NOTIFICATION: c;h2;Disk;CRITICAL;cmd;x\n", "nagios.log")
    assert tally.services[("h2", "Disk")].notifications == 1
