"""``qemu-img info|convert|compare``: what a disk image is, its conversion, and the proof.

``parse_info`` is a pure parser of qemu-img's JSON (untrusted: it describes a vendor's file).
An image that reads another file (a backing file, an external data file, a VMDK whose extents
live in other files) is refused: uploading it would upload, or leak, something else. ``info``
runs under ``prlimit`` (memory and CPU bounded, as OpenStack's own image inspection does), since
a crafted image header can make qemu-img work hard.
"""

from __future__ import annotations

import json
import os
from typing import Any

from stackwatch.core.host import Host
from stackwatch.core.record import dataclass

MAX_INFO_BYTES = 1 << 20
INFO_TIMEOUT = 30.0
INFO_LIMITS = ("prlimit", "--as=1073741824", "--cpu=30", "--")
KNOWN_FORMATS = ("raw", "qcow2", "vmdk", "vpc", "vhdx", "vdi", "qed")
VMDK_SUBFORMATS = ("monolithicSparse", "streamOptimized")


class ImageError(ValueError):
    """An image that cannot be imported, in one line."""


@dataclass(frozen=True)
class ImageInfo:
    """What qemu-img says about one file."""

    format: str
    virtual_size: int
    actual_size: int | None
    subformat: str | None = None


def parse_info(text: str, filename: str) -> ImageInfo:
    """qemu-img's JSON for ``filename``, refused where it reads any file but itself."""
    if len(text) > MAX_INFO_BYTES:
        raise ImageError("qemu-img info printed more than 1 MiB")
    try:
        data = json.loads(text)
    except ValueError:
        raise ImageError("qemu-img info printed no JSON") from None
    if not isinstance(data, dict):
        raise ImageError("qemu-img info printed JSON that is not an object")
    fmt, size = data.get("format"), data.get("virtual-size")
    if not isinstance(fmt, str) or fmt not in KNOWN_FORMATS:
        raise ImageError(f"unsupported image format {str(fmt)[:40]!r}")
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise ImageError("qemu-img info gives no virtual size")
    _refuse_other_files(data, filename)
    specific = data.get("format-specific")
    subformat = _vmdk_subformat(specific) if fmt == "vmdk" else None
    actual = data.get("actual-size")
    return ImageInfo(fmt, size, actual if isinstance(actual, int) else None, subformat)


def _refuse_other_files(data: dict[str, Any], filename: str) -> None:
    for key in ("backing-filename", "full-backing-filename", "backing-image"):
        if data.get(key):
            raise ImageError(
                f"the image has a backing file ({str(data[key])[:80]!r}): refused, "
                "it would upload another file's content"
            )
    specific = data.get("format-specific")
    payload = specific.get("data") if isinstance(specific, dict) else None
    if isinstance(payload, dict) and payload.get("data-file"):
        raise ImageError("the image has an external data file: refused")
    extents = payload.get("extents", []) if isinstance(payload, dict) else []
    for extent in extents if isinstance(extents, list) else []:
        name = extent.get("filename") if isinstance(extent, dict) else None
        if isinstance(name, str) and os.path.basename(name) != os.path.basename(filename):
            raise ImageError(f"the VMDK reads extent {name[:80]!r} from another file: refused")


def _vmdk_subformat(specific: Any) -> str:
    payload = specific.get("data") if isinstance(specific, dict) else None
    kind = payload.get("create-type") if isinstance(payload, dict) else None
    if kind not in VMDK_SUBFORMATS:
        raise ImageError(
            f"VMDK type {str(kind)[:40]!r} refused: only {', '.join(VMDK_SUBFORMATS)} "
            "(one file) are imported"
        )
    return str(kind)


class QemuImg:
    """qemu-img through the Host, with the deadlines of the [image] section."""

    def __init__(self, host: Host, program: str, timeout: float) -> None:
        self.host = host
        self.program = program
        self.timeout = timeout

    def info(self, path: str) -> ImageInfo:
        limits = INFO_LIMITS if self.host.which("prlimit") else ()
        argv = [*limits, self.program, "info", "--output", "json", path]
        result = self.host.run(argv, timeout=INFO_TIMEOUT, what="qemu-img info")
        return parse_info(result.stdout, path)

    def convert(self, source: str, source_format: str, target: str, target_format: str) -> None:
        argv = [self.program, "convert", "-f", source_format, "-O", target_format]
        self.host.run([*argv, source, target], timeout=self.timeout, what="qemu-img convert")

    def same_content(self, first: str, first_format: str, second: str, second_format: str) -> bool:
        """``qemu-img compare``: the guest reads the same bytes from both (unallocated: zeros)."""
        argv = [self.program, "compare", "-f", first_format, "-F", second_format]
        result = self.host.run(
            [*argv, first, second], timeout=self.timeout, check=False, what="qemu-img compare"
        )
        if result.returncode > 1:
            tail = (result.stderr.strip().splitlines() or ["no message"])[-1]
            raise ImageError(f"qemu-img compare failed: {tail}")
        return result.returncode == 0
