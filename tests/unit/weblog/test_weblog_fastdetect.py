"""Detection counted per second (fastdetect.py) finds what detection record by record finds:
the same floods with the same evidence, the same late requests, the same plot, on logs that step
back in time, carry unreadable times and hostile lines, in blocks of any size."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackwatch.core import record
from stackwatch.weblog import detect, fastdetect
from stackwatch.weblog.detect import DetectOptions, Finding, Timeline, detect_files
from stackwatch.weblog.formats import get_format
from stackwatch.weblog.reader import ScanStats

from .logdata import iframe_flood, line, news_spike, normal_traffic

T0 = 1_700_000_000.0
SITES = ["www.example.com"]
ODD = [
    "junk without fields\n",
    '192.0.2.1 - - [99/Foo/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "https://x.example/" "a"\n',
    line(T0, referrer='https://esc.example.net/\\"q'),
    line(T0, referrer="https://UPPER.Example.NET:8080/"),
    line(T0, "2001:db8::1", "/forum/x.php", "https://[2001:db8::2]/"),
    "\n",
]


def _log(seed: int, jitter: int, late_share: float) -> list[str]:
    """A day's traffic with two floods, lines stepping back by up to ``jitter`` seconds, some
    far back (late beyond any horizon), odd lines among them."""
    rng = random.Random(seed)
    lines = normal_traffic(T0, 400, 3) + iframe_flood(T0 + 150, 40, per_second=30)
    lines += iframe_flood(T0 + 250, 30, host="b.spam.example.org", per_second=25)
    lines += news_spike(T0 + 100, 20, per_second=10)
    keyed = sorted(lines, key=lambda x: x.split("[")[1][:20])
    out = []
    for n, text in enumerate(keyed):
        back = rng.randrange(jitter + 1) if jitter else 0
        if rng.random() < late_share:
            back += 200
        out.append((n + back * 9, text))  # written after newer requests
    out.sort(key=lambda pair: pair[0])
    body = [text for _, text in out]
    for odd in ODD:
        body.insert(rng.randrange(len(body)), odd)
    return body


def _seen(findings: list[Finding], stats: ScanStats, timeline: Timeline) -> object:
    detail = [(f.as_dict(), f.seconds, sorted(f.ip_set), list(f.paths.items())) for f in findings]
    return detail, (stats.lines, stats.matched, stats.late, stats.too_long), timeline


def _both_ways(log: Path, options: DetectOptions) -> list[object]:
    """What detect sees of ``log`` counting per second (fast), then record by record."""
    seen = []
    for fast in (True, False):
        timeline = Timeline([], [])
        findings, stats = detect_files(
            [str(log)], get_format("combined"), SITES, options, timeline, fast=fast
        )
        seen.append(_seen(findings, stats, timeline))
    return seen


@settings(max_examples=12, deadline=None)
@given(
    st.integers(0, 1000), st.sampled_from([0, 3, 40]), st.sampled_from([0.0, 0.01]),
    st.sampled_from([4096, 65536, 4 << 20]), st.sampled_from([30.0, 300.0]),
)  # fmt: skip
def test_per_second_counting_finds_what_records_find(
    tmp_path_factory: pytest.TempPathFactory, seed: int, jitter: int, late_share: float,
    block: int, reorder: float,
) -> None:  # fmt: skip
    log = tmp_path_factory.mktemp("log") / "access.log"
    log.write_text("".join(_log(seed, jitter, late_share)))
    options = record.replace(DetectOptions(), reorder=reorder)
    old = detect.BLOCK
    detect.BLOCK = block
    try:
        seen = _both_ways(log, options)
    finally:
        detect.BLOCK = old
    assert seen[0] == seen[1]


def test_floods_are_found_counting_per_second(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("".join(_log(1, 3, 0.0)))
    findings, stats = detect_files([str(log)], get_format("combined"), SITES)
    assert {f.host for f in findings} == {"seo-spam.example", "example.org"}  # by site
    (site,) = [f for f in findings if f.host == "example.org"]
    assert dict(site.hosts) == {"b.spam.example.org": site.requests}
    assert stats.skipped == 3  # junk, the unreadable time, the empty line


def test_late_requests_are_counted_as_records_count_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(detect, "BLOCK", 8192)
    log = tmp_path / "access.log"
    log.write_text("".join(_log(2, 40, 0.01)))
    options = record.replace(DetectOptions(), reorder=30.0)
    fast = detect_files([str(log)], get_format("combined"), SITES, options)[1]
    slow = detect_files([str(log)], get_format("combined"), SITES, options, fast=False)[1]
    assert fast.late == slow.late > 0


def test_worker_processes_pick_what_one_process_picks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big file is picked block by block by forked workers; the blocks, and so the late
    requests and findings, are those of one reader."""
    monkeypatch.setattr(fastdetect, "PARALLEL_MIN", 1)
    monkeypatch.setattr(fastdetect.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(detect, "BLOCK", 8192)
    log = tmp_path / "access.log"
    log.write_text("".join(_log(3, 40, 0.01)))
    options = record.replace(DetectOptions(), reorder=30.0)
    seen = _both_ways(log, options)
    assert seen[0] == seen[1]
    assert seen[0][1][2] > 0  # late requests among them
    assert len(seen[0][0]) == 2


def test_worker_processes_pick_a_gzip_log_as_one_process_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big gzip log is decompressed and read here and its blocks are picked by the workers:
    the same findings, late requests and plot as record by record; a broken one is named."""
    import gzip

    from stackwatch.weblog.reader import LogReadError

    monkeypatch.setattr(fastdetect, "PARALLEL_MIN", 1)
    monkeypatch.setattr(fastdetect.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(detect, "BLOCK", 8192)
    log = tmp_path / "access.log.gz"
    log.write_bytes(gzip.compress("".join(_log(4, 40, 0.01)).encode()))
    options = record.replace(DetectOptions(), reorder=30.0)
    seen = _both_ways(log, options)
    assert seen[0] == seen[1]
    assert seen[0][1][2] > 0 and len(seen[0][0]) == 2
    cut = tmp_path / "cut.log.gz"
    cut.write_bytes(log.read_bytes()[:-300])
    with pytest.raises(LogReadError, match=str(cut)):
        detect_files([str(cut)], get_format("combined"), SITES, options)
