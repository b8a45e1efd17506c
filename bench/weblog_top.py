"""Benchmark: `stackwatch weblog top` (every --by) against the mawk one-liner
(`mawk -F'"' '{c[$4]++} END {for (k in c) print c[k], k}' | sort -rn`), the awk | sort | uniq
pipeline, GoAccess, `wc -l` and Python's own start-up, and `stackwatch weblog detect` against the
same detection record by record (the code before issue 15: ``detect_files(fast=False)``), all on
the same 2-million-line combined log in one run. Prints wall times (best of --repeat), peak
memory, ratios to the mawk one-liner, detect's lines per second, and checks that both detects
report the same findings.

    python3 bench/weblog_top.py [--lines 2000000] [--repeat 3] [--by referrer,ip,...]
                                [--no-goaccess] [--no-detect] [--gz] [--log FILE]
                                [--compare SRC]

The log is generated into a temporary directory (bench/weblog_gen.py) and removed afterwards,
unless --log names one. --gz also times both on a gzip copy (decompressed in parallel).
--compare SRC also times `top` (every --by) of another copy of the code (its src directory, e.g.
an export of the commit before a change: `git archive COMMIT src | tar -x -C DIR`), in the same
rounds: before and after from one run. --no-detect leaves out detect, the record-by-record detect
and the awk pipeline (seconds a round), for more rounds of `top` against mawk in the same time.
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

BY = ("referrer", "site", "ip", "path", "status", "agent")
# The mawk one-liner counting the same field, where awk can split it out: (separator, field).
AWK_FIELD = {"referrer": ('"', 4), "agent": ('"', 6), "ip": (" ", 1), "status": (" ", 9)}
RECORD_PATH = (
    "import sys; from stackwatch.weblog.detect import detect_files; "
    "from stackwatch.weblog.formats import get_format; "
    "from stackwatch.weblog.views import detect_json; "
    "f, s = detect_files([sys.argv[1]], get_format('combined'), ['example.com'], fast=False); "
    "sys.stdout.write(detect_json(f, s))"
)


def run(argv: list[str]) -> tuple[float, float, str, float]:
    """Wall seconds, peak memory (MB, /usr/bin/time -v), output and CPU seconds (user and
    system, the processes it waited for included) of one command. On a shared machine the CPU
    time says what a command costs when the wall time says how long it waited for a core."""
    timer = ["/usr/bin/time", "-v"] if os.path.exists("/usr/bin/time") else []
    started = time.perf_counter()
    done = subprocess.run([*timer, *argv], capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 4):  # 4: detect found a flood
        raise SystemExit(f"{argv} failed: {done.stderr[-500:]}")
    peak = cpu = float("nan")
    for line in done.stderr.splitlines():
        if "Maximum resident set size" in line:
            peak = int(line.split(":")[1]) / 1024
        if "User time (seconds)" in line or "System time (seconds)" in line:
            cpu = (0.0 if cpu != cpu else cpu) + float(line.split(":")[1])
    return elapsed, peak, done.stdout, cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the fastest counts")
    parser.add_argument("--by", default=",".join(BY), help="the fields stackwatch counts by")
    parser.add_argument("--no-goaccess", action="store_true")
    parser.add_argument("--gz", action="store_true", help="also a gzip copy of the log")
    parser.add_argument("--no-detect", action="store_true", help="top against mawk only")
    parser.add_argument("--log", help="an existing combined log (else one is generated)")
    parser.add_argument("--compare", help="the src directory of another version, timed too")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sw-bench-"))
    try:
        log = Path(args.log) if args.log else tmp / "access.log"
        if not args.log:
            generate(str(log), args.lines)
        lines = sum(1 for _ in open(log, "rb"))  # noqa: SIM115 (the bench's own file)
        size = log.stat().st_size / 1e6
        print(f"log: {lines} lines, {size:.0f} MB; best of {args.repeat} runs, side by side; "
              f"load {os.getloadavg()[0]:.2f}")  # fmt: skip
        commands = _commands(log, tmp, args)
        if args.gz:
            commands.update(_gz_commands(log, tmp, args.compare))
        times: dict[str, tuple[float, float, str, float]] = {}
        cpu: dict[str, float] = {}
        for round_ in range(args.repeat):  # interleaved: each round runs every command once
            for name, argv in commands.items():
                if round_ and name.startswith("goaccess"):
                    continue  # minutes a run: once is enough to compare
                result = run(argv)
                if name not in times or result[0] < times[name][0]:
                    times[name] = result
                cpu[name] = min(cpu.get(name, result[3]), result[3])
        _report(times, cpu, lines)
        print(f"load at the end: {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _report(
    times: dict[str, tuple[float, float, str, float]], cpu: dict[str, float], lines: int
) -> None:
    mawk = times.get("mawk one-liner (referrer)", (float("nan"), 0.0, "", 0.0))[0]
    print(f"{'':<44} {'wall':>6}    {'peak':>9}     {'':>10}  cpu (best)")
    for name, (elapsed, peak, *_) in times.items():
        rate = f"  {lines / elapsed / 1e6:5.2f} M lines/s" if "detect" in name else ""
        print(f"{name:<44} {elapsed:6.2f} s  peak {peak:5.0f} MB  {elapsed / mawk:5.2f}x mawk"
              f"  {cpu[name]:5.2f} s{rate}")  # fmt: skip
    if "stackwatch weblog detect" not in times:
        return
    fast = times["stackwatch weblog detect"]
    slow = times["detect record by record (before)"]
    print(f"detect: {slow[0] / fast[0]:.2f}x faster than record by record; same findings: "
          f"{fast[2] == slow[2]}")  # fmt: skip


def _stackwatch(*args: str) -> list[str]:
    return [sys.executable, "-m", "stackwatch.cli", "weblog", *args]


def _commands(log: Path, tmp: Path, args: argparse.Namespace) -> dict[str, list[str]]:
    """The commands compared, by name (a tool that is not installed is left out)."""
    commands: dict[str, list[str]] = {}
    if shutil.which("mawk"):
        for by in ["referrer", *(b for b in args.by.split(",") if b != "referrer")]:
            if by in AWK_FIELD:
                sep, n = AWK_FIELD[by]
                counting = f"mawk -F'{sep}' '{{c[${n}]++}} END {{for (k in c) print c[k], k}}'"
                commands[f"mawk one-liner ({by})"] = ["sh", "-c", f"{counting} {log} | sort -rn"
                                                      " | head -10"]  # fmt: skip
    for by in args.by.split(","):
        commands[f"stackwatch weblog top --by {by}"] = _stackwatch(
            "top", str(log), "--by", by, "--limit", "10"
        )
        if args.compare:
            commands[f"(compared) weblog top --by {by}"] = [
                "env", f"PYTHONPATH={args.compare}",
                *_stackwatch("top", str(log), "--by", by, "--limit", "10"),
            ]  # fmt: skip
    if not args.no_detect:
        commands["stackwatch weblog detect"] = _stackwatch(
            "detect", str(log), "--site", "example.com", "--format", "json"
        )
        commands["detect record by record (before)"] = [
            sys.executable, "-c", RECORD_PATH, str(log)
        ]  # fmt: skip
    commands["python start-up (import stackwatch.cli)"] = [sys.executable, "-c",
                                                           "import stackwatch.cli"]  # fmt: skip
    commands["wc -l"] = ["wc", "-l", str(log)]
    pipeline = f"awk -F'\"' '{{print $4}}' {log} | sort | uniq -c | sort -rn | head -10"
    if not args.no_detect:
        commands["awk | sort | uniq -c | sort -rn"] = ["sh", "-c", pipeline]
    if not args.no_goaccess and shutil.which("goaccess"):
        report = str(tmp / "r.json")
        commands["goaccess (JSON report)"] = ["goaccess", str(log), "--log-format=COMBINED",
                                              "-o", report, "--no-progress"]  # fmt: skip
    return commands


def _gz_commands(log: Path, tmp: Path, compare: str | None) -> dict[str, list[str]]:
    packed = tmp / "access.log.gz"
    with open(packed, "wb") as out:
        subprocess.run(["pigz" if shutil.which("pigz") else "gzip", "-c", str(log)], stdout=out,
                       check=True)  # fmt: skip
    commands = {
        "zcat | wc -l (gz)": ["sh", "-c", f"zcat {packed} | wc -l"],
        "stackwatch weblog top --by referrer (gz)": _stackwatch(
            "top", str(packed), "--by", "referrer", "--limit", "10"
        ),
        "stackwatch weblog detect (gz)": _stackwatch(
            "detect", str(packed), "--site", "example.com"
        ),
    }
    if compare:
        commands["(compared) weblog detect (gz)"] = [
            "env", f"PYTHONPATH={compare}",
            *_stackwatch("detect", str(packed), "--site", "example.com"),
        ]  # fmt: skip
    return commands


if __name__ == "__main__":
    main()
