"""ipalias on a real network: two namespaces joined by a veth pair; the addresses applied in one
answer ping from the other, applying twice changes nothing, and the files written are accepted by
the real ifupdown (``ifup --no-act``) and netplan (``netplan generate``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import PROJECT

pytestmark = pytest.mark.integration


def sh(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def stackwatch_in(ns: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(PROJECT / "src"))
    argv = ["ip", "netns", "exec", ns, sys.executable, "-m", "stackwatch.cli", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, check=False)


@pytest.fixture
def pair() -> Iterator[tuple[str, str]]:
    """Namespaces (host, peer): host's veth has 10.77.0.1/24, peer's 10.77.0.2/24."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2")
    tag = uuid.uuid4().hex[:6]
    host, peer = f"swipa-h-{tag}", f"swipa-p-{tag}"
    try:
        for ns in (host, peer):
            assert sh("ip", "netns", "add", ns).returncode == 0
        assert (
            sh(
                "ip",
                "-n",
                host,
                "link",
                "add",
                "ve0",
                "type",
                "veth",
                "peer",
                "name",
                "ve1",
                "netns",
                peer,
            ).returncode
            == 0
        )
        for ns, dev, address in ((host, "ve0", "10.77.0.1/24"), (peer, "ve1", "10.77.0.2/24")):
            sh("ip", "-n", ns, "addr", "add", address, "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        yield host, peer
    finally:
        for ns in (host, peer):
            sh("ip", "netns", "del", ns)


def test_apply_answers_and_is_idempotent(pair: tuple[str, str]) -> None:
    host, peer = pair
    first = stackwatch_in(
        host,
        "ipalias",
        "apply",
        "--interface",
        "ve0",
        "--range",
        "10.77.0.186-190",
        "--prefix",
        "24",
    )
    assert (first.returncode, first.stdout) == (0, "ve0: 5 added, 0 already present\n"), (
        first.stderr
    )
    again = stackwatch_in(
        host,
        "ipalias",
        "apply",
        "--interface",
        "ve0",
        "--range",
        "10.77.0.186-190",
        "--prefix",
        "24",
    )
    assert again.stdout == "ve0: 0 added, 5 already present\n"
    for last in range(186, 191):
        assert (
            sh("ip", "netns", "exec", peer, "ping", "-c1", "-W2", f"10.77.0.{last}").returncode == 0
        )
    listed = stackwatch_in(host, "ipalias", "list", "--interface", "ve0").stdout.split()
    assert "10.77.0.190/24" in listed and "10.77.0.1/24" in listed


def test_ipv6_cidr_applied(pair: tuple[str, str]) -> None:
    host, _ = pair
    done = stackwatch_in(
        host, "ipalias", "apply", "--interface", "ve0", "--range", "fd77::10-12", "--prefix", "64"
    )
    assert done.stdout == "ve0: 3 added, 0 already present\n", done.stderr
    shown = sh("ip", "-n", host, "-6", "addr", "show", "dev", "ve0").stdout
    assert all(f"fd77::{n}/64" in shown for n in (10, 11, 12))


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("10.77.0.0-1", "10.77.0.0: network address of 10.77.0.0/24"),
        ("10.77.0.250-255", "10.77.0.255: broadcast address of 10.77.0.0/24"),
        ("10.77.0.59-61", "10.77.0.60: in use on lo as 10.77.0.60/32"),
        ("10.77.0.254-10.77.1.1", "10.77.1.0: outside 10.77.0.0/24"),
    ],
)
def test_refused_addresses_change_nothing(pair: tuple[str, str], spec: str, why: str) -> None:
    host, _ = pair
    sh("ip", "-n", host, "addr", "add", "10.77.0.60/32", "dev", "lo")
    before = sh("ip", "-n", host, "addr", "show").stdout
    done = stackwatch_in(
        host, "ipalias", "apply", "--interface", "ve0", "--range", spec, "--prefix", "24"
    )
    assert done.returncode == 2 and why in done.stderr, done.stderr
    assert "nothing done" in done.stderr
    assert sh("ip", "-n", host, "addr", "show").stdout == before


def test_written_files_accepted_by_ifupdown_and_netplan(
    pair: tuple[str, str], tmp_path: Path
) -> None:
    host, _ = pair
    ifaces = tmp_path / "ipalias"
    done = stackwatch_in(
        host,
        "ipalias",
        "plan",
        "--interface",
        "ve0",
        "--range",
        "10.77.0.20-21",
        "--prefix",
        "24",
        "--write-as",
        "ifupdown",
        "--output",
        str(ifaces),
    )
    assert done.returncode == 4, done.stderr
    if shutil.which("ifup"):
        dry = sh("ifup", "--no-act", "-v", "-i", str(ifaces), "ve0:0", "ve0:1")
        assert dry.returncode == 0, dry.stderr
        assert "ip addr add 10.77.0.21/255.255.255.0" in dry.stdout + dry.stderr
    if shutil.which("netplan"):
        target = tmp_path / "root" / "etc" / "netplan" / "60-ipalias.yaml"
        target.parent.mkdir(parents=True)
        stackwatch_in(
            host,
            "ipalias",
            "plan",
            "--interface",
            "ve0",
            "--range",
            "10.77.0.20-21",
            "--prefix",
            "24",
            "--write-as",
            "netplan",
            "--output",
            str(target),
        )
        generated = sh("netplan", "generate", "--root-dir", str(tmp_path / "root"))
        assert generated.returncode == 0, generated.stderr
        network = (tmp_path / "root/run/systemd/network/10-netplan-ve0.network").read_text()
        assert "Address=10.77.0.20/24\nAddress=10.77.0.21/24" in network
