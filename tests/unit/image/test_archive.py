"""Appliance archives unpacked into scratch: only what the OVF names, nothing outside, bounded."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from stackwatch.core.host import Host
from stackwatch.image.archive import Budget, kind_of, safe_member, unpack
from stackwatch.image.qemu import ImageError
from tests.integration.image.appliance import ova, ovf, zipped

DISK = b"VMDK" + bytes(4096)


def _scratch(tmp_path: Path) -> str:
    where = tmp_path / "scratch"
    where.mkdir()
    return str(where)


def test_ova_unpacks_the_disks_the_ovf_names_and_checks_the_manifest(tmp_path: Path) -> None:
    path = ova(tmp_path / "a.ova", {"a.ovf": ovf(["disk.vmdk"]), "disk.vmdk": DISK})
    scratch = _scratch(tmp_path)
    result = unpack(Host(), str(path), scratch, Budget(1 << 20))
    assert result.kind == "ova" and result.manifest_checked
    assert result.disks == (f"{scratch}/disk.vmdk",)
    assert Path(result.disks[0]).read_bytes() == DISK
    assert result.ovf is not None and result.ovf.properties["os_distro"] == "ubuntu"


def test_zip_in_a_folder_unpacks_under_base_names(tmp_path: Path) -> None:
    path = zipped(
        tmp_path / "a.zip", {"v/a.ovf": ovf(["disk.vmdk"]), "v/disk.vmdk": DISK, "v/": b""}
    )
    result = unpack(Host(), str(path), _scratch(tmp_path), Budget(1 << 20))
    assert result.kind == "zip" and [os.path.basename(d) for d in result.disks] == ["disk.vmdk"]


def test_a_bare_disk_is_used_where_it_is(tmp_path: Path) -> None:
    path = tmp_path / "x.qcow2"
    path.write_bytes(b"QFI\xfb" + bytes(600))
    assert kind_of(Host(), str(path)) == "disk"
    assert unpack(Host(), str(path), _scratch(tmp_path), Budget(0)).disks == (str(path),)


@pytest.mark.parametrize("name", ["../evil.vmdk", "/etc/evil.vmdk", "a/../../evil.vmdk", "..\\x"])
def test_member_names_that_climb_out_are_refused(name: str) -> None:
    with pytest.raises(ImageError, match="outside the archive"):
        safe_member(name)


def test_ova_with_a_traversing_member_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    path = ova(tmp_path / "a.ova", {"a.ovf": ovf(["disk.vmdk"]), "../disk.vmdk": DISK}, False)
    scratch = _scratch(tmp_path)
    with pytest.raises(ImageError, match="outside the archive"):
        unpack(Host(), str(path), scratch, Budget(1 << 20))
    assert os.listdir(scratch) == [] and not (tmp_path / "disk.vmdk").exists()


def test_ova_with_a_symlink_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.ova"
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
        data = ovf(["disk.vmdk"])
        info = tarfile.TarInfo("a.ovf")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("disk.vmdk")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/shadow"
        tar.addfile(link)
    with pytest.raises(ImageError, match="not a regular file"):
        unpack(Host(), str(path), _scratch(tmp_path), Budget(1 << 20))


def test_zip_traversal_is_refused(tmp_path: Path) -> None:
    path = zipped(tmp_path / "a.zip", {"a.ovf": ovf(["disk.vmdk"]), "../../disk.vmdk": DISK})
    with pytest.raises(ImageError, match="outside the archive"):
        unpack(Host(), str(path), _scratch(tmp_path), Budget(1 << 20))


def test_manifest_mismatch_is_refused_and_the_disk_removed(tmp_path: Path) -> None:
    members = {"a.ovf": ovf(["disk.vmdk"]), "disk.vmdk": DISK}
    good = ova(tmp_path / "good.ova", members)
    with tarfile.open(good) as tar:
        manifest = tar.extractfile("appliance.mf").read()  # type: ignore[union-attr]
    bad = ova(
        tmp_path / "bad.ova", {**members, "disk.vmdk": DISK[:-1] + b"!", "a.mf": manifest}, False
    )
    scratch = _scratch(tmp_path)
    with pytest.raises(ImageError, match="differs from the archive's manifest"):
        unpack(Host(), str(bad), scratch, Budget(1 << 20))
    assert os.listdir(scratch) == []


def test_unpacking_past_the_scratch_budget_stops_and_leaves_nothing(tmp_path: Path) -> None:
    path = zipped(tmp_path / "a.zip", {"a.ovf": ovf(["disk.vmdk"]), "disk.vmdk": bytes(3 << 20)})
    scratch = _scratch(tmp_path)
    with pytest.raises(ImageError, match="exceeds the scratch limit"):
        unpack(Host(), str(path), scratch, Budget(1 << 20))
    assert os.listdir(scratch) == []


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"disk.vmdk": DISK}, "0 OVF descriptors"),
        ({"a.ovf": ovf(["disk.vmdk"]), "b.ovf": ovf(["disk.vmdk"])}, "2 OVF descriptors"),
        ({"a.ovf": ovf(["missing.vmdk"])}, "which the zip lacks"),
        ({"a.ovf": b"<!DOCTYPE x><x/>"}, "DOCTYPE"),
    ],
)
def test_broken_appliances_say_why(tmp_path: Path, members: dict[str, bytes], message: str) -> None:
    path = zipped(tmp_path / "a.zip", members)
    with pytest.raises(ImageError, match=message):
        unpack(Host(), str(path), _scratch(tmp_path), Budget(1 << 20))


def test_a_truncated_zip_is_one_error(tmp_path: Path) -> None:
    path = zipped(tmp_path / "a.zip", {"a.ovf": ovf(["disk.vmdk"]), "disk.vmdk": DISK})
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ImageError, match="zip"):
        unpack(Host(), str(path), _scratch(tmp_path), Budget(1 << 20))
