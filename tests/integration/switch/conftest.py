"""Real SNMP agents on 127.0.0.1: snmpsim serving the real switch recordings
(../shared/realdata/snmp, each file's name its community) and our own small hostile agents
(tests/fixtures/switch/agents), one v3 authPriv user; a silent agent and a slow one."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PROJECT, REALDATA

AGENTS = PROJECT / "tests" / "fixtures" / "switch" / "agents"
CACHE = Path(tempfile.gettempdir()) / "stackwatch-snmpsim-cache"  # indexes: built once
V3_USER, V3_AUTH, V3_PRIV = "monitor", "auth-secret-1", "priv-secret-1"
RECORDINGS = (
    "cisco-c3560",
    "hpe-procurve-516733-b21",
    "arista-dcs-7150s-52-cl",
    "librenms-edgecos_ecs4610-24f",
)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Agents:
    port: int  # snmpsim: community = recording name
    silent_port: int  # a socket that never answers
    slow_port: int  # snmpsim behind a proxy that waits before every answer
    files: Path  # community and v3 files, one per agent


def _answers(port: int, community: str) -> bool:
    import ezsnmp

    try:
        session = ezsnmp.Session(
            hostname="127.0.0.1",
            port_number=str(port),
            version="2c",
            community=community,
            timeout="2",
            retries="0",
        )
        session.get(["1.3.6.1.2.1.1.5.0"])
    except Exception:
        return False
    return True


def _start_snmpsim(port: int, log: Path) -> subprocess.Popen[bytes]:
    if shutil.which("snmpsim-command-responder") is None:
        pytest.skip("snmpsim is not installed (pip install snmpsim pysmi)")
    argv = [  # one engine: its options follow --v3-engine-id
        "snmpsim-command-responder",
        f"--cache-dir={CACHE}",
        "--v3-engine-id=auto",
        f"--data-dir={REALDATA / 'snmp'}",
        f"--data-dir={AGENTS}",
        f"--agent-udpv4-endpoint=127.0.0.1:{port}",
        f"--v3-user={V3_USER}",
        f"--v3-auth-key={V3_AUTH}",
        "--v3-auth-proto=SHA",
        f"--v3-priv-key={V3_PRIV}",
        "--v3-priv-proto=AES",
    ]
    env = {**os.environ, "SNMPSIM_ALLOW_ROOT": "true"}
    return subprocess.Popen(argv, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env)


def _wait_ready(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 180  # the first run indexes the recordings (~30 s)
    pending = [*RECORDINGS, "truncated-vtp"]
    while pending and time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"snmpsim ended: {log.read_text()[-2000:]}")
        if _answers(port, pending[0]):
            pending.pop(0)
        else:
            time.sleep(0.5)
    if pending:
        pytest.fail(f"snmpsim does not answer for {pending}: {log.read_text()[-2000:]}")


class _SlowProxy(threading.Thread):
    """Forwards each request to snmpsim after ``delay`` seconds: an agent that answers slowly."""

    def __init__(self, port: int, target: int, delay: float) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.sock.settimeout(0.2)
        self.target, self.delay, self.stopping = target, delay, False

    def run(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as upstream:
            upstream.settimeout(5)
            while not self.stopping:
                try:
                    data, client = self.sock.recvfrom(65535)
                    time.sleep(self.delay)
                    upstream.sendto(data, ("127.0.0.1", self.target))
                    self.sock.sendto(upstream.recvfrom(65535)[0], client)
                except OSError:
                    continue

    def stop(self) -> None:
        self.stopping = True
        self.join(2)
        self.sock.close()


@pytest.fixture(scope="session")
def agents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agents]:
    if not REALDATA.is_dir():
        pytest.skip(f"real captures not available at {REALDATA}")
    work = tmp_path_factory.mktemp("snmp")
    port = free_udp_port()
    log = work / "snmpsim.log"
    process = _start_snmpsim(port, log)
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    slow = _SlowProxy(free_udp_port(), port, 0.7)
    slow.start()
    try:
        _wait_ready(process, port, log)
        for name in (*RECORDINGS, *(p.stem for p in AGENTS.glob("*.snmprec"))):
            (work / f"{name}.community").write_text(name + "\n")
        for name in RECORDINGS:
            (work / f"{name}.v3").write_text(
                f"user: {V3_USER}\nauth_protocol: SHA\nauth_password: {V3_AUTH}\n"
                f"priv_protocol: AES\npriv_password: {V3_PRIV}\ncontext: {name}\n"
            )
        yield Agents(port, silent.getsockname()[1], slow.sock.getsockname()[1], work)
    finally:
        slow.stop()
        silent.close()
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
