"""Real network namespaces: connections opened inside one are counted against the limit.

A namespace tracks connections only once a ruleset there asks for it, as on an OpenStack
qrouter namespace; the test loads a one-rule nftables table that does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import run_stackwatch

pytestmark = pytest.mark.integration

HOLD_CONNECTIONS = r"""
import socket, sys
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(128)
port = server.getsockname()[1]
clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(int(sys.argv[1]))]
accepted = [server.accept() for _ in clients]
print("ready", flush=True)
sys.stdin.read()  # hold the connections until the test closes stdin
"""


def _need_root_and_tools() -> None:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed")
    if not Path("/proc/sys/net/netfilter/nf_conntrack_max").exists():
        pytest.skip("nf_conntrack is not loaded")


@pytest.fixture
def namespaces() -> Iterator[tuple[str, str]]:
    _need_root_and_tools()
    busy, idle = f"swt-busy-{uuid.uuid4().hex[:6]}", f"swt-idle-{uuid.uuid4().hex[:6]}"
    made = []
    try:
        for name in (busy, idle):
            subprocess.run(["ip", "netns", "add", name], check=True)
            made.append(name)
            subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
            rules = (
                "table inet stackwatch_test {\n chain input {\n"
                "  type filter hook input priority 0;\n  ct state established accept\n }\n}\n"
            )
            subprocess.run(
                ["ip", "netns", "exec", name, "nft", "-f", "-"], input=rules, text=True, check=True
            )
        yield busy, idle
    finally:
        for name in made:
            subprocess.run(["ip", "netns", "delete", name], check=False)


def test_connections_in_a_namespace_are_counted(
    namespaces: tuple[str, str], tmp_path: Path
) -> None:
    busy, idle = namespaces
    holder = subprocess.Popen(
        ["ip", "netns", "exec", busy, sys.executable, "-c", HOLD_CONNECTIONS, "40"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        out = run_stackwatch("check", "conntrack", "--format", "json", "--state-dir", str(tmp_path))
        doc = json.loads(out.stdout)["checks"][0]
        per_ns = {
            m["labels"]["netns"]: m["value"]
            for m in doc["metrics"]
            if m["name"] == "entries" and "labels" in m
        }
        assert per_ns[busy] >= 40  # one entry per TCP connection, both directions in one entry
        assert per_ns[idle] == 0
        assert any(d.startswith(f"namespace {busy}: ") for d in doc["details"])
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=10)
