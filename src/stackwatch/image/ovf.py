"""The OVF descriptor of an appliance: which disk files, in which order, and what the guest needs.

A pure parser of untrusted text (a vendor's download): a document with a DOCTYPE (entity
expansion, external entities) or larger than ``MAX_OVF_BYTES`` is refused before parsing; every
malformed part is an ``OvfError`` with one line, never a traceback.
"""

from __future__ import annotations

import re
from xml.etree import ElementTree

from stackwatch.core.record import dataclass, field

MAX_OVF_BYTES = 4 << 20
OVF_NS = "http://schemas.dmtf.org/ovf/envelope/1"
RASD_NS = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
VMW_NS = "http://www.vmware.com/schema/ovf"
# CIM resource types of the virtual hardware items that matter here.
CPU, MEMORY, IDE, SCSI, SATA, DISK = "3", "4", "5", "6", "20", "17"
BUSES = {IDE: "ide", SCSI: "scsi", SATA: "sata"}
_UNIT = re.compile(r"^\s*byte\s*(?:\*\s*2\s*\^\s*(\d{1,2}))?\s*$")
_OS_TYPES = (("windows", "windows"), ("win", "windows"))
_OS_DISTROS = (
    ("ubuntu", "ubuntu"),
    ("debian", "debian"),
    ("centos", "centos"),
    ("rhel", "rhel"),
    ("sles", "sles"),
    ("freebsd", "freebsd"),
)


class OvfError(ValueError):
    """An OVF descriptor that cannot be used, in one line."""


@dataclass(frozen=True)
class OvfDisk:
    """One disk of the appliance: the file in the archive and its declared capacity."""

    href: str
    capacity: int | None
    bus: str | None = None


@dataclass(frozen=True)
class Ovf:
    """What the descriptor says: disks in boot order and Glance properties it implies."""

    name: str | None
    disks: tuple[OvfDisk, ...]
    properties: dict[str, str] = field(default_factory=dict)


def parse_ovf(data: bytes) -> Ovf:
    """The descriptor's disks (in the order of the virtual hardware) and guest properties."""
    root = _parse_xml(data)
    files = _files(root)
    disks = _disks(root, files)
    system = root.find(f".//{{{OVF_NS}}}VirtualSystem")
    ordered = _hardware_order(system, disks) if system is not None else list(disks.values())
    if not ordered:
        raise OvfError("the OVF names no disk")
    name = system.get(f"{{{OVF_NS}}}id") if system is not None else None
    properties = _properties(system, ordered[0]) if system is not None else {}
    return Ovf(name, tuple(ordered), properties)


def _parse_xml(data: bytes) -> ElementTree.Element:
    if len(data) > MAX_OVF_BYTES:
        raise OvfError(f"the OVF is larger than {MAX_OVF_BYTES >> 20} MiB")
    if b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
        raise OvfError("the OVF has a DOCTYPE or entities (refused: no OVF needs them)")
    try:
        root = ElementTree.fromstring(data)
    except (ElementTree.ParseError, ValueError) as exc:
        raise OvfError(f"the OVF is not well-formed XML: {exc}") from None
    if root.tag != f"{{{OVF_NS}}}Envelope":
        raise OvfError("the OVF's root is not an OVF 1.x/2.x Envelope")
    return root


def _files(root: ElementTree.Element) -> dict[str, str]:
    files: dict[str, str] = {}
    for item in root.iterfind(f"{{{OVF_NS}}}References/{{{OVF_NS}}}File"):
        file_id, href = item.get(f"{{{OVF_NS}}}id"), item.get(f"{{{OVF_NS}}}href")
        if not file_id or not href:
            raise OvfError("a File in References lacks ovf:id or ovf:href")
        files[file_id] = href
    return files


def _disks(root: ElementTree.Element, files: dict[str, str]) -> dict[str, OvfDisk]:
    disks: dict[str, OvfDisk] = {}
    for disk in root.iterfind(f".//{{{OVF_NS}}}DiskSection/{{{OVF_NS}}}Disk"):
        disk_id, ref = disk.get(f"{{{OVF_NS}}}diskId"), disk.get(f"{{{OVF_NS}}}fileRef")
        if not disk_id:
            raise OvfError("a Disk lacks ovf:diskId")
        if ref is None:
            continue  # a blank disk the hypervisor makes: nothing to upload
        if ref not in files:
            raise OvfError(f"disk {disk_id!r} refers to file {ref!r}, which References lacks")
        capacity = _capacity(
            disk.get(f"{{{OVF_NS}}}capacity"), disk.get(f"{{{OVF_NS}}}capacityAllocationUnits")
        )
        disks[disk_id] = OvfDisk(files[ref], capacity)
    return disks


