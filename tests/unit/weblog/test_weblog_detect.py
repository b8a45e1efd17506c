"""Detection: an iframe flood is found with its evidence; a news spike, search engines and the
site's own Referers never are."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackwatch.core import record
from stackwatch.weblog import detect
from stackwatch.weblog.detect import (
    DetectOptions,
    Detector,
    Driver,
    Parser,
    Record,
    Timeline,
    detect_files,
    is_own_host,
    is_search_engine,
    merge_by_time,
)
from stackwatch.weblog.formats import get_format
from stackwatch.weblog.reader import streams
from tests.conftest import run_stackwatch

from .logdata import iframe_flood, line, news_spike, normal_traffic

T0 = 1_700_000_000.0
SITES = ["www.example.com"]


def write(tmp_path: Path, lines: list[str], name: str = "access.log") -> str:
    path = tmp_path / name
    path.write_text("".join(sorted(lines, key=lambda x: x.split("[")[1][:20])))
    return str(path)


def test_iframe_flood_is_found_with_evidence(tmp_path: Path) -> None:
    lines = normal_traffic(T0, 600) + iframe_flood(T0 + 300, 60)
    timeline = Timeline([], [])
    findings, stats = detect_files(
        [write(tmp_path, lines)], get_format("combined"), SITES, timeline=timeline
    )
    assert stats.skipped == 0
    assert [f.host for f in findings] == ["seo-spam.example"]
    (flood,) = findings
    assert T0 + 300 <= flood.first_seen <= T0 + 302
    assert T0 + 355 <= flood.last_seen <= T0 + 360
    assert flood.ips == 20
    assert flood.requests >= 0.9 * 60 * 40
    assert flood.peak_rate >= 30
    assert flood.paths.most_common(1)[0][0] == "/forum/search.php"
    assert sum(timeline.totals) == len(lines)


def test_news_spike_search_engines_and_own_site_are_not_floods(tmp_path: Path) -> None:
    lines = normal_traffic(T0, 600) + news_spike(T0 + 200, 60)
    # Heavy traffic from a search engine and from the site's own pages: never flagged.
    for host in ("www.google.com", "www.google.co.uk", "yandex.ru", "static.example.com"):
        lines += iframe_flood(T0 + 400, 30, host=host)
    findings, _ = detect_files([write(tmp_path, lines)], get_format("combined"), SITES)
    assert findings == []


def test_flood_of_static_files_or_from_few_ips_is_not_a_referer_flood(tmp_path: Path) -> None:
    lines = normal_traffic(T0, 300)
    for s in range(60):  # one client hammering: an IP problem, not a Referer flood
        lines += [line(T0 + 100 + s, "203.0.113.9", "/search.php", "https://x.example.net/")] * 30
    for s in range(60):  # hot-linked images: static, cheap
        lines += [
            line(T0 + 200 + s, f"203.0.113.{i}", "/img/cat.jpg", "https://forum.example.net/")
            for i in range(1, 41)
        ]
    findings, _ = detect_files([write(tmp_path, lines)], get_format("combined"), SITES)
    assert findings == []


def test_a_referrer_that_always_sends_this_much_is_its_own_baseline(tmp_path: Path) -> None:
    steady = iframe_flood(T0, 1200, host="partner.example.org", per_second=10)
    lines = normal_traffic(T0, 1200) + steady
    options = DetectOptions(spike_factor=3.0)
    findings, _ = detect_files([write(tmp_path, lines)], get_format("combined"), SITES, options)
    assert findings == []


def test_search_engine_and_own_host_names() -> None:
    for host in ("www.google.com", "google.de", "www.google.co.uk", "duckduckgo.com",
                 "search.yahoo.co.jp", "cn.bing.com", "yandex.ru", "search.brave.com"):  # fmt: skip
        assert is_search_engine(host), host
    for host in ("google.attacker.com", "notgoogle.com", "attacker.com", "bing.evil.net", "com"):
        assert not is_search_engine(host), host
    assert is_search_engine("searx.example.org", ["searx"]) is False
    assert is_search_engine("searx.org", ["searx"])
    assert is_own_host("www.example.com", SITES) and is_own_host("cdn.example.com", SITES)
    assert not is_own_host("example.com.evil.net", SITES)


def test_separate_logs_are_merged_by_time(tmp_path: Path) -> None:
    """access.log and ssl_access.log of one site, their lines interleaved in time and a flood
    split across both: judged as one stream, the same as one log holding every line."""
    normal = normal_traffic(T0, 600)
    flood = iframe_flood(T0 + 300, 60)
    plain = write(tmp_path, normal[0::2] + flood[0::2], "access.log")
    ssl = write(tmp_path, normal[1::2] + flood[1::2], "ssl_access.log")
    whole = write(tmp_path, normal + flood, "whole.log")
    fmt = get_format("combined")
    findings, stats = detect_files([plain, ssl], fmt, SITES)
    assert stats.lines == len(normal) + len(flood) and stats.late == 0
    (found,) = findings
    assert found.host == "seo-spam.example"
    assert T0 + 300 <= found.first_seen <= T0 + 302
    assert T0 + 355 <= found.last_seen <= T0 + 360
    assert 30 <= found.peak_rate <= 40 and found.ips == 20
    (reference,), _ = detect_files([whole], fmt, SITES)
    assert found.as_dict() == reference.as_dict()
    assert found.seconds == reference.seconds


def test_many_logs_and_a_rotated_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Five vhost logs (small merge blocks) and a rotated set read as one stream, oldest first."""
    monkeypatch.setattr(detect, "BLOCK", 4096)
    monkeypatch.setattr(detect, "MIN_MERGE_BLOCK", 1024)
    normal = normal_traffic(T0, 400)
    flood = iframe_flood(T0 + 200, 60)
    lines = normal + flood
    paths = [write(tmp_path, lines[n::5], f"vhost{n}.log") for n in range(5)]
    (found,), stats = detect_files(paths, get_format("combined"), SITES)
    assert stats.late == 0 and stats.lines == len(lines)
    assert found.requests >= 0.9 * len(flood)
    old = sorted(lines[0::2], key=lambda x: x.split("[")[1][:20])
    write(tmp_path, old[: len(old) // 2], "access.log.2")
    write(tmp_path, old[len(old) // 2 :], "access.log.1")
    write(tmp_path, [], "access.log")
    write(tmp_path, lines[1::2], "ssl_access.log")
    pattern = str(tmp_path / "*access.log*")
    assert [[Path(p).name for p in s] for s in streams([pattern])] == [
        ["access.log.2", "access.log.1", "access.log"],
        ["ssl_access.log"],
    ]
    (found,), stats = detect_files([pattern], get_format("combined"), SITES)
    assert stats.late == 0 and stats.lines == len(lines)
    assert found.requests >= 0.9 * len(flood)


@given(
    st.lists(st.lists(st.integers(0, 50), max_size=40), max_size=5),
    st.lists(st.integers(1, 7), min_size=1, max_size=5),
)
def test_merge_by_time_keeps_every_record_in_order(
    times: list[list[int]], sizes: list[int]
) -> None:
    runs = [sorted(float(t) for t in ts) for ts in times]

    def blocks(n: int, run: list[float]) -> Iterator[list[Record]]:
        size = sizes[n % len(sizes)]
        for i in range(0, len(run), size):
            yield [(t, b"%d" % n, b"/", None) for t in run[i : i + size]]

    merged = [r for block in merge_by_time(blocks(n, r) for n, r in enumerate(runs)) for r in block]
    assert [r[0] for r in merged] == sorted(t for run in runs for t in run)
    assert sorted(merged) == sorted(
        r for n, run in enumerate(runs) for b in blocks(n, run) for r in b
    )


def test_cli_on_two_interleaved_logs(tmp_path: Path) -> None:
    normal = normal_traffic(T0, 300)
    flood = iframe_flood(T0 + 200, 30)
    plain = write(tmp_path, normal[0::2] + flood[0::2], "access.log")
    ssl = write(tmp_path, normal[1::2] + flood[1::2], "ssl_access.log")
    args = ("weblog", "detect", plain, ssl, "--site", "www.example.com")
    result = run_stackwatch(*args, "--format", "json")
    assert result.returncode == 4, result.stderr  # FOUND: a flood
    doc = json.loads(result.stdout)
    assert doc["late"] == 0 and doc["lines"] == len(normal) + len(flood)
    assert [f["peak_rate"] for f in doc["findings"]] == [40.0]
    text = run_stackwatch(*args).stdout
    assert "peak 40.0 req/s, 20 client IPs" in text and "late" not in text


def test_the_driver_judges_at_each_new_second_and_leaves_out_minutes_late_lines() -> None:
    driver = Driver(Detector(SITES, DetectOptions(window=5, min_history=0)))
    parser = Parser(get_format("combined"))
    driver.feed(parser.parse("".join(iframe_flood(T0, 6)).encode()))
    # The sixth second began: the window of the five before was judged, the flood flagged.
    assert list(driver.detector.findings) == ["seo-spam.example"]
    driver.feed(parser.parse(line(T0 - 20).encode()))  # late: counted in the oldest second
    driver.feed(parser.parse(line(T0 - 600).encode()))  # minutes late: left out
    assert (driver.detector.late, driver.dropped, driver.late_requests) == (1, 1, 2)
    (flood,) = driver.judge(T0 + 6)  # the clock's time: the window T0+2 .. T0+6
    assert flood.host == "seo-spam.example" and flood.rate == 4 * 40 / 5


def test_detect_and_the_check_share_one_schedule(tmp_path: Path) -> None:
    """Two bursts nine seconds apart fit in one 10 s window only when it ends on the second
    one: judged at every second, detect and the weblog-flood check both find that peak."""
    now = int(time.time())
    flood = []
    for s in range(40):
        flood += iframe_flood(now - 40 + s, 1, per_second=200 if s in (11, 20) else 20)
    log = write(tmp_path, normal_traffic(now - 180, 180) + flood, "www.example.com-access.log")
    found = run_stackwatch("weblog", "detect", log, "--site", "www.example.com", "--format", "json")
    assert found.returncode == 4, found.stderr
    (finding,) = json.loads(found.stdout)["findings"]
    assert finding["peak_rate"] == 56.0  # (200 + 200 + 8 * 20) / 10
    config = tmp_path / "c.toml"
    config.write_text(f'[weblog]\nlogs = ["{log}"]\nsites = ["www.example.com"]\n')
    checked = run_stackwatch("check", "weblog-flood", "--config", str(config), "--state-dir",
                             str(tmp_path / "state"), "--format", "json")  # fmt: skip
    (doc,) = json.loads(checked.stdout)["checks"]
    assert checked.returncode == 2 and "peak 56.0 req/s" in str(doc["details"]), doc


def test_detect_text_is_safe_for_the_terminal_and_the_shell(tmp_path: Path) -> None:
    """A flooding Referer host holding shell syntax and an escape sequence (as Apache logs it):
    shown made visible; no rule can name it, so no block command is suggested, and the report
    says why (issue 10: a suggested command names only hosts a rule accepts, shell-quoted)."""
    host = "x$(reboot)\\x1b[2j.example.net"
    log = write(tmp_path, normal_traffic(T0, 300) + iframe_flood(T0 + 120, 60, host=host))
    result = run_stackwatch("weblog", "detect", log, "--site", "www.example.com")
    assert result.returncode == 4, result.stderr
    assert "\x1b" not in result.stdout
    assert "FLOOD Referer site x$(reboot)\\x1b[2j.example.net:" in result.stdout
    assert result.stdout.splitlines()[-1].startswith(
        "cannot block Referer site x$(reboot)\\x1b[2j.example.net: "
    )
    assert "block with" not in result.stdout


def test_lines_stepping_back_within_the_reorder_horizon_are_not_late(tmp_path: Path) -> None:
    """Apache stamps a request with its start and writes it at its end: half the lines step
    back by up to 59 s. Put back in order, each is counted in its own second, none is late,
    and the findings are those of the same log written in time order."""
    lines = sorted(normal_traffic(T0, 600) + iframe_flood(T0 + 300, 60), key=_stamp_of)
    stepped = list(lines)
    for n in range(0, len(stepped) - 300, 600):  # a slow request written 59 s after it began
        stepped.insert(n + 300, stepped.pop(n))
    fmt = get_format("combined")
    written = tmp_path / "stepped.log"
    written.write_text("".join(stepped))  # as written, not sorted as write() does
    findings, stats = detect_files([str(written)], fmt, SITES)
    assert stats.late == 0 and stats.lines == len(lines)
    reference, _ = detect_files([write(tmp_path, lines, "ordered.log")], fmt, SITES)
    assert [f.as_dict() for f in findings] == [f.as_dict() for f in reference]
    assert [f.seconds for f in findings] == [f.seconds for f in reference]
    tight = record.replace(DetectOptions(), reorder=0)
    _, stats = detect_files([str(written)], fmt, SITES, tight)
    assert stats.late > 0  # without the horizon, the same lines are late


def _stamp_of(text: str) -> float:
    from stackwatch.weblog.formats import parse_time

    stamp = parse_time(text.split("[", 1)[1].split("]", 1)[0].encode())
    assert stamp is not None
    return stamp
