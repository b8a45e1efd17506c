"""Real tunnels: two network namespaces joined by a veth (the underlay) and by a VXLAN over it
(the overlay); iperf3 -s in one, `stackwatch overlay measure` from the other. With the VXLAN's MTU
at the underlay's less 50 (what the kernel picks for a VXLAN bound to its device) nothing
fragments; with it forced to the underlay's own 1500, full-size tunnel packets are fragmented,
which the measurement must say.

Addresses are from 198.18.0.0/15, inside the namespaces made here only; bounded durations.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import PROJECT

UNDERLAY, OVERLAY = "198.18.6.2", "198.18.7.2"
PORT = "5202"


@dataclass(frozen=True)
class Tunnel:
    near: str
    far: str

    def measure(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "stackwatch.cli", "overlay", "measure", "--underlay", UNDERLAY,
             "--overlay", OVERLAY, "--netns", self.near, "--port", PORT, "--rounds", "2",
             "--seconds", "1", *args],
            capture_output=True, text=True, timeout=60, check=False,
            env={**os.environ, "PYTHONPATH": str(PROJECT / "src")},
        )  # fmt: skip

    def set_overlay_mtu(self, mtu: int) -> None:
        for ns in (self.near, self.far):
            _ip("-n", ns, "link", "set", "vx0", "mtu", str(mtu))


def _ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True, text=True)


@pytest.fixture
def tunnel() -> Iterator[Tunnel]:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    for tool in ("iperf3", "tracepath", "nstat"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (scripts/install-test-deps.sh)")
    tag = uuid.uuid4().hex[:6]
    made = Tunnel(f"sw16va-{tag}", f"sw16vb-{tag}")
    server = None
    try:
        for ns in (made.near, made.far):
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
        _ip("link", "add", "u0", "netns", made.near, "type", "veth", "peer", "u0",
            "netns", made.far)  # fmt: skip
        for ns, me, peer in ((made.near, "1", "2"), (made.far, "2", "1")):
            _ip("-n", ns, "addr", "add", f"198.18.6.{me}/24", "dev", "u0")
            _ip("-n", ns, "link", "set", "u0", "up")
            # not bound to u0 ("dev"): the kernel would then refuse an MTU above u0's less 50
            _ip("-n", ns, "link", "add", "vx0", "mtu", "1450", "type", "vxlan", "id", "16",
                "dstport", "4789", "local", f"198.18.6.{me}",
                "remote", f"198.18.6.{peer}")  # fmt: skip
            _ip("-n", ns, "addr", "add", f"198.18.7.{me}/24", "dev", "vx0")
            _ip("-n", ns, "link", "set", "vx0", "up")
        server = subprocess.Popen(
            ["ip", "netns", "exec", made.far, "iperf3", "-s", "-p", PORT],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        yield made
    finally:
        if server is not None:
            server.kill()
            server.wait()
        for ns in (made.near, made.far):
            subprocess.run(["ip", "netns", "delete", ns], check=False, capture_output=True)


def _metrics(result: subprocess.CompletedProcess[str]) -> dict[str, float]:
    assert result.returncode == 0, result.stderr
    (check,) = json.loads(result.stdout)["checks"]
    return {m["name"]: m["value"] for m in check["metrics"]}


def test_vxlan_against_its_underlay(tunnel: Tunnel) -> None:
    metrics = _metrics(tunnel.measure("--format", "json"))
    assert metrics["underlay_bps"] > 1e8 and metrics["overlay_bps"] > 1e7
    assert metrics["ratio"] > 0  # two virtual links on two shared cores: the ratio is noisy
    assert metrics["underlay_pmtu"] == 1500 and metrics["overlay_pmtu"] == 1450
    assert metrics["fragments"] == 0


def test_an_overlay_mtu_the_underlay_cannot_carry_fragments(tunnel: Tunnel) -> None:
    # one run: once the kernel has learnt the tunnel's real path MTU (vxlan sends the inner
    # sender "fragmentation needed"), later connections send smaller segments
    tunnel.set_overlay_mtu(1500)
    result = tunnel.measure("--format", "json")
    assert result.returncode == 0, result.stderr
    (check,) = json.loads(result.stdout)["checks"]
    metrics = {m["name"]: m["value"] for m in check["metrics"]}
    assert metrics["fragments"] > 0, check
    assert check["status"] in ("WARNING", "CRITICAL")
    assert "the overlay fragments" in check["summary"]
    assert "lower the overlay interface's MTU to 1450" in check["hint"]
