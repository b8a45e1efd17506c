"""Real redirected traffic between two network namespaces: a server answers on the "new"
addresses only; the client connects to the "old" ones and reaches it while a redirect is in place,
and not after it is removed or has expired (the kernel's timeout, stackwatch not running).

Addresses are from 198.18.0.0/15 and 2001:db8::/32, inside the namespaces made here only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import PROJECT

OLD4, NEW4 = "198.18.5.5", "198.18.4.2"
OLD6, NEW6 = "2001:db8:5::5", "2001:db8:4::2"
PORT = 8080

SERVER = r"""
import socket, sys, threading
def serve(family, address):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((address, 8080)); s.listen(16)
    while True:
        c, _ = s.accept(); c.sendall(b"new server\n"); c.close()
for family, address in ((socket.AF_INET, sys.argv[1]), (socket.AF_INET6, sys.argv[2])):
    threading.Thread(target=serve, args=(family, address), daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
"""

CLIENT = r"""
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1.5) as c:
        print(c.recv(100).decode().strip())
except OSError as exc:
    print("unreachable:", exc)
"""


@dataclass(frozen=True)
class Pair:
    client: str
    server: str

    def stackwatch(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The command run inside the client's namespace: its own traffic is redirected."""
        return subprocess.run(
            ["ip", "netns", "exec", self.client, sys.executable, "-m", "stackwatch.cli",
             "redirect", *args],
            capture_output=True, text=True, timeout=30, check=False,
            env={**os.environ, "PYTHONPATH": str(PROJECT / "src")},
        )  # fmt: skip

    def reach(self, address: str, port: int = PORT) -> str:
        return subprocess.run(
            ["ip", "netns", "exec", self.client, sys.executable, "-c", CLIENT, address, str(port)],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()  # fmt: skip


def _ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True, text=True)


@pytest.fixture
def pair() -> Iterator[Pair]:
    if os.geteuid() != 0 or shutil.which("nft") is None:
        pytest.skip("needs root and nftables")
    tag = uuid.uuid4().hex[:6]
    names = Pair(f"sw16rc-{tag}", f"sw16rs-{tag}")
    server = None
    try:
        for ns in (names.client, names.server):
            _ip("netns", "add", ns)
            _ip("-n", ns, "link", "set", "lo", "up")
        _ip("link", "add", "c0", "netns", names.client, "type", "veth",
            "peer", "s0", "netns", names.server)  # fmt: skip
        for ns, dev, addresses in (
            (names.client, "c0", ["198.18.3.1/24", "2001:db8:3::1/64"]),
            (
                names.server,
                "s0",
                ["198.18.3.2/24", "2001:db8:3::2/64", f"{NEW4}/32", f"{NEW6}/128"],
            ),
        ):
            for address in addresses:
                _ip(
                    "-n",
                    ns,
                    "addr",
                    "add",
                    address,
                    "dev",
                    dev,
                    *(["nodad"] if ":" in address else []),
                )
            _ip("-n", ns, "link", "set", dev, "up")
        _ip("-n", names.client, "route", "add", "default", "via", "198.18.3.2")
        _ip("-n", names.client, "-6", "route", "add", "default", "via", "2001:db8:3::2")
        server = subprocess.Popen(
            ["ip", "netns", "exec", names.server, sys.executable, "-c", SERVER, NEW4, NEW6],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        yield names
    finally:
        if server is not None:
            server.kill()
            server.wait()
        for ns in (names.client, names.server):
            subprocess.run(["ip", "netns", "delete", ns], check=False, capture_output=True)


def test_a_redirect_sends_the_old_address_to_the_new_until_removed(pair: Pair) -> None:
    assert pair.reach(NEW4) == "new server"
    assert pair.reach(OLD4).startswith("unreachable")
    added = pair.stackwatch("add", "--from", f"{OLD4}:{PORT}", "--to", f"{NEW4}:{PORT}")
    assert added.returncode == 0, added.stderr
    assert pair.reach(OLD4) == "new server"
    assert pair.reach(OLD4, 8081).startswith("unreachable")  # only the port asked for
    listing = pair.stackwatch("list")
    assert f"{OLD4}:{PORT}" in listing.stdout and "1h59m" in listing.stdout
    removed = pair.stackwatch("remove", "--from", f"{OLD4}:{PORT}")
    assert removed.returncode == 0, removed.stderr
    assert pair.reach(OLD4).startswith("unreachable")


def test_ipv6_address_redirect_expires_by_itself(pair: Pair) -> None:
    added = pair.stackwatch("add", "--from", OLD6, "--to", NEW6, "--expire", "3s")
    assert added.returncode == 0, added.stderr
    assert pair.reach(OLD6) == "new server"
    time.sleep(4)  # nothing of stackwatch runs now: the kernel's timeout removes the element
    assert pair.reach(OLD6).startswith("unreachable")
    assert pair.stackwatch("list").stdout.strip() == "no redirects"
    assert pair.stackwatch("remove", "--all").returncode == 0


def test_loops_and_nonsense_are_refused_and_nothing_is_added(pair: Pair) -> None:
    assert pair.stackwatch("add", "--from", OLD4, "--to", NEW4).returncode == 0
    for args in (
        ["--from", NEW4, "--to", "198.18.7.7"],  # the target is itself redirected: a chain
        ["--from", "198.18.7.7", "--to", OLD4],  # into a redirected address: a loop
        ["--from", NEW4, "--to", NEW4],
        ["--from", "old-partner.example", "--to", NEW4],
        ["--from", OLD6, "--to", NEW4],
    ):
        refused = pair.stackwatch("add", *args)
        assert refused.returncode == 2, (args, refused.stderr)
        assert len(refused.stderr.strip().splitlines()) == 1
    assert len(pair.stackwatch("list", "--format", "json").stdout.split('"from"')) == 2
    assert pair.stackwatch("remove", "--all").returncode == 0
    tables = subprocess.run(
        ["ip", "netns", "exec", pair.client, "nft", "list", "tables"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "stackwatch_redirect" not in tables.stdout
