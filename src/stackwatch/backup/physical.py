"""Physical backups (a job with ``method = "physical"``): a copy of the server's files made by
``mariadb-backup --backup --stream=mbstream`` (MySQL: xtrabackup), compressed, checksummed and
catalogued like a dump, and the steps that turn such a copy back into a data directory
(extract, ``--prepare``, ``--move-back``) for ``backup restore`` and ``backup verify``.

The copy is of the whole server (every database, users and grants included): it is restored as a
whole, into an empty data directory, never over a running server. The job's ``databases`` and
``exclude`` choose the tables whose figures the catalog records for verify.

The figures are row counts (``cnt:``): the copy's pages are proven by ``--prepare`` and CHECK
TABLE in verify, and a CHECKSUM TABLE of every row would take the server longer than the copy
itself (bench/backup_methods.py). They are read in a consistent snapshot opened just before the
copy starts, while the copy runs. The snapshot's binary log position is then
compared with the copy's own (the one mariadb-backup reports when it ends): equal, no transaction
committed in between and the figures are those of the copy; different (a busy server, or no
binary log to tell), every figure is tagged as not of the snapshot and a difference in verify is
a note, not a failure.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from stackwatch.backup.config import Job, Server
from stackwatch.backup.dump import (
    EXTENSIONS,
    Compression,
    DumpedFile,
    DumpError,
    TableStats,
    connection_args,
)
from stackwatch.backup.snapshot import COUNT_KIND, KINDS, Session, list_tables, table_figures
from stackwatch.core.host import CommandFailed, Drained, Host, HostError
from stackwatch.core.record import dataclass

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PHYSICAL_STEM = "_physical"
COMPLETED = "completed OK!"
PREPARE_TIMEOUT = 6 * 3600.0
PROGRESS_EVERY = 0.25  # seconds between two progress lines on a terminal
READ_BLOCK = 1 << 20
_POSITION = re.compile(
    r"MySQL binlog position: filename '([^']{1,255})', position '(\d{1,20})'"
    r"(?:, GTID of the last change '([0-9,-]{0,4000})')?"
)
Progress = Callable[[str], None] | None


@dataclass(frozen=True)
class CopyPosition:
    """Where the copy stands in the binary log (None: no binary log)."""

    file: str | None
    pos: int | None
    gtid: str | None


def physical_file_name(compression: str) -> str:
    return f"{PHYSICAL_STEM}.mbstream{EXTENSIONS[compression]}"


def physical_file(files: Sequence[DumpedFile]) -> DumpedFile | None:
    """The physical copy of a backup's files, None for a logical backup."""
    return next((f for f in files if f.name.startswith(f"{PHYSICAL_STEM}.mbstream")), None)


def parse_copy_position(stderr: str) -> CopyPosition:
    """The position mariadb-backup reports at the end of a copy (untrusted text)."""
    found = _POSITION.search(stderr)
    if found is None:
        return CopyPosition(None, None, None)
    return CopyPosition(found.group(1), int(found.group(2)), found.group(3) or None)


def completed(stderr: str) -> bool:
    """mariadb-backup says ``completed OK!`` as its last line when the copy is whole."""
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return bool(lines) and lines[-1].rstrip().endswith(COMPLETED)


def backup_argv(server: Server, scratch: Path, parallel: int = 1) -> list[str]:
    """The copy on stdout; ``scratch``: its own temporary files (none of the copy);
    ``parallel`` files read at once."""
    argv = connection_args(server, server.backup_program)
    return [
        *argv,
        "--backup",
        "--stream=mbstream",
        f"--parallel={parallel}",
        f"--target-dir={scratch}",
    ]


def backup_physical(
    host: Host, job: Job, server: Server, databases: list[str], staging: Path
) -> tuple[list[DumpedFile], list[TableStats], dict[str, object]]:
    """The copy into ``staging`` and the figures of ``databases``' tables, read beside it."""
    session = Session(server, timeout=job.dump_timeout, host=host)
    try:
        before = _open_snapshot(session)
        tables = list_tables(session.query, databases)
        scratch = staging / ".mariadb-backup"
        host.make_dir(scratch)
        with ThreadPoolExecutor(max_workers=1) as pool:
            copying = pool.submit(_copy, host, job, server, staging, scratch)
            try:
                stats = table_figures(session.query, tables, kind=COUNT_KIND)
                session.query("COMMIT")
            finally:
                drained, position = copying.result()
        host.remove_tree(scratch)
    finally:
        session.close()
    consistent = before is not None and before == (position.file, position.pos)
    if not consistent:
        stats = [_not_of_snapshot(s) for s in stats]
    name = physical_file_name(job.compression)
    copy = DumpedFile(
        name, None, drained.size, drained.raw_size, drained.sha256, *_position_fields(position)
    )
    facts: dict[str, object] = {"method": "physical", "figures_of_copy": consistent}
    facts.update({k: v for k, v in position.__dict__.items() if v is not None})
    return [copy], stats, facts


