"""Appliance downloads: an OVA (tar) or a zip holding an OVF and its disks, or a bare disk image.

Archives are untrusted: every member name is checked (no absolute path, no ``..``, no link or
device), only the OVF and the disk files it names are unpacked, each into the scratch directory
under its base name, and the bytes unpacked are counted against the scratch limit as they are
written (a zip may lie about its sizes). An OVA's manifest (.mf) is checked when present.
"""

from __future__ import annotations

import hashlib
import posixpath
import tarfile
import zipfile
from collections.abc import Iterator
from typing import IO

from stackwatch.core.host import Host, HostError
from stackwatch.core.record import dataclass
from stackwatch.image.ovf import Ovf, OvfError, parse_ovf
from stackwatch.image.qemu import ImageError

CHUNK = 1 << 20
MAX_MEMBERS = 1000
_MANIFEST_LINE = r"^(SHA1|SHA256|SHA512)\s*\(([^)]+)\)\s*=\s*([0-9a-fA-F]+)\s*$"


@dataclass(frozen=True)
class Unpacked:
    """The disks to import, in boot order, and the OVF that named them (None for a bare disk)."""

    kind: str  # "ova", "zip" or "disk"
    disks: tuple[str, ...]
    ovf: Ovf | None
    manifest_checked: bool = False


def kind_of(host: Host, path: str) -> str:
    """ "ova", "zip" or "disk", from the file's first bytes (never from its name)."""
    with host.open_binary(path) as handle:
        head = handle.read(512)
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "ova"
    return "disk"


def safe_member(name: str) -> str:
    """The base name an archive member is unpacked as; a path that climbs out is refused."""
    normal = posixpath.normpath(name.replace("\\", "/"))
    if name.startswith(("/", "\\")) or normal.startswith("..") or "\x00" in name:
        raise ImageError(f"archive member {name[:80]!r} points outside the archive: refused")
    base = posixpath.basename(normal)
    if not base or base in (".", ".."):
        raise ImageError(f"archive member {name[:80]!r} has no file name: refused")
    return base


class Budget:
    """Bytes that may still be written to scratch; writing past it is an error."""

    def __init__(self, limit: int) -> None:
        self.left = limit

    def take(self, count: int, what: str) -> None:
        self.left -= count
        if self.left < 0:
            raise ImageError(f"unpacking {what} exceeds the scratch limit: refused")


def unpack(host: Host, path: str, scratch: str, budget: Budget) -> Unpacked:
    """The disks of ``path`` ready for qemu-img: unpacked into ``scratch`` where archived."""
    kind = kind_of(host, path)
    if kind == "disk":
        return Unpacked("disk", (path,), None)
    with host.open_binary(path) as handle:
        reader = _TarReader(handle) if kind == "ova" else _ZipReader(handle)
        ovf = _read_ovf(reader)
        manifest = reader.manifest()
        disks = []
        for disk in ovf.disks:
            member = safe_member(disk.href)
            target = posixpath.join(scratch, member)
            digest = _extract(host, reader, member, target, budget, manifest)
            disks.append(target)
            del digest
    return Unpacked(kind, tuple(disks), ovf, bool(manifest))


def _read_ovf(reader: _Reader) -> Ovf:
    names = [n for n in reader.names() if n.lower().endswith(".ovf")]
    if len(names) != 1:
        raise ImageError(f"the archive holds {len(names)} OVF descriptors; one is needed")
    try:
        return parse_ovf(reader.read_small(names[0]))
    except OvfError as exc:
        raise ImageError(str(exc)) from None


def _extract(
    host: Host,
    reader: _Reader,
    member: str,
    target: str,
    budget: Budget,
    manifest: dict[str, tuple[str, str]],
) -> str:
    algorithm, expected = manifest.get(member, ("sha256", ""))
    digest = hashlib.new(algorithm)

    def blocks() -> Iterator[bytes]:
        for block in reader.stream(member):
            budget.take(len(block), member)
            digest.update(block)
            yield block

    try:
        host.write_blocks(target, blocks())
    except HostError as exc:
        raise ImageError(str(exc)) from None
    if expected and digest.hexdigest() != expected.lower():
        host.remove_file(target)
        raise ImageError(f"{member}: its digest differs from the archive's manifest")
    return digest.hexdigest()


