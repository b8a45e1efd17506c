"""Cost follows the lines read, not the span of their timestamps; a timestamp no date can show
(year 0, year 10000 once the zone is applied) is an unreadable line, counted and skipped."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from stackwatch.weblog.detect import Detector, Driver, Timeline, detect_files
from stackwatch.weblog.formats import get_format, parse_time
from stackwatch.weblog.views import detect_text, when
from tests.conftest import run_stackwatch

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _line(stamp: str, referrer: str = "https://spam.example.net/") -> str:
    return f'192.0.2.1 - - [{stamp}] "GET /q HTTP/1.1" 200 5 "{referrer}" "x"\n'


@settings(max_examples=500, deadline=None)
@given(
    st.integers(0, 9999), st.integers(1, 12), st.integers(0, 32), st.integers(0, 25),
    st.integers(0, 61), st.integers(0, 61), st.sampled_from("+-"), st.integers(0, 2399),
)  # fmt: skip
def test_a_parsed_time_is_one_every_date_routine_can_show(
    year: int, month: int, day: int, hour: int, minute: int, second: int, sign: str, zone: int
) -> None:
    value = f"{day:02d}/{MONTHS[month - 1]}/{year:04d}:{hour:02d}:{minute:02d}:{second:02d} "
    stamp = parse_time(f"{value}{sign}{zone:04d}".encode())
    if stamp is None:
        return
    assert when(stamp)  # datetime can show it
    assert 1 <= datetime.fromtimestamp(stamp, UTC).year <= 9999


def test_out_of_range_times_are_unreadable_lines(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(
        _line("01/Jan/0000:00:00:00 +0000")
        + _line("31/Dec/9999:23:59:59 -1400")  # year 10000 in UTC
        + _line("01/Jan/0001:00:00:00 +1400")  # year 0 in UTC
        + _line("31/Feb/2024:00:00:00 +0000")
        + _line("01/Jan/1970:00:00:01 +0000")
        + _line("01/Dec/2026:00:00:01 +0000")
    )
    findings, stats = detect_files([str(log)], get_format("combined"), ["www.example.com"])
    assert (stats.lines, stats.skipped) == (6, 4)
    assert "6 lines read, 4 unreadable lines skipped" in detect_text(findings, stats)


def test_cost_follows_lines_not_the_span_of_their_times(tmp_path: Path) -> None:
    """Lines jumping between 1970, today and the last second of year 9999: as fast as any lines,
    in detect (with the plot's timeline), in the flood check and in the CLI's JSON."""
    stamps = [
        "01/Jan/1970:00:00:01 +0000",
        "01/Dec/2026:12:00:00 +0000",
        "29/Dec/9999:23:59:59 +0000",
        "02/Jan/0001:00:00:00 +0000",
    ]
    log = tmp_path / "access.log"
    log.write_text("".join(_line(stamps[i % 4]) for i in range(20_000)))
    started = time.monotonic()
    timeline = Timeline([], [])
    _findings, stats = detect_files(
        [str(log)], get_format("combined"), ["www.example.com"], timeline=timeline
    )
    assert stats.lines == 20_000 and stats.skipped == 0
    assert len(timeline.seconds) <= 20_000
    assert time.monotonic() - started < 10
    config = tmp_path / "c.toml"
    config.write_text(f'[weblog]\nlogs = ["{log}"]\nsites = ["www.example.com"]\n')
    checked = run_stackwatch("check", "weblog-flood", "--config", str(config), "--state-dir",
                             str(tmp_path / "state"), "--format", "json", timeout=60)  # fmt: skip
    assert checked.returncode in (0, 2), checked.stdout + checked.stderr
    json.loads(checked.stdout)
    png = tmp_path / "p.png"
    detected = run_stackwatch("weblog", "detect", str(log), "--site", "www.example.com",
                              "--format", "json", "--plot", str(png), timeout=60)  # fmt: skip
    assert detected.returncode in (0, 4), detected.stderr
    assert json.loads(detected.stdout)["lines"] == 20_000
    assert time.monotonic() - started < 60


@settings(max_examples=200, deadline=2000)
@given(st.lists(st.integers(-62_135_596_800 + 86_400, 253_402_214_400), min_size=1, max_size=60))
def test_the_driver_never_steps_through_the_gaps(stamps: list[int]) -> None:
    driver = Driver(Detector(["www.example.com"]))
    driver.feed((float(s), b"192.0.2.1", b"/q", "spam.example.net") for s in stamps)
    driver.judge()
    driver.judge(time.time())
