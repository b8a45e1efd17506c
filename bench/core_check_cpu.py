"""Figures of the check engine (issue: "The check engine, its outputs, and the conntrack check").

- ``stackwatch check conntrack --format nagios``: median CPU time, beside a C plugin
  (monitoring-plugins' check_procs), a bare ``python3 -c pass`` and ``python3 -c "import typer"``.
  Target: at most 100 ms.
- The engine's overhead for ten checks against one: ten checks registered under distinct names,
  each doing the conntrack check's real work, run through the same command line. Target: at most
  50 ms more than one check (this includes the work of nine more checks, so it bounds the
  engine's own cost from above).

- The same call above a bare ``python3 -c pass`` of the same interpreter (issue "Installs as
  operators install"): at most 30 ms. Run it with the interpreter of the installation users run,
  e.g. /opt/stackwatch/bin/python (Debian's python3), whose console script is measured.

Run: python3 bench/core_check_cpu.py [--runs N]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cpu import environment, instructions, median_cpu_ms

MANY_CHECKS = """
import sys
from stackwatch import cli
count = int(sys.argv[1])
names = [f"conntrack{i}" for i in range(count)]
import stackwatch.conntrack.check as module
from stackwatch.core.record import replace
from stackwatch.core import capability
owner = capability.capability_named("conntrack")
many = replace(owner, checks={n: "check" for n in names})
capability.capabilities = lambda: (many,)
module.CHECKS = [replace(module.CHECK, name=n) for n in names]
raise SystemExit(cli.run_check_command([*names, "--format", "nagios", "--state-dir", sys.argv[2]]))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    env = environment()
    # The console script beside this interpreter (a pyenv shim on PATH would add a bash start-up).
    beside = Path(sys.executable).parent / "stackwatch"
    stackwatch = str(beside) if beside.exists() else shutil.which("stackwatch")
    if stackwatch is None:
        sys.exit("stackwatch is not installed")
    state = tempfile.mkdtemp(prefix="stackwatch-bench-")
    rows: list[tuple[str, float]] = []

    ours = median_cpu_ms(
        [stackwatch, "check", "conntrack", "--format", "nagios", "--state-dir", state],
        args.runs,
        env,
    )
    rows.append(("stackwatch check conntrack --format nagios", ours))
    # As installed: /etc/stackwatch/stackwatch.toml is the example with every section set.
    config = str(Path(state) / "stackwatch.toml")
    example = subprocess.run([stackwatch, "config", "example"], capture_output=True, check=True)
    Path(config).write_bytes(example.stdout)
    installed_call = [stackwatch, "check", "conntrack", "--format", "nagios"]
    installed_call += ["--state-dir", state, "--config", config]
    installed = median_cpu_ms(installed_call, args.runs, env)
    rows.append(("  the same with the example configuration", installed))
    check_procs = "/usr/lib/nagios/plugins/check_procs"
    peer = None
    if Path(check_procs).exists():
        peer = median_cpu_ms([check_procs, "-w", "1000", "-c", "2000"], args.runs, env)
        rows.append(("check_procs -w 1000 -c 2000 (C plugin)", peer))
    bare = median_cpu_ms([sys.executable, "-c", "pass"], args.runs, env)
    rows.append(("python3 -c pass", bare))
    typer = median_cpu_ms([sys.executable, "-c", "import typer"], args.runs, env)
    rows.append(('python3 -c "import typer"', typer))
    one = median_cpu_ms([sys.executable, "-c", MANY_CHECKS, "1", state], args.runs, env)
    ten = median_cpu_ms([sys.executable, "-c", MANY_CHECKS, "10", state], args.runs, env)
    rows.append(("engine, 1 check", one))
    rows.append(("engine, 10 checks", ten))

    width = max(len(name) for name, _ in rows)
    print(f"median CPU (user+system) over {args.runs} runs")
    for name, value in rows:
        print(f"  {name:<{width}}  {value:7.1f} ms")
    print()
    verdict = "OK" if ours <= 100 else "OVER"
    print(f"check conntrack: {ours:.1f} ms (target <= 100 ms: {verdict})")
    for label, value in (("", ours), (", example configuration", installed)):
        above = value - bare
        verdict = "OK" if above <= 30 else "OVER"
        print(f"  above a bare start{label}: +{above:.1f} ms (target <= 30: {verdict})")
    print_instructions(installed_call, sys.executable, bare, env)
    if peer:
        print(f"  ratio to check_procs: {ours / peer:.1f}x")
    print(f"  ratio to import typer alone: {ours / typer:.2f}x")
    extra = ten - one
    verdict = "OK" if extra <= 50 else "OVER"
    print(f"engine overhead, 10 checks vs 1: +{extra:.1f} ms (target <= 50 ms: {verdict})")
    shutil.rmtree(state, ignore_errors=True)


def print_instructions(call: list[str], python: str, bare_ms: float, env: dict[str, str]) -> None:
    """The same comparison in instructions (valgrind), which a busy machine does not distort;
    converted to ms at the rate the bare start ran here."""
    bare = instructions([python, "-c", "pass"], env)
    ours = instructions(call, env)
    if bare is None or ours is None:
        print("  (valgrind not installed: no instruction counts)")
        return
    per_ms = bare / bare_ms
    above = ours - bare
    print(
        f"  instructions: bare start {bare / 1e6:.1f} M, check with the example configuration "
        f"{ours / 1e6:.1f} M: +{above / 1e6:.1f} M, about +{above / per_ms:.1f} ms at this "
        f"machine's rate ({bare / 1e6 / bare_ms:.2f} M/ms)"
    )


if __name__ == "__main__":
    main()
