"""A physical copy is extracted while its SHA-256 is taken (one read): what matches the catalog
is extracted; what does not is said to differ, whichever way it is compressed and even when the
decompressor gives up half way; a name that leaves the extraction directory is never written.
Also the compression level a job gets when it names none."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import shutil
import struct
import zlib
from pathlib import Path

import pytest
import zstandard

from stackwatch.backup.config import Job
from stackwatch.backup.dump import Compression, DumpedFile
from stackwatch.backup.physical import CopyDiffers, extract_checked
from stackwatch.core.host import Host

pytestmark = pytest.mark.skipif(shutil.which("mbstream") is None, reason="no mbstream")


def chunk(path: str, data: bytes) -> bytes:
    """One file of an mbstream (xbstream format): its payload chunk, then its end."""
    name = path.encode()
    head = b"XBSTCK01\0P" + struct.pack("<I", len(name)) + name
    payload = struct.pack("<QQI", len(data), 0, zlib.crc32(data)) + data
    return head + payload + b"XBSTCK01\0E" + struct.pack("<I", len(name)) + name


def stored(tmp: Path, stream: bytes, compression: str) -> tuple[Path, DumpedFile]:
    packed = {
        "zst": zstandard.ZstdCompressor().compress,
        "gz": gzip.compress,
        "none": lambda b: b,
    }[compression](stream)
    suffix = "" if compression == "none" else f".{compression}"
    path = tmp / f"_physical.mbstream{suffix}"
    path.write_bytes(packed)
    digest = hashlib.sha256(packed).hexdigest()
    return path, DumpedFile(path.name, None, len(packed), len(stream), digest)


@pytest.mark.parametrize("compression", ["zst", "gz", "none"])
def test_a_copy_that_matches_is_extracted(tmp_path: Path, compression: str) -> None:
    stream = chunk("ibdata1", b"pages" * 1000) + chunk("shop/t.ibd", b"rows")
    path, copy = stored(tmp_path, stream, compression)
    into = tmp_path / "into"
    into.mkdir()
    extract_checked(Host(), path, copy, into, "mariadb-backup", None)
    assert (into / "ibdata1").read_bytes() == b"pages" * 1000
    assert (into / "shop" / "t.ibd").read_bytes() == b"rows"


@pytest.mark.parametrize("compression", ["zst", "gz", "none"])
def test_a_copy_that_differs_is_said_to_differ(tmp_path: Path, compression: str) -> None:
    path, copy = stored(tmp_path, chunk("ibdata1", b"pages" * 1000), compression)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other bytes: a decompressor may choke on it
    path.write_bytes(bytes(data))
    into = tmp_path / "into"
    into.mkdir()
    with pytest.raises(CopyDiffers, match="SHA-256 differs from the catalog"):
        extract_checked(Host(), path, copy, into, "mariadb-backup", None)


def test_a_name_that_leaves_the_directory_is_not_written(tmp_path: Path) -> None:
    stream = chunk("../escaped", b"x") + chunk("ok", b"y")
    path, copy = stored(tmp_path, stream, "zst")
    into = tmp_path / "deep" / "into"
    into.mkdir(parents=True)
    # mbstream may refuse the whole stream (an error here); it must never write outside
    with contextlib.suppress(Exception):
        extract_checked(Host(), path, copy, into, "mariadb-backup", None)
    assert not (tmp_path / "deep" / "escaped").exists()


def test_physical_jobs_compress_for_speed_unless_told() -> None:
    logical = Job(server="db", destinations=["d"])
    physical = Job(server="db", destinations=["d"], method="physical")
    told = Job(server="db", destinations=["d"], method="physical", compression_level=9)
    assert Compression.of(logical).level == 3
    assert Compression.of(physical).level == 1
    assert Compression.of(told).level == 9


class _FailingRead:
    """A file whose third read fails as a dying disk or a vanished volume does."""

    def __init__(self) -> None:
        self.reads = 0

    def read(self, size: int = -1) -> bytes:
        self.reads += 1
        if self.reads > 2:
            raise OSError(5, "Input/output error")
        return b"x" * 1000

    def __enter__(self) -> _FailingRead:
        return self

    def __exit__(self, *_: object) -> None:
        pass


class _DyingDisk(Host):
    def open_binary(self, path: object) -> _FailingRead:  # type: ignore[override]
        return _FailingRead()


@pytest.mark.parametrize("name", ["_physical.mbstream.zst", "_physical.mbstream"])
def test_a_copy_that_cannot_be_read_is_said_so_not_a_traceback_nor_a_mismatch(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stackwatch.backup import physical
    from stackwatch.backup.dump import DumpError

    # Programs that take whatever they are given: the read fails first, whatever the timing.
    monkeypatch.setattr(physical, "_decoder_argv", lambda host, name: ["cat"])
    monkeypatch.setattr(
        physical, "extract_argv", lambda program, into: ["sh", "-c", "cat >/dev/null"]
    )
    copy = DumpedFile(name, None, 10**6, 10**6, "0" * 64)
    (tmp_path / "x").mkdir()
    with pytest.raises(DumpError, match="Input/output error"):
        extract_checked(_DyingDisk(), tmp_path / name, copy, tmp_path / "x", "mariadb-backup", None)
