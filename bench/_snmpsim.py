"""snmpsim for the switch benchmarks: the real recordings (../shared/realdata/snmp) served on
127.0.0.1 under as many communities as asked.

Each device is a copy, in a temporary folder, of one recording reduced to the tables the tools
compare here read (system, ifTable, ifXTable, ifStackTable, BRIDGE and Q-BRIDGE, LLDP, CISCO-VTP
and VLAN membership): the same answers for those tables, and snmpsim indexes 50 small files in
seconds where it takes about 10 s per full recording. Copies live in a temporary folder only.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
REALDATA = PROJECT.parent / "shared" / "realdata" / "snmp"
RECORDINGS = (
    "cisco-c3560",
    "hpe-procurve-516733-b21",
    "arista-dcs-7150s-52-cl",
    "librenms-edgecos_ecs4610-24f",
)
SUBTREES = (
    "1.3.6.1.2.1.1.",
    "1.3.6.1.2.1.2.",
    "1.3.6.1.2.1.31.1.",
    "1.3.6.1.2.1.17.",
    "1.0.8802.1.1.2.",
    "1.3.6.1.4.1.9.9.46.",
    "1.3.6.1.4.1.9.9.68.",
)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def reduced(recording: str) -> str:
    lines = (REALDATA / f"{recording}.snmprec").read_text(errors="surrogateescape").splitlines()
    return "\n".join(line for line in lines if line.startswith(SUBTREES)) + "\n"


PER_PROCESS = 25  # snmpsim keeps 31 data files open; past that it reopens them on every request


def stop_agents(processes: list[subprocess.Popen[bytes]], folder: str | Path) -> None:
    """SIGTERM to every agent, SIGKILL to one still there after 10 s; their folder removed."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    shutil.rmtree(folder, ignore_errors=True)


class Simulator:
    """snmpsim serving ``count`` devices dev00.. (community = name), each one of the recordings
    in turn, 25 devices per snmpsim process (each process its own port, as each switch is its
    own agent); stopped on exit."""

    def __init__(self, count: int) -> None:
        if not REALDATA.is_dir():
            sys.exit(f"the recordings are not at {REALDATA}")
        if shutil.which("snmpsim-command-responder") is None:
            sys.exit("snmpsim is not installed: pip install snmpsim pysmi")
        self.folder = Path(tempfile.mkdtemp(prefix="stackwatch-bench-snmp-"))
        texts = {name: reduced(name) for name in RECORDINGS}
        self.devices: dict[str, str] = {}  # device -> recording
        self.ports: dict[str, int] = {}  # device -> UDP port of its snmpsim
        self.processes: list[subprocess.Popen[bytes]] = []
        for first in range(0, count, PER_PROCESS):
            names = [f"dev{n:02d}" for n in range(first, min(count, first + PER_PROCESS))]
            data = self.folder / f"data{first}"
            data.mkdir()
            port = free_udp_port()
            for number, device in enumerate(names, start=first):
                self.devices[device] = RECORDINGS[number % len(RECORDINGS)]
                self.ports[device] = port
                text = texts[self.devices[device]]
                (data / f"{device}.snmprec").write_text(text, errors="surrogateescape")
            self.processes.append(self._start(data, port))

    def _start(self, data: Path, port: int) -> subprocess.Popen[bytes]:
        argv = [
            "snmpsim-command-responder",
            f"--cache-dir={self.folder / 'cache'}",
            f"--data-dir={data}",
            f"--agent-udpv4-endpoint=127.0.0.1:{port}",
            "--log-level=error",
        ]
        env = {**os.environ, "SNMPSIM_ALLOW_ROOT": "true"}
        log = (self.folder / f"snmpsim-{port}.log").open("wb")
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)

    def __enter__(self) -> Simulator:
        deadline = time.monotonic() + 300
        for device in self.devices:  # also loads each index once, for every tool alike
            while not self._answers(device):
                if any(p.poll() is not None for p in self.processes) or (
                    time.monotonic() > deadline
                ):
                    self.__exit__()
                    sys.exit(f"snmpsim does not answer: see {self.folder}")
                time.sleep(0.3)
        return self

    def _answers(self, community: str) -> bool:
        done = subprocess.run(
            [
                "snmpget",
                "-v2c",
                "-c",
                community,
                "-t",
                "1",
                "-r",
                "0",
                f"127.0.0.1:{self.ports[community]}",
                "1.3.6.1.2.1.1.3.0",
            ],
            capture_output=True,
            check=False,
        )
        return done.returncode == 0 and b"Timeticks" in done.stdout

    def __exit__(self, *_: object) -> None:
        stop_agents(self.processes, self.folder)
