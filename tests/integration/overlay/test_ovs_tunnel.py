"""A real Open vSwitch tunnel with the userspace (netdev) datapath as the overlay: two switches,
each an ovsdb-server and an ovs-vswitchd of its own running in its own network namespace (the
project's test Switch), joined by a veth (the underlay). In each namespace the veth is a port of
the netdev bridge br-phy, whose internal port holds the underlay address (OVS's userspace tunnels
route and resolve neighbours through such a bridge), and the netdev bridge br-int holds a VXLAN
port to the peer's underlay address and, on its internal port, the overlay address. iperf3 -s in
one namespace, `stackwatch overlay measure` from the other: both paths must be measured.

Addresses are from 198.18.0.0/15, inside the namespaces made here only; bounded durations.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import PROJECT
from tests.integration.ovs.switch import Switch

UNDERLAY, OVERLAY = "198.18.8.2", "198.18.9.2"
PORT = "5203"
OVERLAY_MTU = 1450  # the underlay's 1500 less VXLAN's 50


@dataclass(frozen=True)
class OvsTunnel:
    near: Switch
    far: Switch

    def measure(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "stackwatch.cli", "overlay", "measure", "--underlay", UNDERLAY,
             "--overlay", OVERLAY, "--netns", self.near.netns, "--port", PORT, "--rounds", "2",
             "--seconds", "1", *args],
            capture_output=True, text=True, timeout=60, check=False,
            env={**os.environ, "PYTHONPATH": str(PROJECT / "src")},
        )  # fmt: skip


def _ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True, text=True)


def _ping(ns: str, address: str) -> bool:
    done = subprocess.run(
        ["ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "1", address],
        capture_output=True, check=False,
    )  # fmt: skip
    return done.returncode == 0


def _wait_for_ping(ns: str, address: str, seconds: float = 10) -> None:
    # the userspace tunnel learns the peer's MAC (tnl/neigh) from the first exchanges
    deadline = time.monotonic() + seconds
    while not _ping(ns, address):
        assert time.monotonic() < deadline, f"{address} unreachable from {ns} through OVS"


def _bridges(switch: Switch, me: str, peer: str) -> None:
    netdev = ("--", "set", "bridge")
    switch.vsctl(
        "add-br", "br-phy", *netdev, "br-phy", "datapath_type=netdev",
        "--", "add-port", "br-phy", "u0",
        "--", "add-br", "br-int", *netdev, "br-int", "datapath_type=netdev",
        "--", "set", "interface", "br-int", f"mtu_request={OVERLAY_MTU}",
        "--", "add-port", "br-int", "vxlan0", "--", "set", "interface", "vxlan0", "type=vxlan",
        f"options:remote_ip=198.18.8.{peer}", "options:key=16",
    )  # fmt: skip
    for device, address in (("br-phy", f"198.18.8.{me}"), ("br-int", f"198.18.9.{me}")):
        _ip("-n", switch.netns, "addr", "add", f"{address}/24", "dev", device)
        _ip("-n", switch.netns, "link", "set", device, "up")


def _tunnel_tx_packets(switch: Switch) -> int:
    # asked of ovs-vswitchd itself: OVSDB's statistics column lags by up to 5 s
    done = subprocess.run(
        ["ovs-ofctl", "dump-ports", "br-int", "vxlan0"],
        env=switch.env, capture_output=True, text=True, timeout=10, check=True,
    )  # fmt: skip
    found = re.search(r"tx pkts=(\d+)", done.stdout)
    assert found, done.stdout
    return int(found.group(1))


@pytest.fixture
def ovs_tunnel() -> Iterator[OvsTunnel]:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    for tool in ("ovs-vswitchd", "iperf3", "tracepath", "nstat"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (scripts/install-test-deps.sh)")
    switches: list[Switch] = []
    server = None
    try:
        for _ in range(2):
            switches.append(Switch().start())
        made = OvsTunnel(*switches)
        _ip("link", "add", "u0", "netns", made.near.netns, "type", "veth", "peer", "u0",
            "netns", made.far.netns)  # fmt: skip
        for switch, me, peer in ((made.near, "1", "2"), (made.far, "2", "1")):
            _ip("-n", switch.netns, "link", "set", "u0", "up")
            _bridges(switch, me, peer)
        _wait_for_ping(made.near.netns, OVERLAY)
        server = subprocess.Popen(
            ["ip", "netns", "exec", made.far.netns, "iperf3", "-s", "-p", PORT],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        yield made
    finally:
        if server is not None:
            server.kill()
            server.wait()
        for switch in switches:
            switch.stop()  # its daemons, its namespace (with the veth and taps) and its directory


def test_an_ovs_userspace_tunnel_against_its_underlay(ovs_tunnel: OvsTunnel) -> None:
    result = ovs_tunnel.measure("--format", "json")
    assert result.returncode == 0, result.stderr
    (check,) = json.loads(result.stdout)["checks"]
    metrics = {m["name"]: m["value"] for m in check["metrics"]}
    assert metrics["underlay_bps"] > 0 and metrics["overlay_bps"] > 0, check
    assert metrics["ratio"] > 0  # the userspace datapath is much slower than the kernel: noisy
    assert metrics["underlay_pmtu"] == 1500 and metrics["overlay_pmtu"] == OVERLAY_MTU
    assert metrics["fragments"] == 0
    # the overlay's traffic went through the OVS tunnel port, not around it
    assert _tunnel_tx_packets(ovs_tunnel.near) > 10_000
