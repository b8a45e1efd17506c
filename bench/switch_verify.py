"""Figures of issue 13 (switches over SNMP), side by side in one run, ratios printed.

50 switches: snmpsim serving the real recordings under 50 communities (bench/_snmpsim.py).
- ``stackwatch switch verify`` of all 50 (ports' names and links, VLANs, LLDP of every device,
  read at once) against ``snmpbulkwalk`` of the same columns (and ``snmpget`` of sysUpTime and
  sysName) device after device, as an operator's shell loop does. Goal: at least 5 times faster.
- CPU per device: ``stackwatch check switch-ports`` on the 50 (one process for all) against one
  ``check_snmp_int.pl`` call per device (Debian nagios-snmp-plugins) for the same interfaces.
  Goal: stackwatch's CPU per device at most that of one check_snmp_int call.

Run: python3 bench/switch_verify.py [--devices 50]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _snmpsim import PROJECT, Simulator

sys.path.insert(0, str(PROJECT / "src"))
from stackwatch.switch import oids
from stackwatch.switch.device import request_for

CHECK_SNMP_INT = "/usr/lib/nagios/plugins/check_snmp_int.pl"


def timed(argvs: Sequence[Sequence[str]], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and CPU seconds (children) of running ``argvs`` one after the other."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    for argv in argvs:
        subprocess.run(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False
        )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def write_inventory(sim: Simulator, folder: Path) -> Path:
    lines = ["devices:"]
    for device in sim.devices:
        (folder / f"{device}.community").write_text(device + "\n")
        lines += [
            f"  {device}:",
            "    address: 127.0.0.1",
            f"    port: {sim.ports[device]}",
            f"    community_file: {device}.community",
        ]
    lines += [
        "hypervisors:",
        "  ZJ-BP-Bak-Arista:",
        "    nics: {Ethernet23: {vlans: '1,40-41,80,90', native: 1}}",
    ]
    path = folder / "switches.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def walk_loop(sim: Simulator) -> list[list[str]]:
    """What verify reads, as a shell loop reads it: every column walked in full (stackwatch
    gets the VTP trunks' bitmaps only for the trunks; the loop walks those columns too)."""
    request = request_for({"vlans", "lldp"}, 10)
    columns = (*request.columns, *oids.VTP_TRUNK_DETAILS)
    argvs = []
    for device in sim.devices:
        target = f"127.0.0.1:{sim.ports[device]}"
        argvs.append(["snmpget", "-v2c", "-c", device, "-On", target, *request.scalars])
        argvs += [
            ["snmpbulkwalk", "-v2c", "-c", device, "-On", target, column] for column in columns
        ]
    return argvs


def check_snmp_int_calls(sim: Simulator) -> list[list[str]]:
    return [
        [
            CHECK_SNMP_INT,
            "-2",
            "-H",
            "127.0.0.1",
            "-p",
            str(sim.ports[device]),
            "-C",
            device,
            "-n",
            ".",
            "-f",
            "-e",
            "-k",
            "-g",
            "-w",
            "800,800",
            "-c",
            "950,950",
        ]
        for device in sim.devices
    ]


def stackwatch(*args: str) -> list[str]:
    return [sys.executable, "-m", "stackwatch.cli", *args]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=50)
    count = parser.parse_args().devices
    for tool in ("snmpbulkwalk", "snmpget"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed (Debian package snmp)")
    env = {**os.environ, "PYTHONPATH": str(PROJECT / "src"), "MIBS": ""}
    work = Path(tempfile.mkdtemp(prefix="stackwatch-bench-switch-"))
    with Simulator(count) as sim:
        inventory = write_inventory(sim, work)
        config = work / "stackwatch.toml"
        config.write_text(f'[switch]\ninventory = "{inventory}"\ntimeout = 60\n')
        verify = stackwatch("switch", "verify", str(inventory), "--timeout", "60")
        timed([verify], env)  # warm: Python's caches
        sw_wall, sw_cpu = timed([verify], env)
        loop = walk_loop(sim)
        loop_wall, loop_cpu = timed(loop, env)
        print(f"{count} switches: VLANs, LLDP, port names and links of every device")
        print(f"  stackwatch switch verify      {sw_wall:7.2f} s wall {sw_cpu:6.2f} s CPU")
        print(
            f"  snmpbulkwalk loop ({len(loop)} runs) {loop_wall:7.2f} s wall {loop_cpu:6.2f} s CPU"
        )
        print(f"  ratio (loop / stackwatch, wall): {loop_wall / sw_wall:.1f}x (goal >= 5x)")
        ports = stackwatch(
            "check",
            "switch-ports",
            "--config",
            str(config),
            "--format",
            "nagios",
            "--state-dir",
            str(work / "state"),
            "--timeout",
            "120",
        )
        timed([ports], env)  # first run: counters saved; the second computes rates
        ports_wall, ports_cpu = timed([ports], env)
        print(f"switch-ports (check_snmp_int's job) for {count} switches")
        print(
            f"  stackwatch check switch-ports {ports_wall:7.2f} s wall {ports_cpu:6.2f} s CPU"
            f" = {1000 * ports_cpu / count:6.1f} ms CPU per device"
        )
        if os.access(CHECK_SNMP_INT, os.X_OK):
            calls = check_snmp_int_calls(sim)
            timed(calls, env)  # its own state files in /tmp: the second run has rates
            int_wall, int_cpu = timed(calls, env)
            print(
                f"  check_snmp_int.pl x {count}      {int_wall:7.2f} s wall {int_cpu:6.2f} s CPU"
                f" = {1000 * int_cpu / count:6.1f} ms CPU per device"
            )
            print(
                f"  ratio (check_snmp_int / stackwatch, CPU per device): "
                f"{int_cpu / ports_cpu:.1f}x (goal >= 1x)"
            )
        else:
            print(f"  {CHECK_SNMP_INT} not installed (Debian nagios-snmp-plugins): not compared")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
