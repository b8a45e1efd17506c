"""Benchmark: `stackwatch weblog top --by referrer` against the mawk one-liner
(`mawk -F'"' '{c[$4]++} END {for (k in c) print c[k], k}' | sort -rn`), the awk | sort | uniq
pipeline, GoAccess, `wc -l` and Python's own start-up, on the same 2-million-line combined log in
one run; prints times, peak memory and the ratios to stackwatch and to the mawk one-liner, and
`stackwatch weblog detect` on the same log with its lines per second.

    python3 bench/weblog_top.py [--lines 2000000] [--repeat 3] [--by referrer] [--no-goaccess]

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
    if done.returncode not in (0, 4):  # 4: detect found a flood
        raise SystemExit(f"{argv} failed: {done.stderr[-500:]}")
    peak = float("nan")
    for line in done.stderr.splitlines():
        if "Maximum resident set size" in line:
            peak = int(line.split(":")[1]) / 1024
    return elapsed, peak


def best(argv: list[str], repeat: int) -> tuple[float, float]:
    """The fastest of ``repeat`` runs (the machine may be shared) and its peak memory."""
    return min(run(argv) for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the fastest counts")
    parser.add_argument("--by", default="referrer", help="the field stackwatch counts")
    parser.add_argument("--no-goaccess", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sw-bench-"))
    try:
        log = tmp / "access.log"
        generate(str(log), args.lines)
        size = log.stat().st_size / 1e6
        print(f"log: {args.lines} lines, {size:.0f} MB; best of {args.repeat} runs")
        commands = _commands(log, tmp, args)
        times = {name: best(argv, args.repeat) for name, argv in commands.items()}
        mawk = times.get("mawk one-liner", (float("nan"), 0.0))[0]
        sw = times["stackwatch"][0]
        detect = times["stackwatch weblog detect"][0]
        print(f"weblog detect: {args.lines / detect:,.0f} lines/s")
        for name, (elapsed, peak) in times.items():
            print(f"{name:<34} {elapsed:6.2f} s  peak {peak:5.0f} MB  "
                  f"{elapsed / sw:5.2f}x stackwatch  {elapsed / mawk:5.2f}x mawk")  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _commands(log: Path, tmp: Path, args: argparse.Namespace) -> dict[str, list[str]]:
    """The commands compared, by name (a tool that is not installed is left out)."""
    commands = {
        "stackwatch": [sys.executable, "-m", "stackwatch.cli", "weblog", "top", str(log),
                       "--by", args.by, "--limit", "10"],
        "python start-up (import stackwatch.cli)": [sys.executable, "-c", "import stackwatch.cli"],
        "stackwatch weblog detect": [sys.executable, "-m", "stackwatch.cli", "weblog", "detect",
                                     str(log), "--site", "example.com"],
        "wc -l": ["wc", "-l", str(log)],
        "awk | sort | uniq -c | sort -rn": ["sh", "-c", f"awk -F'\"' '{{print $4}}' {log} "
                                            "| sort | uniq -c | sort -rn | head -10"],
    }  # fmt: skip
    if shutil.which("mawk"):
        one_liner = f"mawk -F'\"' '{{c[$4]++}} END {{for (k in c) print c[k], k}}' {log} | sort -rn"
        commands["mawk one-liner"] = ["sh", "-c", one_liner + " | head -10"]
    if not args.no_goaccess and shutil.which("goaccess"):
        report = str(tmp / "r.json")
        commands["goaccess (JSON report)"] = ["goaccess", str(log), "--log-format=COMBINED",
                                              "-o", report, "--no-progress"]  # fmt: skip
    return commands


if __name__ == "__main__":
    main()
