"""The follow loop end to end (no web server): lines written while the log is rotated are each
read exactly once, a flood is reported and blocked, and a restart resumes from the saved offsets."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from stackwatch.core.host import Host
from stackwatch.core.state import StateStore
from stackwatch.weblog.apply import Blocker
from stackwatch.weblog.detect import DetectOptions
from stackwatch.weblog.formats import get_format
from stackwatch.weblog.live import follow
from tests.conftest import run_stackwatch

from .logdata import iframe_flood, line, news_spike, normal_traffic

OPTIONS = DetectOptions(window=5, min_history=0)


def test_follow_counts_every_line_once_across_rotation_and_blocks_the_flood(
    tmp_path: Path,
) -> None:
    log = tmp_path / "access.log"
    log.write_text("")
    rules = tmp_path / "rules.conf"
    blocker = Blocker("apache", str(rules), ["true"], None, 600, Host())
    store = StateStore(tmp_path / "state")
    total = 3000

    def write() -> None:
        time.sleep(0.3)
        out = open(log, "a")  # noqa: SIM115
        for n in range(total):
            ref = "https://seo-spam.example/" if n >= 1500 else "https://www.google.com/"
            out.write(line(time.time(), f"203.0.113.{n % 20 + 1}", "/search.php", ref))
            out.flush()
            if n == 1000:
                out.close()
                os.rename(log, f"{log}.1")
                out = open(log, "a")  # noqa: SIM115
            if n % 100 == 0:
                time.sleep(0.01)
        out.close()

    writer = threading.Thread(target=write)
    writer.start()
    messages: list[str] = []
    stats = follow([str(log)], get_format("combined"), ["www.example.com"], OPTIONS, store,
                   blocker, duration=3.0, interval=0.05, report=messages.append)  # fmt: skip
    writer.join(10)
    assert stats.lines == total and stats.skipped == 0
    assert list(stats.floods) == ["seo-spam.example"]
    assert "seo-spam" in rules.read_text() and "google" not in rules.read_text()
    assert any("rotated" in m for m in messages)

    # A restart resumes: only the lines written since are read, and the block is remembered.
    with open(log, "a") as out:
        out.write(line(time.time()) * 7)
    again = Blocker("apache", str(rules), ["true"], None, 600, Host())
    stats = follow([str(log)], get_format("combined"), ["www.example.com"], OPTIONS, store,
                   again, duration=0.2, interval=0.05, report=messages.append)  # fmt: skip
    assert stats.lines == 7
    assert list(again.blocked) == ["seo-spam.example"]


def _melting_log(log: Path, now: float, with_flood: bool = True) -> None:
    """Ten minutes of ordinary traffic; the last minute has a flood (or a news spike) on top."""
    lines = normal_traffic(now - 600, 600)
    lines += iframe_flood(now - 60, 60) if with_flood else news_spike(now - 60, 60)
    lines.sort(key=lambda ln: ln.split("[", 1)[1][:20])  # the time field: one day, so it sorts
    log.write_text("".join(lines))


def _follow_while_flooding(tmp_path: Path, prime_seconds: float, with_flood: bool = True
                           ) -> tuple[list[tuple[float, str]], int, int]:  # fmt: skip
    """Start follow on a log whose server is already melting while the flood goes on."""
    log = tmp_path / "access.log"
    _melting_log(log, time.time(), with_flood)
    rules = tmp_path / "rules.conf"
    blocker = Blocker("apache", str(rules), ["true"], None, 600, Host())
    stop = threading.Event()
    written = [0]

    def write() -> None:  # from 0.5 s (history read) to 2.5 s (follow still running)
        time.sleep(0.5)
        with open(log, "a") as out:
            while not stop.is_set() and time.monotonic() - started < 2.5:
                now = time.time()
                chunk = iframe_flood(now, 1, per_second=4) if with_flood else news_spike(now, 1, 4)
                out.write("".join(chunk))
                out.flush()
                written[0] += len(chunk)
                time.sleep(0.1)

    writer = threading.Thread(target=write)
    messages: list[tuple[float, str]] = []
    started = time.monotonic()
    writer.start()
    try:
        stats = follow([str(log)], get_format("combined"), ["www.example.com"], DetectOptions(),
                       StateStore(tmp_path / "state"), blocker, duration=3.0, interval=0.1,
                       report=lambda m: messages.append((time.monotonic() - started, m)),
                       prime_seconds=prime_seconds)  # fmt: skip
    finally:
        stop.set()
        writer.join(10)
    assert stats.lines == written[0] and stats.skipped == 0  # the history is not "read" again
    return messages, stats.primed, written[0]


def test_a_flood_under_way_at_start_is_blocked_within_seconds(tmp_path: Path) -> None:
    messages, primed, _ = _follow_while_flooding(tmp_path, prime_seconds=600)
    assert 600 * 5 + 60 * 40 - 5 <= primed <= 600 * 5 + 60 * 40  # the oldest second may fall out
    flood = [t for t, m in messages if m.startswith("flood: Referer site seo-spam.example")]
    assert flood and flood[0] < 2.5, messages  # the issue asks for 5 s; no 30 s warm-up
    assert "seo-spam" in (tmp_path / "rules.conf").read_text()


def test_without_the_history_the_warm_up_blocks_nothing(tmp_path: Path) -> None:
    messages, primed, _ = _follow_while_flooding(tmp_path, prime_seconds=0)
    assert primed == 0
    assert not any(m.startswith("flood:") for _, m in messages)


def test_a_news_spike_in_the_history_is_not_blocked(tmp_path: Path) -> None:
    messages, primed, _ = _follow_while_flooding(tmp_path, prime_seconds=600, with_flood=False)
    assert primed > 0
    assert not any(m.startswith("flood:") for _, m in messages)
    assert (
        not (tmp_path / "rules.conf").exists()
        or "news" not in (tmp_path / "rules.conf").read_text()
    )


def test_history_is_bounded_by_time_and_bytes(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    now = time.time()
    log.write_text("".join(normal_traffic(now - 7200, 7200, per_second=1)))
    store = StateStore(tmp_path / "state")
    stats = follow([str(log)], get_format("combined"), ["www.example.com"], DetectOptions(),
                   store, duration=0.1, interval=0.05, report=lambda m: None,
                   prime_seconds=300)  # fmt: skip
    assert 298 <= stats.primed <= 301  # one line a second, whole seconds in the log
    stats = follow([str(log)], get_format("combined"), ["www.example.com"], DetectOptions(),
                   StateStore(tmp_path / "other"), duration=0.1, interval=0.05,
                   report=lambda m: None, prime_seconds=7200, prime_bytes=1)  # fmt: skip
    line_size = len(normal_traffic(now, 1, 1)[0])
    assert 0 < stats.primed <= (1 << 20) // line_size + 1  # the 1 MiB floor per file


def test_cli_follows_a_relative_path_and_prints_names_made_safe(tmp_path: Path) -> None:
    """The command line makes the path absolute (state keys too); a flooding Referer host with
    an escape sequence in it is reported made visible, never raw on the terminal."""
    now = time.time()
    host = "evil\\x1b[2j.example.net"  # as Apache logs an escape byte
    lines = normal_traffic(now - 300, 300) + iframe_flood(now - 60, 60, host=host)
    lines.sort(key=lambda ln: ln.split("[", 1)[1][:20])
    (tmp_path / "access.log").write_text("".join(lines))
    result = run_stackwatch(
        "weblog", "follow", "access.log", "--site", "www.example.com", "--prime", "5m",
        "--duration", "1", "--interval", "0.1", "--state-dir", "state", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout
    assert "flood: Referer site evil\\x1b[2j.example.net" in result.stdout
    assert "of the last 5 min" in result.stdout  # m: minutes
    state = json.loads((tmp_path / "state" / "weblog-follow.json").read_text())
    assert list(state["files"]) == [str(tmp_path / "access.log")]
