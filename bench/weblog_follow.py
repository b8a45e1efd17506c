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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=50_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--flood-at", type=float, default=12.0)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sw-follow-bench-"))
    proc = None
    try:
        log, rules, state = tmp / "access.log", tmp / "rules.conf", tmp / "state"
        log.write_text("")
        config = tmp / "c.toml"
        config.write_text("[weblog]\n[weblog.detect]\nwindow = 5\nmin_history = 5\n")
        proc = subprocess.Popen(
            [sys.executable, "-m", "stackwatch.cli", "weblog", "follow", str(log),
             "--site", "www.example.com", "--apply", f"apache:{rules}",
             "--validate-command", "true", "--reload-command", "true", "--state-dir", str(state),
             "--interval", "0.2", "--duration", str(args.seconds + 30), "--config", str(config)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        proc.stdout.readline()  # "following 1 logs": it has opened the file
        step = 0.05
        per_step = int(args.rate * step)
        written = 0
        flood_started = blocked_at = None
        started = time.monotonic()
        with open(log, "a") as out:
            while (elapsed := time.monotonic() - started) < args.seconds:
                flood = elapsed >= args.flood_at
                if flood and flood_started is None:
                    flood_started = time.monotonic()
                out.write(batch(time.time(), written, per_step, flood))
                out.flush()
                written += per_step
                if blocked_at is None and rules.exists() and "seo-spam" in rules.read_text():
                    blocked_at = time.monotonic()
                behind = started + written / args.rate - time.monotonic()
                if behind > 0:
                    time.sleep(behind)
        wrote_for = time.monotonic() - started
        size = log.stat().st_size
        caught_up = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if blocked_at is None and rules.exists() and "seo-spam" in rules.read_text():
                blocked_at = time.monotonic()
            try:
                files = json.loads((state / "weblog-follow.json").read_text())["files"]
                if files[str(log)]["offset"] >= size:
                    caught_up = time.monotonic() - started - wrote_for
                    break
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.05)
        print(f"written: {written} lines in {wrote_for:.1f} s = {written / wrote_for:,.0f} lines/s")
        if caught_up is None:
            print("follow did NOT catch up within 30 s of the end of writing")
        else:
            print(f"follow caught up {caught_up:.2f} s after writing stopped (offsets saved 1/s)")
            speed = written / (wrote_for + caught_up)
            print(f"follow throughput: {speed:,.0f} lines/s (ratio to the {args.rate:,}/s "
                  f"required: {speed / args.rate:.2f})")  # fmt: skip
        if flood_started is None or blocked_at is None:
            print("flood NOT blocked")
        else:
            print(f"flood blocked {blocked_at - flood_started:.2f} s after its first line "
                  f"(requirement: 5 s, ratio {(blocked_at - flood_started) / 5:.2f})")  # fmt: skip
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(20)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
