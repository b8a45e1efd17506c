"""What an import will do, decided from the facts and nothing else (no I/O): the target format
of each disk, its Glance formats and properties, and the scratch space the conversion needs."""

from __future__ import annotations

from stackwatch.core.record import dataclass
from stackwatch.image.ovf import Ovf
from stackwatch.image.qemu import ImageError, ImageInfo

TARGETS = ("auto", "qcow2", "raw", "keep")
GIB = 1 << 30


@dataclass(frozen=True)
class DiskPlan:
    """One disk: where it is, what it is, what it becomes and under which image name."""

    source: str
    info: ImageInfo
    target_format: str
    image_name: str
    properties: dict[str, str]

    @property
    def converts(self) -> bool:
        return self.target_format != self.info.format

    @property
    def scratch_needed(self) -> int:
        """The most a conversion can write: the whole virtual disk (qcow2 metadata aside)."""
        return self.info.virtual_size + (self.info.virtual_size >> 6) if self.converts else 0


def target_format(info: ImageInfo, wanted: str, hypervisor_formats: tuple[str, ...]) -> str:
    """``auto`` keeps a format the hypervisors boot and converts any other to the first of them."""
    if wanted not in TARGETS:
        raise ImageError(f"--to must be one of {', '.join(TARGETS)}, not {wanted!r}")
    if wanted == "keep":
        return info.format
    if wanted == "auto":
        return info.format if info.format in hypervisor_formats else hypervisor_formats[0]
    return wanted


def plan_disks(
    name: str,
    disks: list[tuple[str, ImageInfo]],
    ovf: Ovf | None,
    wanted: str,
    hypervisor_formats: tuple[str, ...],
) -> list[DiskPlan]:
    """The boot disk is imported as ``name`` with the OVF's properties; further disks as
    ``name-disk2`` and on, in the OVF's order."""
    plans = []
    for index, (source, info) in enumerate(disks):
        properties = dict(ovf.properties) if ovf is not None and index == 0 else {}
        if info.subformat:
            properties["vmware_disktype"] = _VMWARE_DISKTYPE.get(info.subformat, "sparse")
        fmt = target_format(info, wanted, hypervisor_formats)
        if fmt != "vmdk":
            properties.pop("vmware_disktype", None)
        image_name = name if index == 0 else f"{name}-disk{index + 1}"
        plans.append(DiskPlan(source, info, fmt, image_name, properties))
    return plans


_VMWARE_DISKTYPE = {"streamOptimized": "streamOptimized", "monolithicSparse": "sparse"}


def check_scratch(plans: list[DiskPlan], available: int) -> None:
    """Refuse before converting when the scratch space cannot hold the conversions."""
    needed = sum(plan.scratch_needed for plan in plans)
    if needed > available:
        raise ImageError(
            f"the conversion needs up to {needed / GIB:.1f} GiB of scratch space, "
            f"{available / GIB:.1f} GiB are available (scratch_dir, scratch_limit_gib)"
        )
