"""Benchmark: `stackwatch weblog top --by referrer` against the awk pipeline and GoAccess on the
same 2-million-line combined log, in one run; prints times, peak memory and ratios.

    python3 bench/weblog_top.py [--lines 2000000] [--no-goaccess]

The log is generated into a temporary directory (bench/weblog_gen.py) and removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from weblog_gen import generate


def run(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and peak memory (MB, /usr/bin/time -v) of one command."""
    timer = ["/usr/bin/time", "-v"] if os.path.exists("/usr/bin/time") else []
    started = time.perf_counter()
    done = subprocess.run([*timer, *argv], capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{argv} failed: {done.stderr[-500:]}")
    peak = float("nan")
    for line in done.stderr.splitlines():
        if "Maximum resident set size" in line:
            peak = int(line.split(":")[1]) / 1024
    return elapsed, peak


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--no-goaccess", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sw-bench-"))
    try:
        log = tmp / "access.log"
        generate(str(log), args.lines)
        size = log.stat().st_size / 1e6
        print(f"log: {args.lines} lines, {size:.0f} MB")
        stackwatch = [sys.executable, "-m", "stackwatch.cli", "weblog", "top", str(log),
                      "--by", "referrer", "--limit", "10"]  # fmt: skip
        awk = f"awk -F'\"' '{{print $4}}' {log} | sort | uniq -c | sort -rn | head -10"
        sw_t, sw_mem = run(stackwatch)
        awk_t, _ = run(["sh", "-c", awk])
        print(f"stackwatch weblog top --by referrer: {sw_t:6.2f} s  peak {sw_mem:.0f} MB")
        print(f"awk | sort | uniq -c | sort -rn:     {awk_t:6.2f} s")
        print(f"ratio awk / stackwatch:              {awk_t / sw_t:6.2f}x")
        if not args.no_goaccess and shutil.which("goaccess"):
            goaccess = ["goaccess", str(log), "--log-format=COMBINED", "-o", str(tmp / "r.json"),
                        "--no-progress"]  # fmt: skip
            go_t, go_mem = run(goaccess)
            print(f"goaccess (JSON report):              {go_t:6.2f} s  peak {go_mem:.0f} MB")
            print(f"ratio goaccess / stackwatch:         {go_t / sw_t:6.2f}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
