"""Appliances made in the test with qemu-img itself: disks with known content, OVF descriptors,
OVAs (tar with a manifest) and zips, including hostile ones."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
import zipfile
from pathlib import Path

OVF = """<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1"
  xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"
  xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
  xmlns:vmw="http://www.vmware.com/schema/ovf">
  <References>{files}</References>
  <DiskSection><Info>disks</Info>{disks}</DiskSection>
  <VirtualSystem ovf:id="vendor-appliance">
    <Info>a vendor's appliance</Info>
    <OperatingSystemSection ovf:id="94" vmw:osType="ubuntu64Guest">
      <Info>os</Info><Description>Ubuntu Linux (64-bit)</Description>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>hardware</Info>
      <Item><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>2</rasd:VirtualQuantity></Item>
      <Item><rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>2048</rasd:VirtualQuantity></Item>
      <Item><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceType>6</rasd:ResourceType></Item>
      {items}
      <vmw:Config vmw:key="firmware" vmw:value="efi"/>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
"""


def ovf(disk_names: list[str]) -> bytes:
    """An OVF whose hardware attaches the disks in the order given (the first boots)."""
    files = disks = items = ""
    for index, name in enumerate(disk_names, start=1):
        files += f'<File ovf:id="file{index}" ovf:href="{name}"/>'
        disks += (
            f'<Disk ovf:diskId="vmdisk{index}" ovf:fileRef="file{index}" ovf:capacity="16" '
            'ovf:capacityAllocationUnits="byte * 2^20"/>'
        )
        items += (
            f"<Item><rasd:AddressOnParent>{index - 1}</rasd:AddressOnParent>"
            f"<rasd:HostResource>ovf:/disk/vmdisk{index}</rasd:HostResource>"
            f"<rasd:InstanceID>{10 + index}</rasd:InstanceID><rasd:Parent>3</rasd:Parent>"
            "<rasd:ResourceType>17</rasd:ResourceType></Item>"
        )
    return OVF.format(files=files, disks=disks, items=items).encode()


def disk(
    directory: Path, name: str, fmt: str, megabytes: int = 16, seed: int = 1, **opts: str
) -> Path:
    """A disk whose first megabytes hold bytes from ``seed`` (the rest unallocated)."""
    raw = directory / f"{name}.source.raw"
    data = hashlib.shake_256(seed.to_bytes(4, "big")).digest(min(megabytes, 3) << 20)
    with raw.open("wb") as out:
        out.write(data)
        out.truncate(megabytes << 20)
    target = directory / name
    options = ["-o", ",".join(f"{k}={v}" for k, v in opts.items())] if opts else []
    subprocess.run(
        ["qemu-img", "convert", "-f", "raw", "-O", fmt, *options, str(raw), str(target)],
        check=True,
        timeout=60,
    )
    raw.unlink()
    return target


def manifest(members: dict[str, bytes]) -> bytes:
    lines = [
        f"SHA256({name})= {hashlib.sha256(data).hexdigest()}" for name, data in members.items()
    ]
    return ("\n".join(lines) + "\n").encode()


def ova(path: Path, members: dict[str, bytes], with_manifest: bool = True) -> Path:
    """An OVA: the OVF first (the standard's order), then the disks, then the manifest."""
    if with_manifest:
        members = {**members, "appliance.mf": manifest(members)}
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def zipped(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def config(directory: Path, scratch: Path, **extra: object) -> Path:
    scratch.mkdir(exist_ok=True)
    lines = ["[image]", f'scratch_dir = "{scratch}"']
    lines += [f"{key} = {value!r}".replace("'", '"') for key, value in extra.items()]
    path = directory / "stackwatch.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def leftovers(scratch: Path) -> list[str]:
    return sorted(os.listdir(scratch))
