"""`stackwatch image import` up to the upload, with the real qemu-img and no cloud: what is
refused, what a dry run says, and scratch space found too small before converting."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import run_stackwatch
from tests.integration.image import appliance


def _import(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # No cloud is configured: each of these must end before openstacksdk is asked anything.
    env = {"OS_CLOUD": "", "OS_CLIENT_CONFIG_FILE": "/nonexistent/clouds.yaml"}
    return run_stackwatch("image", "import", *args, "--config", str(cfg), env=env)


def test_dry_run_of_an_ova_says_what_would_be_done(work: Path) -> None:
    vmdk = appliance.disk(work, "system.vmdk", "vmdk", subformat="monolithicSparse")
    ova = appliance.ova(
        work / "vendor.ova",
        {"vendor.ovf": appliance.ovf(["system.vmdk"]), "system.vmdk": vmdk.read_bytes()},
    )
    cfg = appliance.config(work, work / "scratch")
    done = _import(cfg, str(ova), "--name", "vendor", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1:] == [
        "  vendor: vmdk (monolithicSparse), 0.02 GiB virtual; convert to qcow2",
        "    hw_disk_bus=scsi",
        "    hw_firmware_type=uefi",
        "    min_ram=2048",
        "    os_distro=ubuntu",
        "    os_type=linux",
        "    ovf_cpus=2",
        "    vmware_ostype=ubuntu64Guest",
        "dry run: nothing converted or uploaded",
    ]
    assert done.stdout.splitlines()[0].endswith("vendor.ova: ova, manifest checked")
    assert appliance.leftovers(work / "scratch") == []


def test_an_image_with_a_backing_file_is_refused(work: Path) -> None:
    base = appliance.disk(work, "base.qcow2", "qcow2")
    child = work / "child.qcow2"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(base), str(child)],
        check=True,
    )
    done = _import(appliance.config(work, work / "scratch"), str(child), "--name", "x", "--dry-run")
    assert done.returncode == 1
    assert "backing file" in done.stderr and "Traceback" not in done.stderr


def test_a_vmdk_descriptor_reading_another_file_is_refused(work: Path) -> None:
    descriptor = work / "flat.vmdk"
    descriptor.write_text(
        "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n"
        'createType="monolithicFlat"\nRW 8 FLAT "/etc/hostname" 0\n'
        'ddb.virtualHWVersion = "4"\n'
    )
    done = _import(appliance.config(work, work / "scratch"), str(descriptor), "--name", "x")
    assert done.returncode == 1
    assert "refused" in done.stderr and "Traceback" not in done.stderr


def test_scratch_too_small_is_found_before_converting(work: Path) -> None:
    vmdk = appliance.disk(work, "big.vmdk", "vmdk", megabytes=64)
    cfg = appliance.config(work, work / "scratch", scratch_limit_gib=0.01)
    done = _import(cfg, str(vmdk), "--name", "x", "--to", "raw")
    assert done.returncode == 1
    assert "needs up to 0.1 GiB of scratch space, 0.0 GiB are available" in done.stderr
    assert appliance.leftovers(work / "scratch") == []


def test_usage_errors_exit_2(work: Path) -> None:
    cfg = appliance.config(work, work / "scratch")
    assert _import(cfg, "x.vmdk", "--name", "x", "--to", "vhd").returncode == 2
    missing = _import(cfg, str(work / "nothing.vmdk"), "--name", "x")
    assert missing.returncode == 1 and "no such file" in missing.stderr
