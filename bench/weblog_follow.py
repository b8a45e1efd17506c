"""Benchmark: can `stackwatch weblog follow` keep up with 50,000 appended lines per second, and how
soon after a flood starts is it blocked? Prints lines/s written and read, the lag, and the time
from the first flood line to the rules file naming the flood Referer.

    python3 bench/weblog_follow.py [--rate 50000] [--seconds 20] [--flood-at 12]

The peer here is the requirement itself (50,000 lines/s, blocked within 5 s). Everything lives in a
temporary directory; validate and reload commands are `true` (no web server is touched).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stackwatch.core.record import dataclass

REFS = ["-", "https://www.google.com/", "https://www.example.com/", "https://news.example.org/a"]
PATHS = ["/", "/forum/", "/static/site.css", "/img/a.png", "/article/42"]


def batch(now: float, start: int, count: int, flood: bool) -> str:
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now))
    out = []
    for n in range(start, start + count):
        if flood and n % 10 == 0:
            request = f"GET /forum/search.php?q={n % 5} HTTP/1.1"
            flood_ref = "https://seo-spam.example.net/casino"
            ip = f"203.0.113.{n // 10 % 40 + 1}"
            out.append(f'{ip} - - [{stamp}] "{request}" 200 512 "{flood_ref}" "Mozilla/5.0"\n')
        else:
            out.append(
                f'10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255} - - [{stamp}] "GET '
                f'{PATHS[n % 5]} HTTP/1.1" 200 512 "{REFS[n % 4]}" "Mozilla/5.0"\n'
            )
    return "".join(out)


@dataclass
class Run:
    """What happened while writing: lines written, and when (monotonic) things were seen."""

    started: float
    written: int = 0
    wrote_for: float = 0.0
    flood_started: float | None = None
    blocked_at: float | None = None
    caught_up: float | None = None


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=50_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--flood-at", type=float, default=12.0)
    return parser.parse_args()


def start_follow(log: Path, rules: Path, state: Path, seconds: float) -> subprocess.Popen[str]:
    """Start `weblog follow` on an empty `log`; return once it has opened the file."""
    log.write_text("")
    config = log.parent / "c.toml"
    config.write_text("[weblog]\n[weblog.detect]\nwindow = 5\nmin_history = 5\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "stackwatch.cli", "weblog", "follow", str(log),
         "--site", "www.example.com", "--apply", f"apache:{rules}",
         "--validate-command", "true", "--reload-command", "true", "--state-dir", str(state),
         "--interval", "0.2", "--duration", str(seconds + 30), "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    proc.stdout.readline()  # "following 1 logs": it has opened the file
    return proc


def note_blocked(run: Run, rules: Path) -> None:
    """Record the first moment the rules file names the flood Referer."""
    if run.blocked_at is None and rules.exists() and "seo-spam" in rules.read_text():
        run.blocked_at = time.monotonic()


def write_at_rate(run: Run, log: Path, rules: Path, args: argparse.Namespace) -> None:
    """Append lines at --rate for --seconds, the flood from --flood-at on."""
    step = 0.05
    per_step = int(args.rate * step)
    with open(log, "a") as out:
        while (elapsed := time.monotonic() - run.started) < args.seconds:
            flood = elapsed >= args.flood_at
            if flood and run.flood_started is None:
                run.flood_started = time.monotonic()
            out.write(batch(time.time(), run.written, per_step, flood))
            out.flush()
            run.written += per_step
            note_blocked(run, rules)
            behind = run.started + run.written / args.rate - time.monotonic()
            if behind > 0:
                time.sleep(behind)
    run.wrote_for = time.monotonic() - run.started


def saved_offset(state: Path, log: Path) -> int | None:
    """How far follow says (in its state file) it has read the log, or None if not readable yet."""
    try:
        files = json.loads((state / "weblog-follow.json").read_text())["files"]
        return int(files[str(log)]["offset"])
    except (OSError, ValueError, KeyError):
        return None


def wait_caught_up(run: Run, log: Path, rules: Path, state: Path) -> None:
    """Wait up to 30 s for follow's saved offset to reach the end of the log."""
    size = log.stat().st_size
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        note_blocked(run, rules)
        offset = saved_offset(state, log)
        if offset is not None and offset >= size:
            run.caught_up = time.monotonic() - run.started - run.wrote_for
            return
        time.sleep(0.05)


def print_throughput(run: Run, rate: int) -> None:
    written, wrote_for = run.written, run.wrote_for
    print(f"written: {written} lines in {wrote_for:.1f} s = {written / wrote_for:,.0f} lines/s")
    if run.caught_up is None:
        print("follow did NOT catch up within 30 s of the end of writing")
        return
    print(f"follow caught up {run.caught_up:.2f} s after writing stopped (offsets saved 1/s)")
    speed = written / (wrote_for + run.caught_up)
    print(f"follow throughput: {speed:,.0f} lines/s (ratio to the {rate:,}/s "
          f"required: {speed / rate:.2f})")  # fmt: skip


def print_blocking(run: Run) -> None:
    if run.flood_started is None or run.blocked_at is None:
        print("flood NOT blocked")
        return
    took = run.blocked_at - run.flood_started
    print(f"flood blocked {took:.2f} s after its first line "
          f"(requirement: 5 s, ratio {took / 5:.2f})")  # fmt: skip


def main() -> None:
    args = parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sw-follow-bench-"))
    proc = None
    try:
        log, rules, state = tmp / "access.log", tmp / "rules.conf", tmp / "state"
        proc = start_follow(log, rules, state, args.seconds)
        run = Run(started=time.monotonic())
        write_at_rate(run, log, rules, args)
        wait_caught_up(run, log, rules, state)
        print_throughput(run, args.rate)
        print_blocking(run)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(20)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