def _position_fields(position: CopyPosition) -> tuple[str | None, int | None, str | None]:
    return position.file, position.pos, position.gtid


def _open_snapshot(session: Session) -> tuple[str, int] | None:
    """A consistent snapshot, and the binary log position it stands at (None: no binary log)."""
    session.query("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    session.query("START TRANSACTION WITH CONSISTENT SNAPSHOT")
    rows = session.query("SHOW STATUS LIKE 'binlog_snapshot_%'")
    status = {str(r[0]).lower(): str(r[1] or "") for r in rows if len(r) >= 2}
    file = os.path.basename(status.get("binlog_snapshot_file", ""))
    pos = status.get("binlog_snapshot_position", "")
    if not file or not (pos.isascii() and pos.isdigit()):
        return None
    return file, int(pos)


def _not_of_snapshot(stats: TableStats) -> TableStats:
    """A figure retagged as one that may differ from the copy (verify: a note)."""
    kind, _, value = stats.checksum.partition(":")
    if kind in KINDS:
        return TableStats(stats.database, stats.table, stats.rows, f"{kind}-nontx:{value}")
    return stats


def _copy(
    host: Host, job: Job, server: Server, staging: Path, scratch: Path
) -> tuple[Drained, CopyPosition]:
    """mariadb-backup's stream compressed into the staging directory; good only when it
    exited 0 and said it completed."""
    found: list[CopyPosition] = []
    argv = backup_argv(server, scratch, job.parallel)
    process = host.spawn(argv, what="mariadb-backup --backup")

    def accept(_: Drained) -> None:
        stderr = process.stderr_text()
        if not completed(stderr):
            raise DumpError("mariadb-backup ended without saying it completed (cut short)")
        found.append(parse_copy_position(stderr))

    path = staging / physical_file_name(job.compression)
    encoder = Compression.of(job).encoder()
    try:
        drained = host.drain_to_file(
            process, path, timeout=job.dump_timeout, encoder=encoder, accept=accept
        )
    except CommandFailed as exc:
        raise DumpError(f"mariadb-backup --backup failed: {_last_error(exc.stderr)}") from None
    return drained, found[0]


def _last_error(stderr: str) -> str:
    """The line that says why: mariadb-backup prints its errors among its progress lines."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower() or "failed" in line.lower()]
    return (errors or lines or ["no message"])[-1]


# From a copy back to a data directory ---------------------------------------------------------


class SourceUnreadable(HostError):
    """The copy's file could not be read to its end (EIO, a volume gone)."""


class CopyDiffers(Exception):
    """The copy's bytes are not the ones the catalog's SHA-256 was taken of."""


def extract_argv(program: str, into: Path) -> list[str]:
    mbstream = "xbstream" if os.path.basename(program).startswith("xtrabackup") else "mbstream"
    return [mbstream, "-x", "-C", str(into)]


def extract(host: Host, blocks: Iterable[bytes], into: Path, program: str, timeout: float) -> None:
    """The files of a copy (its decompressed stream, ``blocks``) into ``into``."""
    host.feed(extract_argv(program, into), blocks, timeout=timeout, what="extracting the copy")


def extract_checked(
    host: Host, path: Path, copy: DumpedFile, into: Path, program: str, progress: Progress
) -> None:
    """The files of the copy at ``path`` into ``into`` (private, empty) while its SHA-256 is
    taken: one read of the file, decompressed by ``zstd -d`` (or ``gzip -d``) on its way to
    mbstream, each program on a core of its own. CopyDiffers, after the extraction, when the
    bytes were not the catalog's: ``into`` then holds what an unchecked stream made of them and
    the caller removes it (mbstream writes under ``into`` only: it refuses names with ``..``).
    Nothing of it reaches a data directory before the sum matched."""
    digest = hashlib.sha256()
    blocks = counted(_hashed(host, path, digest), copy.size, progress)
    decoder = _decoder_argv(host, path.name)
    try:
        if decoder is None:
            extract(host, _decompressed(path.name, blocks), into, program, PREPARE_TIMEOUT)
        else:
            argv = extract_argv(program, into)
            what = "extracting the copy"
            host.feed(decoder, blocks, timeout=PREPARE_TIMEOUT, what=what, then=argv)
    except SourceUnreadable as exc:
        raise DumpError(str(exc)) from None
    except (HostError, DumpError) as exc:
        if _differs_once_read(blocks, digest, copy):  # said as such, not as what it caused
            raise CopyDiffers(f"{path.name}: SHA-256 differs from the catalog") from None
        raise DumpError(f"extracting the copy: {exc}") from None
    if digest.hexdigest() != copy.sha256:
        raise CopyDiffers(f"{path.name}: SHA-256 differs from the catalog")


def _differs_once_read(blocks: Iterator[bytes], digest: Any, copy: DumpedFile) -> bool:
    """After a failed extraction: whether the copy's bytes, the rest of them hashed too, are
    not the catalog's (False where the file itself cannot be read to its end)."""
    try:
        for _ in blocks:
            pass
    except SourceUnreadable:
        return False
    return bool(digest.hexdigest() != copy.sha256)


def _hashed(host: Host, path: Path, digest: Any) -> Iterator[bytes]:
    """The file's bytes as they are, each block added to ``digest`` on the way."""
    with host.open_binary(path) as handle:
        while True:
            try:
                block = handle.read(READ_BLOCK)
            except OSError as exc:  # EIO, a volume gone: said as such, never a traceback
                raise SourceUnreadable(f"cannot read {path}: {exc.strerror or exc}") from None
            if not block:
                return
            digest.update(block)
            yield block


def _decoder_argv(host: Host, name: str) -> list[str] | None:
    """The program that decompresses the copy (None: Python does it, or nothing to do)."""
    for suffix, program in ((".zst", "zstd"), (".gz", "gzip")):
        if name.endswith(suffix) and host.which(program) is not None:
            return [program, "-d", "-c", "-q"]
    return None


def _decompressed(name: str, blocks: Iterable[bytes]) -> Iterator[bytes]:
    """``blocks`` decompressed by the file's extension, where no decompressing program is
    installed."""
    decoder: Any
    if name.endswith(".zst"):
        import zstandard

        decoder = zstandard.ZstdDecompressor().decompressobj()
    elif name.endswith(".gz"):
        decoder = zlib.decompressobj(31)
    else:
        yield from blocks
        return
    for block in blocks:
        try:
            data = decoder.decompress(block)
        except Exception as exc:  # zstd and zlib raise their own errors on a corrupt stream
            raise DumpError(f"{name}: {exc}") from None
        yield data


def prepare(host: Host, program: str, directory: Path, timeout: float = PREPARE_TIMEOUT) -> None:
    """Apply the copy's redo log: the files become a data directory a server starts on."""
    _run(host, [program, "--prepare", f"--target-dir={directory}"], timeout, "--prepare")


def move_back(host: Host, program: str, prepared: Path, datadir: Path) -> None:
    """The prepared files into ``datadir`` (renames on one file system)."""
    argv = [program, "--move-back", f"--target-dir={prepared}", f"--datadir={datadir}"]
    _run(host, argv, PREPARE_TIMEOUT, "--move-back")


def _run(host: Host, argv: list[str], timeout: float, what: str) -> None:
    try:
        done = host.run(argv, timeout=timeout, check=False, what=f"mariadb-backup {what}")
    except HostError as exc:
        raise DumpError(str(exc)) from None
    if done.returncode != 0 or not completed(done.stderr):
        raise DumpError(f"mariadb-backup {what} failed: {_last_error(done.stderr)}")


def counted(blocks: Iterable[bytes], total: int, progress: Progress) -> Iterator[bytes]:
    """``blocks`` as they are, with a progress line on a terminal (``progress``)."""
    done, last = 0, 0.0
    for block in blocks:
        done += len(block)
        if progress is not None and time.monotonic() - last >= PROGRESS_EVERY:
            last = time.monotonic()
            progress(f"\rextracting the copy: {min(100, 100 * done // max(total, 1)):3d}% ")
        yield block
    if progress is not None:
        progress("\rextracting the copy: 100%\n")
