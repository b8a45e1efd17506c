"""``image check``: does an image in Glance hold exactly a local file? Facts from Glance and the
file, then a judgement with no I/O."""

from __future__ import annotations

from typing import Any

from stackwatch.core.host import Host
from stackwatch.core.record import dataclass
from stackwatch.image.glance import file_hash, find_one
from stackwatch.image.qemu import ImageError


@dataclass(frozen=True)
class ImageFacts:
    id: str
    name: str
    status: str
    disk_format: str | None
    size: int | None
    hash_algo: str | None
    hash_value: str | None


@dataclass(frozen=True)
class Verdict:
    same: bool
    problems: tuple[str, ...]
    image: ImageFacts
    local_size: int


def image_facts(conn: Any, name_or_id: str) -> ImageFacts:
    image = find_one(conn, name_or_id)
    if image is None:
        raise ImageError(f"no image named {name_or_id!r} in Glance")
    return ImageFacts(
        image.id,
        image.name or "",
        image.status or "",
        image.disk_format,
        image.size,
        image.hash_algo,
        image.hash_value,
    )


def judge(image: ImageFacts, local_size: int, local_hash: str | None) -> Verdict:
    """Same when the image is active and its size and multihash are the local file's."""
    problems = []
    if image.status != "active":
        problems.append(f"the image is {image.status}, not active")
    if image.size is not None and image.size != local_size:
        problems.append(f"sizes differ: Glance {image.size} bytes, the file {local_size}")
    if not image.hash_value:
        problems.append("Glance gives no os_hash_value")
    elif local_hash != image.hash_value:
        problems.append(f"the {image.hash_algo} of the file differs from Glance's os_hash_value")
    return Verdict(not problems, tuple(problems), image, local_size)


def check_image(host: Host, conn: Any, name_or_id: str, path: str) -> Verdict:
    image = image_facts(conn, name_or_id)
    local_size = host.size_of(path)
    digest = file_hash(host, path, image.hash_algo) if image.hash_algo else None
    return judge(image, local_size, digest)