def _digits(text: str) -> bool:
    """ASCII digits only: str.isdigit() also takes '¹' and other digits int() refuses."""
    return text.isascii() and text.isdigit()


def _capacity(value: str | None, unit: str | None) -> int | None:
    if value is None or not _digits(value.strip()) or len(value.strip()) > 20:
        return None
    match = _UNIT.match(unit or "byte")
    if match is None:
        return None
    return int(value.strip()) << int(match.group(1) or 0)


def _items(system: ElementTree.Element) -> list[dict[str, str]]:
    """The virtual hardware items as {rasd field: text}."""
    items = []
    for item in system.iterfind(f".//{{{OVF_NS}}}VirtualHardwareSection/{{{OVF_NS}}}Item"):
        fields = {}
        for child in item:
            if child.tag.startswith(f"{{{RASD_NS}}}"):
                fields[child.tag.split("}", 1)[1]] = (child.text or "").strip()
        items.append(fields)
    return items


def _hardware_order(system: ElementTree.Element, disks: dict[str, OvfDisk]) -> list[OvfDisk]:
    """Disks in the order of their hardware items (the first is the boot disk); disks the
    hardware section does not attach follow in the order of the disk section."""
    items = _items(system)
    controllers = {i.get("InstanceID", ""): BUSES.get(i.get("ResourceType", "")) for i in items}
    ordered: list[OvfDisk] = []
    seen: set[str] = set()
    for item in items:
        if item.get("ResourceType") != DISK:
            continue
        disk_id = item.get("HostResource", "").rsplit("/", 1)[-1]
        if disk_id in disks and disk_id not in seen:
            seen.add(disk_id)
            bus = controllers.get(item.get("Parent", ""))
            ordered.append(OvfDisk(disks[disk_id].href, disks[disk_id].capacity, bus))
    ordered.extend(disk for key, disk in disks.items() if key not in seen)
    return ordered


def _properties(system: ElementTree.Element, boot: OvfDisk) -> dict[str, str]:
    """Glance properties the descriptor implies (names from Glance's metadata definitions)."""
    properties: dict[str, str] = {}
    os_section = system.find(f"{{{OVF_NS}}}OperatingSystemSection")
    if os_section is not None:
        properties.update(_os_properties(os_section))
    for item in _items(system):
        if item.get("ResourceType") == MEMORY and _digits(item.get("VirtualQuantity", "")):
            megabytes = _memory_mb(item.get("VirtualQuantity", "0"), item.get("AllocationUnits"))
            if megabytes is not None:
                properties["min_ram"] = str(megabytes)
        if item.get("ResourceType") == CPU and _digits(item.get("VirtualQuantity", "")):
            properties["ovf_cpus"] = str(int(item.get("VirtualQuantity", "0")))
    if boot.bus is not None:
        properties["hw_disk_bus"] = boot.bus
    if _efi(system):
        properties["hw_firmware_type"] = "uefi"
    return properties


def _os_properties(section: ElementTree.Element) -> dict[str, str]:
    properties: dict[str, str] = {}
    vmware_type = section.get(f"{{{VMW_NS}}}osType")
    description = section.findtext(f"{{{OVF_NS}}}Description") or ""
    if vmware_type and re.fullmatch(r"[A-Za-z0-9_]{1,64}", vmware_type):
        properties["vmware_ostype"] = vmware_type
    hint = f"{vmware_type or ''} {description}".lower()
    properties["os_type"] = next((t for key, t in _OS_TYPES if key in hint), "linux")
    distro = next((d for key, d in _OS_DISTROS if key in hint), None)
    if distro is not None:
        properties["os_distro"] = distro
    return properties


def _memory_mb(quantity: str, units: str | None) -> int | None:
    match = re.fullmatch(r"\s*byte\s*\*\s*2\s*\^\s*(\d{1,2})\s*", units or "byte * 2^20")
    if match is None or len(quantity) > 12:
        return None
    return (int(quantity) << int(match.group(1))) >> 20


def _efi(system: ElementTree.Element) -> bool:
    for config in system.iter(f"{{{VMW_NS}}}Config"):
        if (
            config.get(f"{{{VMW_NS}}}key") == "firmware"
            and config.get(f"{{{VMW_NS}}}value") == "efi"
        ):
            return True
    return False
