"""`stackwatch image import|check` against a real Glance (PyPI glance, SQLite, file store,
gunicorn on 127.0.0.1): appliances made with qemu-img, imported, converted, verified."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from tests.conftest import run_stackwatch
from tests.integration.image import appliance
from tests.integration.image.conftest import Glance


def _import(glance: Glance, cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_stackwatch(
        "image", "import", *args, "--cloud", "glance-test", "--config", str(cfg), env=glance.env
    )


def _by_name(glance: Glance, name: str) -> list[dict[str, object]]:
    return [image for image in glance.images() if image["name"] == name]


def test_ova_becomes_a_verified_qcow2_image_with_the_ovf_properties(
    glance: Glance, work: Path
) -> None:
    vmdk = appliance.disk(work, "system.vmdk", "vmdk", subformat="streamOptimized")
    ova = appliance.ova(
        work / "vendor.ova",
        {"vendor.ovf": appliance.ovf(["system.vmdk"]), "system.vmdk": vmdk.read_bytes()},
    )
    cfg = appliance.config(work, work / "scratch")
    done = _import(glance, cfg, str(ova), "--name", "vendor-ova", "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["kind"] == "ova" and report["manifest_checked"]
    assert report["disks"][0]["subformat"] == "streamOptimized"
    (uploaded,) = report["uploaded"]
    assert uploaded["method"] == "glance-direct"
    (image,) = _by_name(glance, "vendor-ova")
    assert image["status"] == "active" and image["id"] == uploaded["id"]
    assert image["disk_format"] == "qcow2" and image["container_format"] == "bare"
    assert image["hw_firmware_type"] == "uefi" and image["hw_disk_bus"] == "scsi"
    assert image["os_distro"] == "ubuntu" and image["min_ram"] == 2048
    assert image["vmware_ostype"] == "ubuntu64Guest"
    # The bytes Glance stored are a qcow2 holding what the VMDK holds.
    stored = glance.store / str(image["id"])
    same = subprocess.run(
        ["qemu-img", "compare", "-f", "vmdk", "-F", "qcow2", str(vmdk), str(stored)], check=False
    )
    assert same.returncode == 0
    assert appliance.leftovers(work / "scratch") == []


def test_zip_kept_as_vmdk_second_disk_as_its_own_image(glance: Glance, work: Path) -> None:
    boot = appliance.disk(work, "boot.vmdk", "vmdk", seed=2)
    data = appliance.disk(work, "data.vmdk", "vmdk", seed=3)
    archive = appliance.zipped(
        work / "vendor.zip",
        {
            "vendor/appliance.ovf": appliance.ovf(["boot.vmdk", "data.vmdk"]),
            "vendor/boot.vmdk": boot.read_bytes(),
            "vendor/data.vmdk": data.read_bytes(),
        },
    )
    cfg = appliance.config(work, work / "scratch")
    done = _import(glance, cfg, str(archive), "--name", "vendor-zip", "--to", "keep")
    assert done.returncode == 0, done.stderr
    assert "vendor-zip-disk2" in done.stdout and "sha512 verified" in done.stdout
    (first,) = _by_name(glance, "vendor-zip")
    (second,) = _by_name(glance, "vendor-zip-disk2")
    assert first["disk_format"] == second["disk_format"] == "vmdk"
    assert first["os_hash_value"] == hashlib.sha512(boot.read_bytes()).hexdigest()
    assert second["os_hash_value"] == hashlib.sha512(data.read_bytes()).hexdigest()
    assert "os_distro" in first and "os_distro" not in second
    checked = run_stackwatch(
        "image", "check", "vendor-zip", str(boot), "--cloud", "glance-test", env=glance.env
    )
    assert checked.returncode == 0, checked.stderr
    assert "same (sha512" in checked.stdout
    wrong = run_stackwatch(
        "image", "check", "vendor-zip", str(data), "--cloud", "glance-test", env=glance.env
    )
    assert wrong.returncode == 1
    assert "DIFFERENT" in wrong.stdout and "differs from Glance's os_hash_value" in wrong.stdout


def test_existing_name_refused_before_any_work(glance: Glance, work: Path) -> None:
    disk = appliance.disk(work, "a.qcow2", "qcow2", seed=4)
    cfg = appliance.config(work, work / "scratch")
    assert _import(glance, cfg, str(disk), "--name", "twice").returncode == 0
    again = _import(glance, cfg, str(disk), "--name", "twice")
    assert again.returncode == 1
    assert "exists already" in again.stderr and "Traceback" not in again.stderr
    assert len(_by_name(glance, "twice")) == 1


def test_dry_run_uploads_nothing_and_leaves_no_scratch(glance: Glance, work: Path) -> None:
    vmdk = appliance.disk(work, "d.vmdk", "vmdk")
    cfg = appliance.config(work, work / "scratch")
    done = _import(glance, cfg, str(vmdk), "--name", "dry", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "convert to qcow2" in done.stdout and "dry run" in done.stdout
    assert _by_name(glance, "dry") == []
    assert appliance.leftovers(work / "scratch") == []


def test_direct_upload_where_no_import_is_offered(glance_upload_only: Glance, work: Path) -> None:
    disk = appliance.disk(work, "small.qcow2", "qcow2", megabytes=2)
    cfg = appliance.config(work, work / "scratch")
    done = _import(glance_upload_only, cfg, str(disk), "--name", "put", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["uploaded"][0]["method"] == "upload"
    (image,) = _by_name(glance_upload_only, "put")
    assert image["status"] == "active"


def test_refused_upload_leaves_no_half_image(glance_upload_only: Glance, work: Path) -> None:
    # 6 MiB raw is over the 4 MiB image_size_cap: Glance refuses it half-way.
    disk = appliance.disk(work, "big.qcow2", "qcow2", megabytes=6)
    cfg = appliance.config(work, work / "scratch", api_timeout=20.0)
    done = _import(glance_upload_only, cfg, str(disk), "--name", "too-big", "--to", "raw")
    assert done.returncode == 1
    assert done.stderr.startswith("stackwatch: ") and "Traceback" not in done.stderr
    assert "upload of too-big failed" in done.stderr and "deleted" in done.stderr
    assert _by_name(glance_upload_only, "too-big") == []
    assert appliance.leftovers(work / "scratch") == []
