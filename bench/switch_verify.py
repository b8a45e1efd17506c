"""Figures of issue 13 (switches over SNMP), side by side in one run, ratios printed.

50 switches, the real recordings served under 50 communities by either agent:
- snmpsim (bench/_snmpsim.py, Python, two processes of 25 devices), as the issue asks;
- net-snmp's snmpd (bench/switch_snmpd.py, C, one process per device), where the agent's own
  CPU does not set the pace.

- ``stackwatch switch verify`` of all 50 (port names and links, VLANs, LLDP of every device, read
  at once) against ``snmpbulkwalk`` of the same columns (and ``snmpget`` of sysUpTime and sysName)
  device after device, as an operator's shell loop does. Goal: at least 5 times faster. Best of
  ``--rounds`` for each, the two alternating; the agents' CPU in each is printed too.
- Per recording: requests and values each side asks, and the agent's CPU for them.
- CPU per device (snmpsim only: snmpd's ``override`` has no Counter64): ``stackwatch check
  switch-ports`` on the 50 (one process for all) against one ``check_snmp_int.pl`` call per device
  (Debian nagios-snmp-plugins) for the same interfaces. Goal: at most that of one call.

Run: python3 bench/switch_verify.py [--devices 50] [--rounds 3] [--agents both|snmpsim|snmpd]
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
from typing import Any, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _cpu import environment
from _snmpsim import PROJECT, RECORDINGS, Simulator
from switch_snmpd import Snmpd

sys.path.insert(0, str(PROJECT / "src"))
from stackwatch.switch import client, oids
from stackwatch.switch.client import Credentials, Target
from stackwatch.switch.device import request_for

CHECK_SNMP_INT = "/usr/lib/nagios/plugins/check_snmp_int.pl"
TICK = os.sysconf("SC_CLK_TCK")


class Agents(Protocol):
    devices: dict[str, str]
    ports: dict[str, int]
    processes: list[subprocess.Popen[bytes]]


def agents_cpu(agents: Agents) -> float:
    """CPU seconds the agents' processes have used so far."""
    total = 0
    for process in agents.processes:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def timed(
    argvs: Sequence[Sequence[str]], agents: Agents, env: dict[str, str]
) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds of the commands and CPU seconds of the agents, of running
    ``argvs`` one after the other."""
    before, agent_before = resource.getrusage(resource.RUSAGE_CHILDREN), agents_cpu(agents)
    started = time.perf_counter()
    for argv in argvs:
        subprocess.run(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False
        )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, agents_cpu(agents) - agent_before


def write_inventory(agents: Agents, folder: Path) -> Path:
    lines = ["devices:"]
    for device in agents.devices:
        (folder / f"{device}.community").write_text(device + "\n")
        lines += [
            f"  {device}:",
            "    address: 127.0.0.1",
            f"    port: {agents.ports[device]}",
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


def loop_columns() -> tuple[str, ...]:
    """What verify reads, as a shell loop reads it: every column walked in full (stackwatch
    gets the VTP trunks' bitmaps for the trunks only; the loop walks those columns too)."""
    return (*request_for({"vlans", "lldp"}, 10).columns, *oids.VTP_TRUNK_DETAILS)


def device_loop(agents: Agents, device: str) -> list[list[str]]:
    target = f"127.0.0.1:{agents.ports[device]}"
    scalars = (oids.SYS_UPTIME, oids.SYS_NAME)
    argvs = [["snmpget", "-v2c", "-c", device, "-On", target, *scalars]]
    argvs += [
        ["snmpbulkwalk", "-v2c", "-c", device, "-On", target, column] for column in loop_columns()
    ]
    return argvs


def walk_loop(agents: Agents) -> list[list[str]]:
    return [argv for device in agents.devices for argv in device_loop(agents, device)]


# --- per recording: what each side asks ----------------------------------------------------


class Counted:
    """An ezsnmp session that counts the requests it sends and the values it gets back."""

    requests = 0
    values = 0

    def __init__(self, session: Any) -> None:
        object.__setattr__(self, "session", session)

    def __getattr__(self, name: str) -> Any:
        call = getattr(self.session, name)
        if name not in ("get", "get_next", "bulk_get"):
            return call

        def counted(oids_asked: list[str]) -> Any:
            replies = call(oids_asked)
            Counted.requests += 1
            Counted.values += len(replies)
            return replies

        return counted

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.session, name, value)


