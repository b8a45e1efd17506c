"""Three network namespaces: a client and a server joined through a router, the router being where
a test breaks TCP (it removes the window-scale option from the SYN-ACK, as a bad middlebox does).

Addresses are from 198.18.0.0/15 (the benchmarking range) and exist only inside the namespaces
made here; everything is removed afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

CLIENT_ADDRESS = "198.18.1.2"
SERVER_ADDRESS = "198.18.2.2"


@dataclass(frozen=True)
class Path3:
    client: str
    router: str
    server: str
    client_link: str  # the client's interface toward the router

    def run(self, ns: str, *argv: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", ns, *argv],
            capture_output=True, text=True, timeout=timeout, check=True,
        )  # fmt: skip

    def strip_window_scale(self) -> None:
        """The broken router: nftables resets (to NOPs) the window-scale option of every SYN-ACK
        it forwards (nft 1.0.6 on this kernel; iptables' TCPOPTSTRIP target works here too)."""
        rules = (
            "table inet broken_router {\n chain forward {\n"
            "  type filter hook forward priority mangle;\n"
            "  tcp flags & (syn | ack) == syn | ack reset tcp option window\n }\n}\n"
        )
        subprocess.run(
            ["ip", "netns", "exec", self.router, "nft", "-f", "-"],
            input=rules, text=True, check=True, capture_output=True,
        )  # fmt: skip


def _ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True, text=True)


def _build(tag: str) -> Path3:
    path = Path3(f"sw16c-{tag}", f"sw16r-{tag}", f"sw16s-{tag}", "c0")
    for ns in (path.client, path.router, path.server):
        _ip("netns", "add", ns)
        _ip("-n", ns, "link", "set", "lo", "up")
    _ip(
        "link",
        "add",
        "c0",
        "netns",
        path.client,
        "type",
        "veth",
        "peer",
        "r0",
        "netns",
        path.router,
    )
    _ip(
        "link",
        "add",
        "r1",
        "netns",
        path.router,
        "type",
        "veth",
        "peer",
        "s0",
        "netns",
        path.server,
    )
    for ns, dev, address in (
        (path.client, "c0", f"{CLIENT_ADDRESS}/24"),
        (path.router, "r0", "198.18.1.1/24"),
        (path.router, "r1", "198.18.2.1/24"),
        (path.server, "s0", f"{SERVER_ADDRESS}/24"),
    ):
        _ip("-n", ns, "addr", "add", address, "dev", dev)
        _ip("-n", ns, "link", "set", dev, "up")
    _ip("-n", path.client, "route", "add", "default", "via", "198.18.1.1")
    _ip("-n", path.server, "route", "add", "default", "via", "198.18.2.1")
    path.run(path.router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    return path


@pytest.fixture
def routed() -> Iterator[Path3]:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    for tool in ("ip", "nft", "tcpdump", "iperf3"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (scripts/install-test-deps.sh)")
    tag = uuid.uuid4().hex[:6]
    try:
        yield _build(tag)
    finally:
        for ns in (f"sw16c-{tag}", f"sw16r-{tag}", f"sw16s-{tag}"):
            subprocess.run(["ip", "netns", "delete", ns], check=False, capture_output=True)
