"""End to end: `stackwatch check` on a hypervisor tree with every problem of the host checks at
once (dead bond member, uncorrected memory errors, a failing and a worn disk, a missing daemon)
tells each one with what to do, and each check also works alone as a Nagios plugin."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import run_stackwatch
from tests.unit.hostchecks.support import FIXTURES, copy_tree, write
from tests.unit.hostchecks.test_disk_smart import NVME_FAILING, REALLOCATED, fake_smartctl

HOST_CHECKS = ["links", "processes", "tcp-retransmits", "memory-ecc", "disk-smart", "temperature"]


@pytest.fixture
def hypervisor(realdata: Path, tmp_path: Path) -> tuple[Path, dict[str, str], Path]:
    root = copy_tree(FIXTURES / "bond-dead-member", tmp_path / "root")
    sys_tree = realdata / "node_exporter" / "sys"
    copy_tree(sys_tree / "devices" / "system", root / "sys" / "devices" / "system")
    copy_tree(sys_tree / "devices" / "platform", root / "sys" / "devices" / "platform")
    copy_tree(sys_tree / "class" / "hwmon", root / "sys" / "class" / "hwmon")
    write(root, "/proc/net/snmp", (realdata / "node_exporter/proc/net/snmp").read_text())
    write(root, "/proc/net/netstat", (realdata / "node_exporter/proc/net/netstat").read_text())
    write(root, "/proc/1/comm", "systemd\n")
    write(root, "/proc/1/cmdline", b"/sbin/init\0")
    write(root, "/proc/812/comm", "ovsdb-server\n")
    write(root, "/proc/812/cmdline", b"ovsdb-server\0/etc/openvswitch/conf.db\0")
    disks = {
        name: json.loads((realdata / "smartctl" / file).read_text())
        for name, file in (("sda", REALLOCATED), ("nvme0", NVME_FAILING))
    }
    path = fake_smartctl(tmp_path / "bin", dict(disks))
    config = tmp_path / "stackwatch.toml"
    config.write_text('[checks.processes]\nroles = ["ovs"]\n')
    env = {"PATH": path + ":" + os.environ["PATH"], "COLUMNS": "100"}
    return root, env, config


def test_every_problem_on_one_screen(hypervisor: tuple[Path, dict[str, str], Path]) -> None:
    root, env, config = hypervisor
    done = run_stackwatch(
        "check",
        *HOST_CHECKS,
        "--root",
        str(root),
        "--config",
        str(config),
        "--state-dir",
        str(root.parent / "state"),
        env=env,
    )
    out = done.stdout
    assert done.returncode == 2, done.stderr
    assert "bond bond0: member eth1 is down" in out
    assert "ovs-vswitchd not running (role ovs)" in out
    assert "5 uncorrected memory errors on mc0" in out
    assert "/dev/sda: reallocated sectors 304" in out and "/dev/nvme0: overall health" in out
    assert out.count("what to do:") == 4  # links, processes, memory-ecc, disk-smart
    assert "Traceback" not in done.stderr
    assert len(out.splitlines()) < 60


@pytest.mark.parametrize("name", HOST_CHECKS)
def test_each_check_alone_as_a_nagios_plugin(
    name: str, hypervisor: tuple[Path, dict[str, str], Path]
) -> None:
    root, env, config = hypervisor
    done = run_stackwatch(
        "check",
        name,
        "--root",
        str(root),
        "--config",
        str(config),
        "--format",
        "nagios",
        "--state-dir",
        str(root.parent / "state"),
        env=env,
    )
    first = done.stdout.splitlines()[0]
    status = first.split(" ")[1]
    assert first.startswith(name.upper() + " ")
    assert (
        done.returncode == {"OK": 0, "SKIP": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}[status]
    )
    assert status != "UNKNOWN", done.stdout
