"""Proving a backup restores: every file's SHA-256 on every copy, then each database dump restored
into a scratch database and every table's row count and checksum compared with the figures the
catalog took at dump time. The scratch database is dropped afterwards, whatever happened; one
left by a verify that was killed is dropped by the next verify or run (scratch.py)."""

from __future__ import annotations

import contextlib
import gzip
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, Protocol

from stackwatch.backup.catalog import Backup, Catalog, CatalogError, Copy
from stackwatch.backup.config import BackupConfig, Server
from stackwatch.backup.destinations import Backend, DestinationError, backend
from stackwatch.backup.dump import (
    Client,
    DumpedFile,
    DumpError,
    TableStats,
    connection_args,
    sql_ident,
)
from stackwatch.backup.scratch import ScratchLease, drop_stale, list_schemas
from stackwatch.backup.snapshot import (
    TABLE_KIND,
    TableInfo,
    checksum_kind,
    checksum_value,
    is_snapshot_consistent,
    list_tables,
    table_figures,
)
from stackwatch.core.host import Host, HostError
from stackwatch.core.record import dataclass, field

RESTORE_TIMEOUT = 6 * 3600.0
BLOCK = 1 << 20


@dataclass
class VerifyOutcome:
    backup_id: str
    ok: bool = False
    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def report(self) -> str:
        lines = [f"backup {self.backup_id}: {'verified' if self.ok else 'VERIFY FAILED'}"]
        lines += self.checked
        lines += [f"problem: {p}" for p in self.problems]
        return "\n".join(lines)

    def add(self, other: VerifyOutcome) -> None:
        self.problems += other.problems
        self.checked += other.checked


def read_sql(host: Host, path: Path) -> Iterator[bytes]:
    """The SQL text of a dump file in blocks, decompressed by its extension; a corrupt file is
    a DumpError naming it (zstd and gzip raise their own errors)."""
    try:
        with host.open_binary(path) as raw, _decompressed(path, raw) as source:
            while block := source.read(BLOCK):
                yield block
    except Exception as exc:  # a corrupt file: zstd and gzip raise their own errors
        raise DumpError(f"reading {path.name}: {exc}") from None


