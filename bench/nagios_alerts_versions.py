"""Benchmark: `stackwatch nagios alerts` of two source trees (before and after a change) and the
grep | awk | sort | uniq -c pipeline on the same generated nagios.log, run in turn (interleaved,
so that a burst of load on the shared machine falls on all alike); best wall and CPU of each,
and peak memory of the stackwatch runs.

    python3 bench/nagios_alerts_versions.py OLD_SRC NEW_SRC [--lines 1000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nagios_gen import PIPELINE, generated_log


def run(argv: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Wall and CPU seconds and peak memory (KiB) of one run of a child process."""
    started = time.perf_counter()
    child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    if status:
        raise SystemExit(f"{argv[:4]} failed ({status})")
    return time.perf_counter() - started, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("old_src")
    parser.add_argument("new_src")
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with generated_log(args.lines) as log:
        alerts = [sys.executable, "-m", "stackwatch.cli", "nagios", "alerts", str(log),
                  "--format", "json"]  # fmt: skip
        pipeline = PIPELINE.format(log=log)
        commands = {
            "old": (alerts, os.path.abspath(args.old_src)),
            "new": (alerts, os.path.abspath(args.new_src)),
            "pipeline": (["sh", "-c", pipeline], ""),
        }
        results: dict[str, list[tuple[float, float, int]]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, (argv, src) in commands.items():
                results[name].append(run(argv, dict(os.environ, PYTHONPATH=src)))
        print(f"log: {args.lines} lines; best of {args.runs}, interleaved")
        for name, got in results.items():
            wall, cpu = min(r[0] for r in got), min(r[1] for r in got)
            memory = f"  peak {max(r[2] for r in got) / 1024:5.0f} MB" if name != "pipeline" else ""
            print(f"{name:9s} {wall:6.2f} s wall {cpu:6.2f} s CPU{memory}")
        print(f"load average: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
