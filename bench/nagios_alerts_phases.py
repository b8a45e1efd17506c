"""Benchmark: where the CPU time of `stackwatch nagios alerts` goes, phase by phase, in one
process and in two (this process counts the first half while a forked child counts the second).

    python3 bench/nagios_alerts_phases.py [--lines 1000000] [--runs 3]

CPU seconds (best of ``--runs``) of: reading the log, counting it (each part), sending the
child's counts back, joining them, the report (summarize) and its JSON. Process CPU time rather
than wall time: on a shared machine it says what the work costs, whatever else runs.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nagios_gen import generated_log
from stackwatch.core.host import Host
from stackwatch.nagios import alerts_tally
from stackwatch.nagios.alerts import CellFinder, Where, read_logs, summarize
from stackwatch.nagios.alerts_view import to_json


def phases(path: str, parts: int) -> dict[str, float]:
    cpu: dict[str, float] = {}
    clock = time.process_time()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.process_time()
        cpu[name] = now - clock
        clock = now

    logs = read_logs(Host(), [path])
    lap("read")
    split = alerts_tally._parts(logs[0], parts)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    children = [Host().fork_call(alerts_tally._tally_part, 600.0, *p) for p in split[1:]]
    tally = alerts_tally._tally_part(600.0, *split[0])
    lap("count (this process)")
    later = [child.result() for child in children]
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    lap("receive")
    for part in later:
        tally.absorb(part)
    lap("join")
    tally.events.counted()
    lap("count problems (numpy)")
    report = summarize(tally, Where(CellFinder(r"c\d{4}")), top_timelines=0)
    lap("summarize")
    to_json(report)
    lap("json")
    if children:
        child = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        cpu["count (child)"] = child
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with generated_log(args.lines) as log:
        size = log.stat().st_size / 1e6
        print(f"log: {args.lines} lines, {size:.0f} MB; CPU seconds, best of {args.runs}")
        for parts in (1, 2):
            runs = [phases(str(log), parts) for _ in range(args.runs)]
            best = {name: min(run[name] for run in runs) for name in runs[0]}
            shown = "  ".join(f"{name} {value:.2f}" for name, value in best.items())
            print(f"{parts} process{'es' if parts > 1 else ''}: {shown}")
        print(f"load average: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
