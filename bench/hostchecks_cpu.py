"""CPU time of `stackwatch check` running every host check, against the tools one runs today.

The peer side runs, one by one, the monitoring-plugins binaries (check_procs, check_sensors) and
the one-liners an operator would use for the same facts (ip -s link, /proc/net/bonding, nstat,
the EDAC counters, smartctl --scan-open and one smartctl per disk found). Both sides run on this
machine in the same run; the figure is the median CPU time (user + system) of the child processes.

    python3 bench/hostchecks_cpu.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HOST_CHECKS = ["links", "processes", "tcp-retransmits", "memory-ecc", "disk-smart", "temperature"]
PLUGINS = Path("/usr/lib/nagios/plugins")


# As installed copies run: with compiled bytecode (a PYTHONDONTWRITEBYTECODE=1 in the developer's
# environment would make every run recompile the project, a cost no user pays).
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def cpu_of(argv: list[str]) -> float:
    """CPU seconds (user + system) of one child process and everything it waited for."""
    process = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=CHILD_ENV
    )
    _, _, usage = os.wait4(process.pid, 0)
    process.returncode = 0
    return usage.ru_utime + usage.ru_stime


def peer_commands() -> list[list[str]]:
    commands = []
    for daemon in ("ovs-vswitchd", "ovsdb-server"):
        if (PLUGINS / "check_procs").exists():
            commands.append([str(PLUGINS / "check_procs"), "-C", daemon, "-c", "1:"])
    if (PLUGINS / "check_sensors").exists():
        commands.append([str(PLUGINS / "check_sensors")])
    if shutil.which("ip"):
        commands.append(["ip", "-s", "-d", "link"])
    commands.append(["sh", "-c", "cat /proc/net/bonding/* 2>/dev/null; true"])
    if shutil.which("nstat"):
        commands.append(["nstat", "-az", "TcpOutSegs", "TcpRetransSegs", "TcpExtListenOverflows"])
    else:
        commands.append(["awk", "/^Tcp:/", "/proc/net/snmp"])
    commands.append(["sh", "-c", "grep -r . /sys/devices/system/edac/mc 2>/dev/null; true"])
    if shutil.which("smartctl"):
        commands.append(["smartctl", "--scan-open", "--json"])
        scan = subprocess.run(["smartctl", "--scan-open", "--json"], capture_output=True, text=True)
        try:
            devices = json.loads(scan.stdout).get("devices", [])
        except ValueError:
            devices = []
        for device in devices:
            commands.append(["smartctl", "--json", "--all", "-d", device["type"], device["name"]])
    return commands


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp, "stackwatch.toml")
        config.write_text('[checks.processes]\nroles = ["ovs"]\n')
        ours_argv = [
            sys.executable,
            "-m",
            "stackwatch.cli",
            "check",
            *HOST_CHECKS,
            "--format",
            "nagios",
            "--config",
            str(config),
            "--state-dir",
            str(Path(tmp, "state")),
        ]
        peers = peer_commands()
        cpu_of(ours_argv)  # warm the page cache and the .pyc files once
        ours, theirs = [], []
        for _ in range(args.runs):
            ours.append(cpu_of(ours_argv))
            theirs.append(sum(cpu_of(argv) for argv in peers))
    ours_ms = statistics.median(ours) * 1000
    theirs_ms = statistics.median(theirs) * 1000
    print(f"runs: {args.runs}, host checks: {', '.join(HOST_CHECKS)}")
    print(f"stackwatch check (all host checks, one process): median CPU {ours_ms:.1f} ms")
    print(f"peer tools one by one ({len(peers)} processes): median CPU {theirs_ms:.1f} ms")
    for argv in peers:
        print(f"  {' '.join(argv)}")
    print(f"ratio stackwatch / peers: {ours_ms / theirs_ms:.2f}")
    print(f"target: at most 150 ms -> {'met' if ours_ms <= 150 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