def stackwatch_asks(agents: Agents, device: str) -> tuple[int, int, float]:
    """Requests, values and agent CPU seconds of stackwatch reading what verify needs."""
    opened = client._session
    client._session = lambda target, request: Counted(opened(target, request))  # type: ignore[assignment]
    Counted.requests = Counted.values = 0
    target = Target(device, "127.0.0.1", agents.ports[device], Credentials("2c", community=device))
    before = agents_cpu(agents)
    try:
        client.fetch(target, request_for({"vlans", "lldp"}, 30))
    finally:
        client._session = opened
    return Counted.requests, Counted.values, agents_cpu(agents) - before


def loop_asks(agents: Agents, device: str, env: dict[str, str]) -> tuple[int, int, float]:
    """Requests, values and agent CPU seconds of the loop for one device. snmpbulkwalk asks 10
    rows a request and stops at the first row past the column: rows // 10 + 1 requests and
    10 values each (counted so, not captured)."""
    requests = values = 0
    before = agents_cpu(agents)
    for argv in device_loop(agents, device):
        done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        lines = done.stdout.splitlines()  # a long Hex-STRING goes on over several lines
        rows = sum(1 for line in lines if line.startswith(".") and " = No " not in line)
        walked = argv[0] == "snmpbulkwalk"
        requests += rows // 10 + 1 if walked else 1
        values += 10 * (rows // 10 + 1) if walked else rows
    return requests, values, agents_cpu(agents) - before


def per_recording(agents: Agents, env: dict[str, str]) -> None:
    print("  per device, one of each recording: requests / values asked / agent CPU ms")
    for device, recording in list(agents.devices.items())[: len(RECORDINGS)]:
        ours = stackwatch_asks(agents, device)
        theirs = loop_asks(agents, device, env)
        print(
            f"    {recording:30} stackwatch {ours[0]:3} / {ours[1]:4} / {1000 * ours[2]:4.0f}"
            f"   loop {theirs[0]:3} / {theirs[1]:4} / {1000 * theirs[2]:4.0f}"
        )


def agent_cost(agents: Agents, asks: int = 200) -> None:
    """The agent's CPU per request and per value: ``asks`` GETBULKs of 1 value, then of 60
    (6 IF-MIB columns x 10 rows), from one device."""
    import ezsnmp

    device = next(iter(agents.devices))
    columns = (oids.IF_DESCR, oids.IF_OPER, oids.IF_NAME, oids.IF_ADMIN, oids.IF_ALIAS, "1.3")
    spent = []
    for width, repetitions in ((1, 1), (6, 10)):
        session = ezsnmp.Session(
            hostname="127.0.0.1",
            port_number=str(agents.ports[device]),
            version="2c",
            community=device,
            set_max_repeaters_to_num=str(repetitions),
            timeout="10",
            retries="0",
        )
        before = agents_cpu(agents)
        for _ in range(asks):
            session.bulk_get(list(columns[:width]))
        spent.append((agents_cpu(agents) - before) / asks)
    per_value = (spent[1] - spent[0]) / 59
    print(
        f"  agent CPU: {max(0.0, 1000 * (spent[0] - per_value)):.2f} ms per request"
        f" and {1000 * per_value:.3f} ms per value ({asks} GETBULKs of 1, then of 60 values)"
    )


# --- side by side ---------------------------------------------------------------------------


def stackwatch(*args: str) -> list[str]:
    return [sys.executable, "-m", "stackwatch.cli", *args]


def side_by_side(agents: Agents, inventory: Path, rounds: int, env: dict[str, str]) -> None:
    verify = stackwatch("switch", "verify", str(inventory), "--timeout", "120")
    loop = walk_loop(agents)
    timed([verify], agents, env)  # warm: Python's caches
    ours, theirs = [], []
    for _ in range(rounds):
        ours.append(timed([verify], agents, env))
        theirs.append(timed(loop, agents, env))
    best_ours, best_theirs = min(ours), min(theirs)
    count = len(agents.devices)
    print(f"  {count} switches: VLANs, LLDP, port names and links (best of {rounds}; wall, CPU)")
    for name, (wall, cpu, agent) in (
        ("stackwatch switch verify", best_ours),
        (f"snmpbulkwalk loop ({len(loop)} runs)", best_theirs),
    ):
        print(f"    {name:32} {wall:7.2f} s {cpu:6.2f} s CPU; agents {agent:6.2f} s CPU")
    walls = ", ".join(f"{t[0] / o[0]:.1f}" for o, t in zip(ours, theirs, strict=True))
    print(
        f"  ratio (loop / stackwatch, wall): {best_theirs[0] / best_ours[0]:.1f}x (goal >= 5x;"
        f" each round: {walls})"
    )


def check_snmp_int_calls(agents: Agents) -> list[list[str]]:
    return [
        [
            *(CHECK_SNMP_INT, "-2", "-H", "127.0.0.1", "-p", str(agents.ports[device])),
            *("-C", device, "-n", ".", "-f", "-e", "-k", "-g", "-w", "800,800", "-c", "950,950"),
        ]
        for device in agents.devices
    ]


def ports_cpu(agents: Agents, work: Path, config: Path, env: dict[str, str]) -> None:
    count = len(agents.devices)
    ports = stackwatch(
        *("check", "switch-ports", "--config", str(config), "--format", "nagios"),
        *("--state-dir", str(work / "state"), "--timeout", "120"),
    )
    timed([ports], agents, env)  # first run: counters saved; the second computes rates
    ports_wall, cpu, _ = timed([ports], agents, env)
    print(f"  switch-ports (check_snmp_int's job) for {count} switches")
    print(
        f"    stackwatch check switch-ports {ports_wall:7.2f} s wall {cpu:6.2f} s CPU"
        f" = {1000 * cpu / count:6.1f} ms CPU per device"
    )
    if not os.access(CHECK_SNMP_INT, os.X_OK):
        print(f"    {CHECK_SNMP_INT} not installed (Debian nagios-snmp-plugins): not compared")
        return
    calls = check_snmp_int_calls(agents)
    timed(calls, agents, env)  # its own state files in /tmp: the second run has rates
    int_wall, int_cpu, _ = timed(calls, agents, env)
    print(
        f"    check_snmp_int.pl x {count}      {int_wall:7.2f} s wall {int_cpu:6.2f} s CPU"
        f" = {1000 * int_cpu / count:6.1f} ms CPU per device"
    )
    print(
        f"  ratio (check_snmp_int / stackwatch, CPU per device): {int_cpu / cpu:.1f}x (goal >= 1x)"
    )


def run(kind: str, count: int, rounds: int, env: dict[str, str]) -> None:
    work = Path(tempfile.mkdtemp(prefix="stackwatch-bench-switch-"))
    agents_class = Simulator if kind == "snmpsim" else Snmpd
    print(f"agents: {kind}")
    with agents_class(count) as agents:
        inventory = write_inventory(agents, work)
        agent_cost(agents)
        per_recording(agents, env)
        side_by_side(agents, inventory, rounds, env)
        if kind == "snmpsim":
            config = work / "stackwatch.toml"
            config.write_text(f'[switch]\ninventory = "{inventory}"\ntimeout = 120\n')
            ports_cpu(agents, work, config, env)
    shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--agents", choices=("both", "snmpsim", "snmpd"), default="both")
    args = parser.parse_args()
    for tool in ("snmpbulkwalk", "snmpget"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed (Debian package snmp)")
    # as installed copies run: with compiled bytecode (the warm runs write it), MIBs not loaded
    env = {**environment(), "PYTHONPATH": str(PROJECT / "src"), "MIBS": ""}
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for kind in ("snmpd", "snmpsim") if args.agents == "both" else (args.agents,):
        run(kind, args.devices, args.rounds, env)


if __name__ == "__main__":
    main()
