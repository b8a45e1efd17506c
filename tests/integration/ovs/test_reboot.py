"""Layouts that survive a restart: ovsdb-server and ovs-vswitchd restarted (the management
port's device made anew, its address gone), then the boot-time unit's own command run as
systemd would run it, and the address is back."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
from switch import Switch, ovs_config

from tests.conftest import run_stackwatch

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
CLASSIC = REPO / "tests" / "fixtures" / "ovs" / "openstack-compute.yaml"
UNIT = REPO / "contrib" / "systemd" / "stackwatch-ovs-layout.service"


def addresses(switch: Switch, device: str) -> list[str] | None:
    """Global addresses of a device in the switch's namespace; None while it does not exist."""
    done = subprocess.run(
        ["ip", "-n", switch.netns, "-j", "addr", "show", "dev", device],
        capture_output=True,
        text=True,
        check=False,
        timeout=10,
    )
    if done.returncode != 0:
        return None
    (entry,) = json.loads(done.stdout)
    return [f"{a['local']}/{a['prefixlen']}" for a in entry["addr_info"] if a["scope"] == "global"]


def unit_command(config: Path) -> list[str]:
    """The unit's ExecStart, with this tree's stackwatch and the test's configuration."""
    (line,) = [x for x in UNIT.read_text().splitlines() if x.startswith("ExecStart=")]
    argv = shlex.split(line[len("ExecStart=") :])
    assert argv[0].endswith("/stackwatch") and argv[-2] == "--config"
    return [sys.executable, "-m", "stackwatch.cli", *argv[1:-1], str(config)]


def wait_for_device(switch: Switch, device: str) -> list[str]:
    for _ in range(100):
        found = addresses(switch, device)
        if found is not None:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{device} did not come back after the restart")


def test_unit_command_brings_the_address_back_after_a_restart(
    switch: Switch, tmp_path: Path
) -> None:
    config = ovs_config(tmp_path / "sw.toml", switch.db, layout=str(CLASSIC), netns=switch.netns)
    command = unit_command(config)
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert addresses(switch, "mgmt") == ["10.0.15.11/24"]

    # this host has no boot-time unit enabled: verify says the address would be lost
    verify = run_stackwatch("ovs", "verify", "--config", str(config), timeout=60)
    assert verify.returncode == 0, verify.stdout
    assert "1 addresses would not survive a reboot" in " ".join(verify.stdout.split())

    switch.restart(devices=("mgmt",))
    assert switch.vsctl("get", "port", "mgmt", "tag").strip() == "15"  # OVSDB kept the rows
    assert wait_for_device(switch, "mgmt") == []  # the device anew, without its address
    assert run_stackwatch("ovs", "verify", "--config", str(config), timeout=60).returncode == 1

    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "set the address of 1 devices" in done.stdout
    assert addresses(switch, "mgmt") == ["10.0.15.11/24"]
    assert run_stackwatch("ovs", "verify", "--config", str(config), timeout=60).returncode == 0