class _Reader(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@contextlib.contextmanager
def _decompressed(path: Path, raw: BinaryIO) -> Iterator[_Reader]:
    if path.name.endswith(".zst"):
        import zstandard

        with zstandard.ZstdDecompressor().stream_reader(raw, closefd=False) as reader:
            yield reader
    elif path.name.endswith(".gz"):
        with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
            yield unzipped
    else:
        yield raw


class ProgramFilter:
    """Drops the ``DELIMITER ;;`` blocks (triggers, routines, events) from a dump stream.

    Their definitions may name the original schema (``CREATE TRIGGER shop.t ... ON shop.orders``),
    so restoring them into a scratch database could touch the live one. Tables and rows are what
    verify compares; the blocks are counted so the report says they are there."""

    def __init__(self) -> None:
        self.inside = False
        self.blocks = 0
        self._rest = b""

    def feed(self, data: bytes) -> bytes:
        data = self._rest + data
        cut = data.rfind(b"\n") + 1
        self._rest = data[cut:]
        return self._lines(data[:cut])

    def flush(self) -> bytes:
        rest, self._rest = self._rest, b""
        return self._lines(rest)

    def _lines(self, data: bytes) -> bytes:
        if not self.inside and b"DELIMITER" not in data:
            return data
        out = []
        for line in data.splitlines(keepends=True):
            if line.startswith(b"DELIMITER ;;"):
                self.inside = True
                self.blocks += 1
            elif line.startswith(b"DELIMITER ;") and self.inside:
                self.inside = False
            elif not self.inside:
                out.append(line)
        return b"".join(out)


def restore(
    host: Host, server: Server, path: Path, database: str, binlog: bool, timeout: float
) -> int:
    """Stream a dump file into ``database`` through the mariadb client, without its trigger,
    routine and event definitions; returns how many such blocks the dump holds."""
    programs = ProgramFilter()
    argv = connection_args(server, server.client_program)
    if binlog:  # a scratch restore must not replicate to the replicas
        argv.append("--init-command=SET SESSION sql_log_bin=0")
    argv += ["--batch", f"--database={database}"]

    def filtered() -> Iterator[bytes]:
        for block in read_sql(host, path):
            yield programs.feed(block)
        yield programs.flush()

    host.feed(argv, filtered(), timeout=timeout, what=f"restoring {path.name}")
    return programs.blocks


def restored_figures(client: Client, database: str, expected: list[TableStats]) -> list[TableStats]:
    """The figures of a restored copy of a database, by the same function as at dump time
    (``expected``: its catalog figures): the kind each tag names (snapshot.py), or the untagged
    CHECKSUM TABLE of round-1 backups."""
    kind_of = {s.table: checksum_kind(s.checksum) for s in expected}
    if None in kind_of.values():
        return client.table_stats(database)
    tables = list_tables(client.query, [database])
    by_kind: dict[str, list[TableInfo]] = {}
    for info in tables:  # a table not in the catalog: the current kind
        by_kind.setdefault(kind_of.get(info.table) or TABLE_KIND, []).append(info)
    figures = {
        s.table: s
        for kind, group in by_kind.items()
        for s in table_figures(client.query, group, kind=kind)
    }
    return [figures[info.table] for info in tables]


def verify_backup(
    cfg: BackupConfig,
    catalog: Catalog,
    backup_id: str,
    host: Host | None = None,
    progress: Callable[[str], None] | None = None,
) -> VerifyOutcome:
    """Check every good copy's files, then restore from one copy and compare the figures; the
    result is recorded in the catalog."""
    host = host or Host()
    started = time.monotonic()
    outcome = VerifyOutcome(backup_id)
    backup = _configured_backup(cfg, catalog, backup_id)
    copies = [c for c in catalog.copies(backup_id) if c.status == "good"]
    if backup.status != "good" or not copies:
        outcome.problems.append(f"backup is {backup.status} with no good copy to verify")
    else:
        _verify_copies(cfg, catalog, host, backup, copies, outcome, progress)
    outcome.ok = not outcome.problems
    outcome.seconds = time.monotonic() - started
    details = "; ".join(outcome.problems) if outcome.problems else "; ".join(outcome.checked)
    catalog.record_verification(backup_id, outcome.ok, details, outcome.seconds)
    return outcome


def _configured_backup(cfg: BackupConfig, catalog: Catalog, backup_id: str) -> Backup:
    backup = catalog.get(backup_id)
    if backup is None:
        raise CatalogError(f"no backup {backup_id!r} in the catalog")
    if backup.job not in cfg.jobs:
        raise CatalogError(f"backup {backup_id}: job {backup.job!r} is not configured any more")
    return backup


def _verify_copies(
    cfg: BackupConfig,
    catalog: Catalog,
    host: Host,
    backup: Backup,
    copies: list[Copy],
    outcome: VerifyOutcome,
    progress: Callable[[str], None] | None = None,
) -> None:
    """Every reachable copy's files against their SHA-256; then the restore, from a local copy
    where there is one (no transfer): into a throwaway server (offprod.py) unless the job
    says ``verify_on = "live"`` or no server binaries are installed."""
    files = catalog.files(backup.id)
    backends: list[Backend] = []
    try:
        for copy in copies:
            b = _open_copy(cfg, host, copy.destination, outcome)
            if b is not None:
                backends.append(b)
                _check_copy(b, backup, files, outcome)
        source = next((b for b in backends if b.dest.kind != "ssh"), None)
        source = source or (backends[0] if backends else None)
        if source is None:
            outcome.problems.append("no copy reachable to restore from")
            return
        job = cfg.jobs[backup.job]
        if _off_production(cfg, host, backup, source, files, catalog, outcome, progress):
            return
        restore = _Restore(
            host, cfg.servers[job.server], source, backup, catalog.table_stats(backup.id)
        )
        restore.all(files, job.parallel, outcome)
    finally:
        for b in backends:
            with contextlib.suppress(DestinationError):
                b.close()


def _off_production(
    cfg: BackupConfig,
    host: Host,
    backup: Backup,
    source: Backend,
    files: list[DumpedFile],
    catalog: Catalog,
    outcome: VerifyOutcome,
    progress: Callable[[str], None] | None,
) -> bool:
    """Verified in a throwaway server (True), or to be verified on the live one (False)."""
    from stackwatch.backup.offprod import verify_off_production
    from stackwatch.backup.physical import physical_file

    if cfg.jobs[backup.job].verify_on == "live" and physical_file(files) is None:
        return False
    expected = catalog.table_stats(backup.id)
    return verify_off_production(cfg, host, backup, source, files, expected, outcome, progress)


def _open_copy(
    cfg: BackupConfig, host: Host, destination: str, outcome: VerifyOutcome
) -> Backend | None:
    if destination not in cfg.destinations:
        outcome.problems.append(f"destination {destination} is not configured")
        return None
    b = backend(destination, cfg.destinations[destination], host)
    try:
        b.open()
    except DestinationError as exc:
        outcome.problems.append(str(exc))
        return None
    return b


def _check_copy(
    b: Backend, backup: Backup, files: list[DumpedFile], outcome: VerifyOutcome
) -> None:
    problems = b.check(backup.job, backup.id, files)
    outcome.problems += [f"{b.name}: {p}" for p in problems]
    if not problems:
        outcome.checked.append(f"copy {b.name}: {len(files)} files match their SHA-256")


@dataclass(frozen=True)
class _Restore:
    """Restoring one backup's databases into scratch databases and comparing their figures with
    the catalog's (``expected``, taken at dump time)."""

    host: Host
    server: Server
    source: Backend
    backup: Backup
    expected: list[TableStats]

    def all(self, files: list[DumpedFile], parallel: int, outcome: VerifyOutcome) -> None:
        client = Client(self.server, host=self.host)
        try:
            binlog = client.binlog_enabled()
            lease = ScratchLease(self.server, self.host)
        except DumpError as exc:
            outcome.problems.append(str(exc))
            return
        try:
            outcome.checked += [
                f"dropped {name}, left by an interrupted verify"
                for name in drop_stale(client, list_schemas(client))
            ]
            self.each(client, lease, binlog, files, parallel, outcome)
        except DumpError as exc:
            outcome.problems.append(str(exc))
        finally:
            lease.close()

    def each(
        self,
        client: Client,
        lease: ScratchLease,
        binlog: bool,
        files: list[DumpedFile],
        parallel: int,
        outcome: VerifyOutcome,
    ) -> None:
        dumps = [f for f in files if f.database is not None]
        with (
            self.host.temporary_dir("stackwatch-verify-") as tmp,
            ThreadPoolExecutor(max_workers=max(1, parallel)) as pool,
        ):
            at = _Scratch(client, lease, binlog, Path(tmp))
            # Several restores at once (each is one server thread); findings in file order.
            for found in pool.map(lambda f: self.one(at, f), dumps):
                outcome.add(found)

    def one(self, at: _Scratch, f: DumpedFile) -> VerifyOutcome:
        """Restore and compare one database; its findings in an outcome of its own."""
        found = VerifyOutcome(self.backup.id)
        database = str(f.database)
        want = {s.table: s for s in self.expected if s.database == database}
        try:
            got, programs = self.restored(at, f, list(want.values()))
        except (DumpError, DestinationError, HostError, OSError) as exc:
            found.problems.append(f"{database}: {exc}")
            return found
        compare(database, want, got, programs, found)
        return found

    def restored(
        self, at: _Scratch, f: DumpedFile, want: list[TableStats]
    ) -> tuple[dict[str, TableStats], int]:
        """The figures of the database restored into a scratch one (dropped afterwards), and
        how many trigger/routine/event blocks its dump holds."""
        path = self.source.fetch(self.backup.job, self.backup.id, f.name, at.tmp)
        try:
            scratch = at.lease.create(at.client)
            try:
                programs = restore(
                    self.host, self.server, path, scratch, at.binlog, RESTORE_TIMEOUT
                )
                figures = restored_figures(at.client, scratch, want)
            finally:
                with contextlib.suppress(DumpError):
                    at.client.query(f"DROP DATABASE IF EXISTS {sql_ident(scratch)}")
        finally:
            if path.parent == at.tmp:
                self.host.remove_file(path)
        return {s.table: s for s in figures}, programs


@dataclass(frozen=True)
class _Scratch:
    """Where one restore goes: the server (client), the verify's lease on scratch databases,
    whether the server logs binlogs, the directory for fetched files."""

    client: Client
    lease: ScratchLease
    binlog: bool
    tmp: Path


def compare(
    database: str,
    want: dict[str, TableStats],
    got: dict[str, TableStats],
    programs: int,
    found: VerifyOutcome,
) -> None:
    """Each table's rows and checksum after the restore against dump time. A difference on a
    table that cannot be in the snapshot (MyISAM...) is a note: it may have been written during
    the dump."""
    bad = []
    for table in sorted(set(want) | set(got)):
        differs = _difference(table, want.get(table), got.get(table))
        if differs is None:
            continue
        if table in want and table in got and not is_snapshot_consistent(want[table].checksum):
            found.checked.append(
                f"note: {database}.{differs} (non-transactional table, not in the"
                " snapshot: written during the dump)"
            )
        else:
            bad.append(f"{database}.{differs}")
    found.problems += bad
    if not bad:
        found.checked.append(
            f"database {database}: {len(want)} tables restored, rows and checksums match"
            f" ({programs} trigger/routine/event blocks present)"
        )


def _difference(table: str, want: TableStats | None, got: TableStats | None) -> str | None:
    if want is None:
        return f"{table}: not in the catalog"
    if got is None:
        return f"{table}: missing after restore"
    before, after = checksum_value(want.checksum), checksum_value(got.checksum)
    if (want.rows, before) == (got.rows, after):
        return None
    return (
        f"{table}: {got.rows} rows checksum {after}, "
        f"at dump time {want.rows} rows checksum {before}"
    )
