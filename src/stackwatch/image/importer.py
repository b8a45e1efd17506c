"""``image import`` from start to end: unpack into bounded scratch, inspect, plan, convert,
prove the conversion with qemu-img compare, upload and verify; the scratch is removed whatever
happens."""

from __future__ import annotations

import posixpath
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from stackwatch.core.host import Host, HostError
from stackwatch.core.record import dataclass
from stackwatch.image.archive import Budget, Unpacked, unpack
from stackwatch.image.glance import Upload, Uploaded, find_one, upload
from stackwatch.image.plan import GIB, DiskPlan, check_scratch, plan_disks
from stackwatch.image.qemu import ImageError, QemuImg
from stackwatch.image.settings import ImageSettings

GLANCE_DISK_FORMATS = {"vpc": "vhd"}


@dataclass(frozen=True)
class ImportRequest:
    path: str
    name: str
    to: str
    dry_run: bool
    show_progress: bool


@dataclass(frozen=True)
class ImportReport:
    """What was found, planned and (unless a dry run) done."""

    request: ImportRequest
    kind: str
    manifest_checked: bool
    plans: tuple[DiskPlan, ...]
    uploaded: tuple[Uploaded, ...]
    compared: tuple[bool, ...]


@contextmanager
def scratch_space(host: Host, settings: ImageSettings) -> Iterator[tuple[str, Budget]]:
    """A private directory under scratch_dir and the bytes it may hold (the smaller of the
    limit and the free space); removed on the way out."""
    limit = int(settings.scratch_limit_gib * GIB)
    try:
        available = min(limit, host.free_bytes(settings.scratch_dir))
        where = posixpath.join(settings.scratch_dir, f"stackwatch-image-{secrets.token_hex(6)}")
        host.make_dir(where, 0o700)
    except HostError as exc:
        raise ImageError(f"scratch space: {exc}") from None
    try:
        yield where, Budget(available)
    finally:
        host.remove_tree(where)


def run_import(
    host: Host, settings: ImageSettings, request: ImportRequest, connect: Callable[[], Any]
) -> ImportReport:
    if not host.exists(request.path):
        raise ImageError(f"{request.path}: no such file")
    qemu = QemuImg(host, settings.qemu_img, settings.qemu_timeout)
    with scratch_space(host, settings) as (scratch, budget):
        unpacked = unpack(host, request.path, scratch, budget)
        disks = [(disk, qemu.info(disk)) for disk in unpacked.disks]
        plans = plan_disks(
            request.name,
            disks,
            unpacked.ovf,
            request.to,
            settings.hypervisor_formats,
        )
        check_scratch(plans, budget.left)
        if request.dry_run:
            return _report(request, unpacked, plans, (), ())
        conn = connect()
        _refuse_taken_names(conn, plans)
        ready = [_converted(qemu, plan, scratch) for plan in plans]
        uploaded = tuple(
            upload(conn, host, _job(plan, path), settings.upload_timeout, request.show_progress)
            for plan, path in zip(plans, ready, strict=True)
        )
    return _report(request, unpacked, plans, uploaded, tuple(p.converts for p in plans))


def _report(
    request: ImportRequest,
    unpacked: Unpacked,
    plans: list[DiskPlan],
    uploaded: tuple[Uploaded, ...],
    compared: tuple[bool, ...],
) -> ImportReport:
    return ImportReport(
        request, unpacked.kind, unpacked.manifest_checked, tuple(plans), uploaded, compared
    )


def _refuse_taken_names(conn: Any, plans: list[DiskPlan]) -> None:
    for plan in plans:
        existing = find_one(conn, plan.image_name)
        if existing is not None:
            raise ImageError(
                f"an image named {plan.image_name!r} exists already ({existing.id}): "
                "choose another --name"
            )


def _converted(qemu: QemuImg, plan: DiskPlan, scratch: str) -> str:
    """The file to upload: the source itself, or its conversion proved identical."""
    if not plan.converts:
        return plan.source
    stem = posixpath.splitext(posixpath.basename(plan.source))[0]
    target = posixpath.join(scratch, f"{stem}.converted.{plan.target_format}")
    qemu.convert(plan.source, plan.info.format, target, plan.target_format)
    if not qemu.same_content(plan.source, plan.info.format, target, plan.target_format):
        raise ImageError(
            f"qemu-img compare: {plan.image_name}'s conversion differs from its source"
        )
    return target


def _job(plan: DiskPlan, path: str) -> Upload:
    disk_format = GLANCE_DISK_FORMATS.get(plan.target_format, plan.target_format)
    return Upload(plan.image_name, path, disk_format, "bare", plan.properties)
