"""Benchmark: `stackwatch nagios alerts` against `grep 'SERVICE ALERT' | awk | sort | uniq -c` on
the same nagios.log, in one run; prints wall and CPU seconds of each and their ratios.

    python3 bench/nagios_alerts.py [--lines 1000000] [--runs 3]

stackwatch runs as a user runs it (one process per CPU for a log this large) and with --jobs 1.

The pipeline only counts SERVICE ALERT lines per host and service; `alerts` also reads every
other kind of line, checks each one, tracks problems and recoveries and counts by hour, day and
cell. The log is generated into a temporary directory (bench/nagios_gen.py) and removed after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cpu import child_cpu_seconds, environment
from nagios_gen import PIPELINE, generated_log


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (children included) of one run."""
    started = time.perf_counter()
    cpu = child_cpu_seconds(argv, env)
    return time.perf_counter() - started, cpu


def best_of_interleaved(
    commands: list[list[str]], runs: int, env: dict[str, str]
) -> list[tuple[float, float]]:
    """Best wall and median CPU seconds of each command, the commands run in turn, ``runs``
    rounds: on a shared machine, a burst of load falls on all of them alike."""
    for argv in commands:
        done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        if done.returncode != 0:
            raise SystemExit(f"{argv[:6]} failed: {done.stderr[-400:]}")
    rounds = [[timed(argv, env) for argv in commands] for _ in range(runs)]
    return [
        (min(r[i][0] for r in rounds), statistics.median(r[i][1] for r in rounds))
        for i in range(len(commands))
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with generated_log(args.lines) as log:
        print(f"log: {args.lines} lines, {log.stat().st_size / 1e6:.0f} MB")
        env = environment()
        stackwatch = [sys.executable, "-m", "stackwatch.cli", "nagios", "alerts", str(log),
                      "--format", "json"]  # fmt: skip
        pipeline = PIPELINE.format(log=log) + " > /dev/null"
        (sw_wall, sw_cpu), (jobs_wall, jobs_cpu), (sh_wall, sh_cpu) = best_of_interleaved(
            [stackwatch, [*stackwatch, "--jobs", "1"], ["sh", "-c", pipeline]], args.runs, env
        )
        print(f"stackwatch nagios alerts --format json: {sw_wall:6.2f} s wall {sw_cpu:6.2f} s CPU")
        print(
            f"  the same with --jobs 1 (one process): {jobs_wall:6.2f} s wall {jobs_cpu:6.2f} s CPU"
        )
        print(f"grep | awk | sort | uniq -c:            {sh_wall:6.2f} s wall {sh_cpu:6.2f} s CPU")
        print(f"ratio pipeline / stackwatch (wall):     {sh_wall / sw_wall:6.2f}x  (>= 1: as fast)")
        print(f"ratio pipeline / stackwatch (CPU):      {sh_cpu / sw_cpu:6.2f}x")
        print(f"ratio pipeline / stackwatch --jobs 1:   {sh_wall / jobs_wall:6.2f}x (wall)")
        print(f"load average: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
