"""net-snmp's snmpd serving the real switch recordings, for the switch benchmarks: one snmpd per
device on 127.0.0.1, each value of the recording an ``override`` line of its configuration.

snmpsim (bench/_snmpsim.py) is Python: it spends about 1.3 ms of CPU per request and 0.16 ms per
value served (bench/switch_verify.py measures it), so on a small machine the simulator, not the
tools compared, sets the pace. snmpd answers in C. ``override`` knows INTEGER, Gauge32,
Counter32, OCTET STRING and OID values: Counter64, TimeTicks and IpAddress rows are left out (no
column ``switch verify`` reads has them; sysUpTime is snmpd's own). Only the override module and
the system group are loaded, so that no row of the machine's own interfaces mixes in.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _snmpsim import RECORDINGS, free_udp_port, reduced, stop_agents

TYPES = {"2": "integer", "4": "octet_str", "6": "object_id", "65": "counter", "66": "uinteger"}
UPTIME = "1.3.6.1.2.1.1.3."


def override_lines(recording: str) -> list[str]:
    """The recording's rows that snmpd can serve, as ``override`` lines."""
    lines = []
    for row in reduced(recording).splitlines():
        oid, tag, value = row.split("|", 2)
        kind = TYPES.get(tag.rstrip("x"))
        if kind is None or oid.startswith(UPTIME):
            continue
        if kind == "octet_str":
            raw = (
                bytes.fromhex(value)
                if tag.endswith("x")
                else value.encode(errors="surrogateescape")
            )
            value = f"0x{raw.hex()}" if raw else '""'
        lines.append(f"override .{oid} {kind} {value}")
    return lines


class Snmpd:
    """``count`` snmpd processes dev00.. (community = name), each one of the recordings in
    turn, each on its own port; stopped on exit. Same ``devices`` and ``ports`` as Simulator."""

    def __init__(self, count: int) -> None:
        if shutil.which("snmpd") is None:
            sys.exit("snmpd is not installed (Debian package snmpd)")
        self.folder = Path(tempfile.mkdtemp(prefix="stackwatch-bench-snmpd-"))
        texts = {name: "\n".join(override_lines(name)) + "\n" for name in RECORDINGS}
        self.devices: dict[str, str] = {}
        self.ports: dict[str, int] = {}
        self.processes: list[subprocess.Popen[bytes]] = []
        for number in range(count):
            device = f"dev{number:02d}"
            self.devices[device] = RECORDINGS[number % len(RECORDINGS)]
            self.ports[device] = free_udp_port()
            conf = self.folder / f"{device}.conf"
            head = f"rocommunity {device} 127.0.0.1\ndontLogTCPWrappersConnects yes\n"
            conf.write_text(head + texts[self.devices[device]])
            self.processes.append(self._start(device, conf))

    def _start(self, device: str, conf: Path) -> subprocess.Popen[bytes]:
        argv = [
            "snmpd",
            "-f",  # stay in the foreground: ours to stop
            "-Lf",
            str(self.folder / f"{device}.log"),
            "-C",  # this configuration only
            "-c",
            str(conf),
            "-I",
            "override,vacm_conf,system_mib",
            f"udp:127.0.0.1:{self.ports[device]}",
        ]
        return subprocess.Popen(argv, env={**os.environ, "MIBS": ""})

    def __enter__(self) -> Snmpd:
        deadline = time.monotonic() + 60
        for device in self.devices:
            while not self._answers(device):
                if time.monotonic() > deadline or any(p.poll() is not None for p in self.processes):
                    self.__exit__()
                    sys.exit(f"snmpd does not answer: see {self.folder}")
                time.sleep(0.1)
        return self

    def _answers(self, device: str) -> bool:
        argv = ["snmpget", "-v2c", "-c", device, "-t", "1", "-r", "0"]
        target = f"127.0.0.1:{self.ports[device]}"
        done = subprocess.run(
            [*argv, target, "1.3.6.1.2.1.1.5.0"], capture_output=True, check=False
        )
        return done.returncode == 0 and b"STRING" in done.stdout

    def __exit__(self, *_: object) -> None:
        stop_agents(self.processes, self.folder)
