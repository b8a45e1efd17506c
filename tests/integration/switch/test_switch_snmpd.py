"""Counters that move: Debian's snmpd, unprivileged (user nobody) on a high port of 127.0.0.1,
reporting this host's interfaces, among them a veth pair into a network namespace of the test's
own that a ping flood crosses. Rates between two readings, and no false spike when the agent
restarts (sysUpTime goes back)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_stackwatch
from tests.integration.switch.conftest import free_udp_port

PACKETS, PAYLOAD = 2000, 1000
FRAME = PAYLOAD + 8 + 20 + 14  # ICMP echo: payload, ICMP header, IPv4 header, Ethernet header


@dataclass
class Snmpd:
    port: int
    folder: Path
    veth: str
    peer_address: str
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [
            "snmpd",
            "-f",
            "-Lo",
            "-C",
            "-c",
            str(self.folder / "snmpd.conf"),
            "-u",
            "nobody",
            "-g",
            "nogroup",
            f"udp:127.0.0.1:{self.port}",
        ]
        env = {**os.environ, "MIBS": "", "SNMP_PERSISTENT_DIR": str(self.folder)}
        log = (self.folder / "snmpd.log").open("ab")
        self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env)
        for _ in range(50):
            done = subprocess.run(
                [
                    "snmpget",
                    "-v2c",
                    "-c",
                    "sw-test",
                    "-t",
                    "0.5",
                    "-r",
                    "0",
                    f"127.0.0.1:{self.port}",
                    "1.3.6.1.2.1.1.3.0",
                ],
                capture_output=True,
                check=False,
            )
            if done.returncode == 0:
                return
            time.sleep(0.2)
        pytest.fail(f"snmpd does not answer: {(self.folder / 'snmpd.log').read_text()[-1000:]}")

    def wait_for_counters(self, ifindex: int, old: int) -> None:
        """net-snmp caches the interface table a few seconds: wait until it shows the traffic."""
        oid = f"1.3.6.1.2.1.31.1.1.1.10.{ifindex}"
        for _ in range(60):
            done = subprocess.run(
                ["snmpget", "-v2c", "-c", "sw-test", "-Oqv", f"127.0.0.1:{self.port}", oid],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.stdout.strip().isdigit() and int(done.stdout) > old:
                return
            time.sleep(0.25)

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(10)
            self.process = None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def snmpd(tmp_path: Path) -> Iterator[Snmpd]:
    if shutil.which("snmpd") is None or os.geteuid() != 0:
        pytest.skip("needs Debian's snmpd and root (for the network namespace)")
    tag = uuid.uuid4().hex[:6]
    namespace, veth, peer = f"swtest-{tag}", f"sw{tag}a", f"sw{tag}b"
    tmp_path.chmod(0o755)  # snmpd reads its configuration after dropping to nobody
    (tmp_path / "snmpd.conf").write_text("rocommunity sw-test 127.0.0.1\n")
    (tmp_path / "community").write_text("sw-test\n")
    _ip("netns", "add", namespace)
    agent = Snmpd(free_udp_port(), tmp_path, veth, "10.213.77.2")
    try:
        _ip("link", "add", veth, "type", "veth", "peer", "name", peer, "netns", namespace)
        _ip("addr", "add", "10.213.77.1/30", "dev", veth)
        _ip("link", "set", veth, "up")
        _ip("-n", namespace, "addr", "add", "10.213.77.2/30", "dev", peer)
        _ip("-n", namespace, "link", "set", peer, "up")
        agent.start()
        yield agent
    finally:
        agent.stop()
        subprocess.run(["ip", "link", "del", veth], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)


def read_port(agent: Snmpd, state: Path) -> tuple[Any, Any]:
    done = run_stackwatch(
        "switch",
        "ports",
        f"127.0.0.1:{agent.port}",
        "--format",
        "json",
        "--community-file",
        str(agent.folder / "community"),
        "--state-dir",
        str(state),
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    return report, next(p for p in report["ports"] if p["name"] == agent.veth)


def test_rates_follow_real_traffic_and_a_restart_gives_no_spike(
    snmpd: Snmpd, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    first, before = read_port(snmpd, state)
    assert first["first_run"] is True
    subprocess.run(
        ["ping", "-f", "-q", "-c", str(PACKETS), "-s", str(PAYLOAD), snmpd.peer_address],
        check=True,
        capture_output=True,
    )
    snmpd.wait_for_counters(int(before["ifindex"]), int(before["counters"]["out_octets"]))
    second, after = read_port(snmpd, state)
    sent = after["counters"]["out_octets"] - before["counters"]["out_octets"]
    # every echo request left through the veth; a few bytes more for ARP and IPv6 ND
    assert PACKETS * FRAME <= sent < PACKETS * FRAME + 20_000
    assert second["first_run"] is False and after["rates"]["out_octets"] > 0
    snmpd.stop()
    snmpd.start()  # sysUpTime starts over
    third, port = read_port(snmpd, state)
    assert third["restarted"] is True
    assert port["rates"] == {}
