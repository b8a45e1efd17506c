"""The hypervisor's side: lldpd in two network namespaces of the test's own joined by a veth
pair (the hypervisor cmp-t1's em1, the switch tor-t1's swp7). `switch uplinks` reads lldpctl;
`switch verify --lldpctl DIR` ties the NIC to the switch port from those files, for a switch
(our snmpsim agent tor-t1: swp7 carries VLANs 100 untagged and 200) that publishes no LLDP."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_stackwatch
from tests.integration.switch.conftest import Agents


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=True, capture_output=True, text=True)


@pytest.fixture
def lldp_pair() -> Iterator[Path]:
    """The hypervisor's lldpd control socket, once it has seen the switch side."""
    if shutil.which("lldpd") is None or os.geteuid() != 0:
        pytest.skip("needs Debian's lldpd and root (for the network namespaces)")
    tag = uuid.uuid4().hex[:6]
    host_ns, switch_ns = f"swh-{tag}", f"sws-{tag}"
    # lldpd's unprivileged half connects to the control socket: a folder it can traverse
    sockets = Path(tempfile.mkdtemp(prefix="stackwatch-lldp-"))
    sockets.chmod(0o755)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        _run("ip", "netns", "add", host_ns)
        _run("ip", "netns", "add", switch_ns)
        _run(
            "ip",
            "link",
            "add",
            "em1",
            "netns",
            host_ns,
            "type",
            "veth",
            "peer",
            "name",
            "swp7",
            "netns",
            switch_ns,
        )
        for ns, link, name in ((host_ns, "em1", "cmp-t1"), (switch_ns, "swp7", "tor-t1")):
            _run("ip", "-n", ns, "link", "set", link, "up")
            sock = sockets / f"{name}.sock"
            processes.append(
                subprocess.Popen(
                    ["ip", "netns", "exec", ns, "lldpd", "-d", "-u", str(sock), "-I", link],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            _wait_for(sock)
            _run("lldpcli", "-u", str(sock), "configure", "system", "hostname", name)
        _run(
            "lldpcli",
            "-u",
            str(sockets / "tor-t1.sock"),
            "configure",
            "lldp",
            "portidsubtype",
            "ifname",
        )
        for name in ("tor-t1", "cmp-t1"):
            _run("lldpcli", "-u", str(sockets / f"{name}.sock"), "update")
        yield sockets / "cmp-t1.sock"
    finally:
        for ns in (host_ns, switch_ns):  # lldpd and the processes it forked, all in our namespaces
            pids = subprocess.run(
                ["ip", "netns", "pids", ns], capture_output=True, text=True, check=False
            ).stdout.split()
            for pid in pids:
                os.kill(int(pid), signal.SIGTERM)
        for process in processes:
            process.wait(10)
        subprocess.run(["ip", "netns", "del", host_ns], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", switch_ns], capture_output=True, check=False)
        shutil.rmtree(sockets, ignore_errors=True)


def _wait_for(sock: Path) -> None:
    """Until lldpd answers on its control socket."""
    for _ in range(100):
        done = subprocess.run(
            ["lldpcli", "-u", str(sock), "show", "configuration"], capture_output=True, check=False
        )
        if done.returncode == 0:
            return
        time.sleep(0.1)
    pytest.fail(f"lldpd does not answer on {sock}")


def _uplinks(sock: Path) -> dict[str, object]:
    for _ in range(50):
        done = run_stackwatch("switch", "uplinks", "--socket", str(sock), "--format", "json")
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        if report["uplinks"] and report["uplinks"][0]["switch"] == "tor-t1":
            return report
        time.sleep(0.2)
    pytest.fail(f"lldpd never saw the switch side: {done.stdout}")


def test_uplinks_and_verify_from_the_hypervisors_lldpd(
    lldp_pair: Path, agents: Agents, tmp_path: Path
) -> None:
    report = _uplinks(lldp_pair)
    (uplink,) = report["uplinks"]
    assert (uplink["nic"], uplink["switch"], uplink["port"]) == ("em1", "tor-t1", "swp7")
    files = tmp_path / "lldpctl"
    files.mkdir()
    raw = subprocess.run(
        ["lldpctl", "-u", str(lldp_pair), "-f", "json"], check=True, capture_output=True, text=True
    ).stdout
    (files / "cmp-t1.json").write_text(raw)
    inventory = tmp_path / "switches.yaml"
    inventory.write_text(
        "devices:\n  tor-t1:\n    address: 127.0.0.1\n"
        f"    port: {agents.port}\n    community_file: {agents.files / 'tor-t1.community'}\n"
        "hypervisors:\n  cmp-t1: {nics: {em1: {vlans: '100,200,300', native: 100}}}\n"
    )
    done = run_stackwatch(
        "switch", "verify", str(inventory), "--lldpctl", str(files), "--format", "nagios"
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout.startswith(
        "SWITCH-VLANS CRITICAL - cmp-t1 em1 (tor-t1 swp7): VLANs missing 300 |"
    )