def parse_manifest(text: str) -> dict[str, tuple[str, str]]:
    """An OVA manifest: member -> (hash algorithm, hex digest)."""
    import re

    entries = {}
    for line in text.splitlines():
        match = re.match(_MANIFEST_LINE, line.strip())
        if match:
            entries[posixpath.basename(match.group(2))] = (match.group(1).lower(), match.group(3))
    return entries


class _Reader:
    """Members of an archive by base name, refused where unsafe."""

    def names(self) -> list[str]:
        raise NotImplementedError

    def read_small(self, name: str) -> bytes:
        raise NotImplementedError

    def stream(self, name: str) -> Iterator[bytes]:
        raise NotImplementedError

    def manifest(self) -> dict[str, tuple[str, str]]:
        names = [n for n in self.names() if n.lower().endswith(".mf")]
        if not names:
            return {}
        return parse_manifest(self.read_small(names[0]).decode("utf-8", "replace"))


class _TarReader(_Reader):
    def __init__(self, handle: IO[bytes]) -> None:
        try:
            self._tar = tarfile.open(fileobj=handle, mode="r:")  # noqa: SIM115 (closed with handle)
            members = self._tar.getmembers()[: MAX_MEMBERS + 1]
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise ImageError(f"not a readable OVA (tar): {exc}") from None
        if len(members) > MAX_MEMBERS:
            raise ImageError(f"the OVA holds more than {MAX_MEMBERS} members: refused")
        self._members: dict[str, tarfile.TarInfo] = {}
        for member in members:
            base = safe_member(member.name)
            if not member.isfile():
                raise ImageError(f"OVA member {member.name[:80]!r} is not a regular file: refused")
            if base in self._members:
                raise ImageError(f"the OVA holds {base!r} twice: refused")
            self._members[base] = member

    def names(self) -> list[str]:
        return list(self._members)

    def read_small(self, name: str) -> bytes:
        return b"".join(self._chunks(name, limit=8 << 20))

    def stream(self, name: str) -> Iterator[bytes]:
        return self._chunks(name, limit=None)

    def _chunks(self, name: str, limit: int | None) -> Iterator[bytes]:
        member = self._members.get(name)
        if member is None:
            raise ImageError(f"the OVF names {name!r}, which the OVA lacks")
        if limit is not None and member.size > limit:
            raise ImageError(f"{name}: larger than {limit >> 20} MiB")
        source = self._tar.extractfile(member)
        if source is None:
            raise ImageError(f"{name}: cannot be read from the OVA")
        return _read_blocks(source, name)


class _ZipReader(_Reader):
    def __init__(self, handle: IO[bytes]) -> None:
        try:
            self._zip = zipfile.ZipFile(handle)
            infos = self._zip.infolist()
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise ImageError(f"not a readable zip: {exc}") from None
        if len(infos) > MAX_MEMBERS:
            raise ImageError(f"the zip holds more than {MAX_MEMBERS} members: refused")
        self._members: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            if info.is_dir():
                continue
            base = safe_member(info.filename)
            if base in self._members:
                raise ImageError(f"the zip holds {base!r} twice: refused")
            self._members[base] = info

    def names(self) -> list[str]:
        return list(self._members)

    def read_small(self, name: str) -> bytes:
        data = b""
        for block in self.stream(name):
            data += block
            if len(data) > 8 << 20:
                raise ImageError(f"{name}: larger than 8 MiB")
        return data

    def stream(self, name: str) -> Iterator[bytes]:
        info = self._members.get(name)
        if info is None:
            raise ImageError(f"the OVF names {name!r}, which the zip lacks")
        try:
            source = self._zip.open(info)
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError) as exc:
            raise ImageError(f"{name}: cannot be read from the zip: {exc}") from None
        return _read_blocks(source, name)


def _read_blocks(source: IO[bytes], name: str) -> Iterator[bytes]:
    with source:
        while True:
            try:
                block = source.read(CHUNK)
            except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError) as exc:
                raise ImageError(f"{name}: the archive is damaged: {exc}") from None
            if not block:
                return
            yield block
