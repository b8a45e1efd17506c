"""The drbd-lvm check on a live host with the real lvm2 tools: a volume group on /dev/drbd1.

This machine has no drbd kernel module, so /dev/drbd1 is a block node with a loop device's
numbers (the PV LVM sees is named /dev/drbd1, as on a DRBD host) and ``drbdsetup`` is a script
that prints a dual-primary ``drbdsetup status --json`` (tests/fixtures/drbd). lvmconfig and vgs
are the real ones, confined by LVM_SYSTEM_DIR to an lvm.conf that sees that one device.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import run_stackwatch

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parents[2] / "fixtures" / "drbd"
DEVICE = Path("/dev/drbd1")
LVM_CONF = """devices {
  filter = [ "a|^/dev/drbd1$|", "r|.*|" ]
  obtain_device_list_from_udev = 0
  use_devicesfile = 0
}
activation { udev_sync = 0
  udev_rules = 0 }
global { use_lvmlockd = 0 }
"""


def _lvm(env: dict[str, str], *argv: str) -> None:
    subprocess.run(argv, env=env, check=True, capture_output=True, timeout=60)


@pytest.fixture
def vg_on_drbd(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a host whose VG itest_vg sits on /dev/drbd1 and whose drbdsetup says
    the resource is dual primary; everything made is removed afterwards."""
    if os.geteuid() != 0 or shutil.which("vgcreate") is None or shutil.which("losetup") is None:
        pytest.skip("needs root, lvm2 and losetup (scripts/install-test-deps.sh)")
    if DEVICE.exists():
        pytest.skip(f"{DEVICE} exists on this machine: not touching it")
    image = tmp_path / "pv.img"
    with image.open("wb") as handle:
        handle.truncate(64 << 20)
    loop = subprocess.run(
        ["losetup", "-f", "--show", str(image)], capture_output=True, text=True, check=False
    )
    if loop.returncode != 0:
        pytest.skip(f"no loop device here: {loop.stderr.strip()}")
    device = loop.stdout.strip()
    (tmp_path / "lvm").mkdir()
    (tmp_path / "lvm" / "lvm.conf").write_text(LVM_CONF)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "drbdsetup"
    status, show = FIXTURES / "status-dual.json", FIXTURES / "show-dual.txt"
    fake.write_text(f'#!/bin/sh\ncase "$1" in status) cat {status};; show) cat {show};; esac\n')
    fake.chmod(0o755)
    env = dict(
        os.environ,
        LVM_SYSTEM_DIR=str(tmp_path / "lvm"),
        LVM_SUPPRESS_FD_WARNINGS="1",
        PATH=f"{bin_dir}:{os.environ['PATH']}",
    )
    rdev = os.stat(device).st_rdev
    try:
        os.mknod(DEVICE, 0o600 | 0o060000, rdev)  # S_IFBLK
        _lvm(env, "pvcreate", "-q", str(DEVICE))
        _lvm(env, "vgcreate", "-q", "itest_vg", str(DEVICE))
        yield env
    finally:
        subprocess.run(["vgremove", "-f", "itest_vg"], env=env, capture_output=True, check=False)
        subprocess.run(["pvremove", "-f", str(DEVICE)], env=env, capture_output=True, check=False)
        DEVICE.unlink(missing_ok=True)
        subprocess.run(["losetup", "-d", device], check=False)


def test_dual_primary_on_a_local_vg_is_critical(vg_on_drbd: dict[str, str]) -> None:
    done = run_stackwatch("check", "drbd-lvm", "--format", "nagios", env=vg_on_drbd)
    assert done.returncode == 2, done.stdout + done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith(
        "DRBD-LVM CRITICAL - r0: dual primary under VG itest_vg without cluster locking"
    )
    assert "r1 to nodeb: StandAlone (split brain or disconnected)" in first


def test_json_names_the_vg_and_the_remedy(vg_on_drbd: dict[str, str]) -> None:
    import json

    done = run_stackwatch("check", "drbd-lvm", "--format", "json", env=vg_on_drbd)
    (result,) = json.loads(done.stdout)["checks"]
    assert result["status"] == "CRITICAL"
    assert "vgchange --lock-type dlm itest_vg" in result["hint"]
    assert "source: drbdsetup status --json" in result["details"]
