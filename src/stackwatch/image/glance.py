"""Glance through openstacksdk: the image record, its data (glance-direct import where the cloud
offers it, a direct upload otherwise), the wait until active, and the hash check after it.

The cloud's credentials come from clouds.yaml or the OS_* environment, read by openstacksdk
itself: they are never on a command line, and nothing here logs a request or the configuration.
A failed upload deletes the image it made; where even that fails, the error names its id.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable
from typing import IO, Any

from stackwatch.core.host import Host
from stackwatch.core.record import dataclass
from stackwatch.image.qemu import ImageError

CHUNK = 1 << 20
POLL = 0.2
# Once the data is sent, "queued" means Glance dropped it: a refused PUT (image_size_cap, a
# quota) or a failed import task both put the image back to queued.
FAILED_STATES = ("queued", "killed", "deleted", "pending_delete", "deactivated")


@dataclass(frozen=True)
class Upload:
    """One image to create: its name, formats, properties and the local file of its data."""

    name: str
    path: str
    disk_format: str
    container_format: str
    properties: dict[str, str]


@dataclass(frozen=True)
class Uploaded:
    """An image in Glance that matches its local file."""

    id: str
    name: str
    method: str  # "glance-direct" or "upload"
    hash_algo: str
    hash_value: str
    size: int


def connect(cloud: str | None, api_timeout: float) -> Any:
    """A connection from clouds.yaml / OS_* (never from arguments: credentials stay off argv);
    ``api_timeout`` bounds the wait for each answer (a cloud that stops answering mid-upload)."""
    import openstack
    import openstack.exceptions

    try:
        if cloud:
            return openstack.connect(cloud=cloud, api_timeout=api_timeout)
        return openstack.connect(api_timeout=api_timeout)
    except (openstack.exceptions.SDKException, ValueError, KeyError) as exc:
        raise ImageError(
            f"cannot configure the cloud {cloud or '(OS_* environment)'}: {exc}"
        ) from None


def sdk_errors() -> tuple[type[BaseException], ...]:
    """What openstacksdk and keystoneauth raise for a cloud that fails or refuses."""
    import keystoneauth1.exceptions
    import openstack.exceptions

    return (openstack.exceptions.SDKException, keystoneauth1.exceptions.ClientException)


def file_hash(host: Host, path: str, algorithm: str) -> str:
    """The hex digest of a local file (Glance's multihash algorithm, sha512 by default)."""
    if algorithm not in hashlib.algorithms_available:
        raise ImageError(f"Glance uses hash algorithm {algorithm!r}, which Python lacks")
    digest = hashlib.new(algorithm)
    with host.open_binary(path) as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


class Progress:
    """A file object for the HTTP body that draws a progress bar on a terminal (stderr)."""

    def __init__(self, handle: IO[bytes], size: int, label: str, show: bool) -> None:
        self._handle = handle
        self._size = max(size, 1)
        self._done = 0
        self._label = label
        self._show = show
        self._drawn = -1

    def __len__(self) -> int:
        return self._size

    def read(self, count: int = -1) -> bytes:
        block = self._handle.read(count if count and count > 0 else CHUNK)
        self._done += len(block)
        self._draw(finished=not block)
        return block

    def _draw(self, finished: bool) -> None:
        percent = min(100, self._done * 100 // self._size)
        if not self._show or (percent == self._drawn and not finished):
            return
        self._drawn = percent
        bar = "#" * (percent // 4)
        end = "\n" if finished else ""
        sys.stderr.write(f"\r{self._label} [{bar:<25}] {percent:3d}%{end}")
        sys.stderr.flush()


def find_one(conn: Any, name_or_id: str) -> Any | None:
    """The image of that id or name; several of one name is an error."""
    import openstack.exceptions

    try:
        return conn.image.find_image(name_or_id, ignore_missing=True)
    except openstack.exceptions.DuplicateResource:
        raise ImageError(f"several images are named {name_or_id!r}: give the id") from None


def offers_glance_direct(conn: Any) -> bool:
    """Whether the cloud offers the interoperable import with glance-direct."""
    try:
        info = conn.image.get_import_info()
    except sdk_errors():
        return False
    methods = (info.import_methods or {}).get("value", [])
    return "glance-direct" in methods


def upload(conn: Any, host: Host, job: Upload, timeout: float, show_progress: bool) -> Uploaded:
    """Create the image, send its data, wait until active and check its hash; on any failure
    the image is deleted (or its id given in the error where deleting fails too)."""
    image = conn.image.create_image(
        name=job.name,
        disk_format=job.disk_format,
        container_format=job.container_format,
        allow_duplicates=True,
        **job.properties,
    )
    failures: tuple[type[BaseException], ...] = (ImageError, *sdk_errors())
    try:
        method = _send(conn, host, image, job, show_progress)
        active = _wait_active(conn, image.id, timeout)
        return _verified(host, active, job, method)
    except failures as exc:
        _remove_half_image(conn, image.id, exc)
        raise ImageError(f"upload of {job.name} failed ({exc}); image {image.id} deleted") from None
    except BaseException as exc:  # Ctrl-C, a local read error: no half image either
        _remove_half_image(conn, image.id, exc)
        raise


def _send(conn: Any, host: Host, image: Any, job: Upload, show_progress: bool) -> str:
    size = host.size_of(job.path)
    with host.open_binary(job.path) as handle:
        body = Progress(handle, size, job.name, show_progress)
        if offers_glance_direct(conn):
            conn.image.stage_image(image, data=body)
            conn.image.import_image(image, method="glance-direct")
            return "glance-direct"
        image.data = body
        image.upload(conn.image)
        return "upload"


def _wait_active(
    conn: Any, image_id: str, timeout: float, clock: Callable[[], float] = time.monotonic
) -> Any:
    deadline = clock() + timeout
    while True:
        image = conn.image.get_image(image_id)
        if image.status == "active":
            return image
        if image.status in FAILED_STATES:
            raise ImageError(
                f"Glance set image {image_id} to {image.status}: its data was refused "
                "or its import failed"
            )
        if clock() > deadline:
            raise ImageError(f"image {image_id} not active after {timeout:g} s ({image.status})")
        time.sleep(POLL)


def _verified(host: Host, image: Any, job: Upload, method: str) -> Uploaded:
    algo, value = image.hash_algo, image.hash_value
    if not algo or not value:
        raise ImageError(f"Glance gives no os_hash_value for image {image.id}: cannot verify")
    local = file_hash(host, job.path, algo)
    if local != value:
        raise ImageError(
            f"image {image.id}: Glance's {algo} differs from the local file's; the data changed "
            "on the way (or the cloud converted it on import)"
        )
    return Uploaded(image.id, job.name, method, algo, value, int(image.size or 0))


def _remove_half_image(conn: Any, image_id: str, cause: BaseException) -> None:
    try:
        conn.image.delete_image(image_id, ignore_missing=True)
    except sdk_errors() as exc:
        raise ImageError(
            f"upload failed ({cause}) and image {image_id} could not be deleted ({exc}): "
            "delete it by hand"
        ) from None
