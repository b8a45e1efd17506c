"""Proving a backup restores: every file's SHA-256 on every copy, then each database dump restored
into a scratch database and every table's row count and checksum compared with the figures the
catalog took at dump time. The scratch database is dropped afterwards, whatever happened."""

from __future__ import annotations

import contextlib
import gzip
import secrets
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from stackwatch.backup.catalog import Catalog, CatalogError
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
from stackwatch.backup.snapshot import (
    TABLE_KIND,
    TableInfo,
    checksum_kind,
    checksum_value,
    is_snapshot_consistent,
    list_tables,
    table_figures,
)


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


def _open_sql(path: Path) -> BinaryIO:
    if path.name.endswith(".zst"):
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(path.open("rb"), closefd=True)
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


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


def restore(server: Server, path: Path, database: str, binlog: bool, timeout: float) -> int:
    """Stream a dump file into ``database`` through the mariadb client, without its trigger,
    routine and event definitions; returns how many such blocks the dump holds."""
    programs = ProgramFilter()
    argv = connection_args(server, server.client_program)
    if binlog:  # a scratch restore must not replicate to the replicas
        argv.append("--init-command=SET SESSION sql_log_bin=0")
    argv += ["--batch", f"--database={database}"]
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err)
        assert proc.stdin is not None
        try:
            with _open_sql(path) as source:
                while block := source.read(1 << 20):
                    proc.stdin.write(programs.feed(block))
                proc.stdin.write(programs.flush())
            proc.stdin.close()
        except BrokenPipeError:
            pass
        except Exception as exc:  # a corrupt file: zstd and gzip raise their own errors
            proc.kill()
            raise DumpError(f"reading {path.name}: {exc}") from None
        finally:
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise DumpError(f"restoring {path.name} took longer than {timeout:g} s") from None
        if code != 0:
            err.seek(0)
            lines = err.read().decode(errors="replace").strip().splitlines()
            raise DumpError(f"restoring {path.name}: {lines[-1] if lines else f'status {code}'}")
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


def verify_backup(cfg: BackupConfig, catalog: Catalog, backup_id: str) -> VerifyOutcome:
    import time

    started = time.monotonic()
    outcome = VerifyOutcome(backup_id)
    backup = catalog.get(backup_id)
    if backup is None:
        raise CatalogError(f"no backup {backup_id!r} in the catalog")
    if backup.job not in cfg.jobs:
        raise CatalogError(f"backup {backup_id}: job {backup.job!r} is not configured any more")
    job = cfg.jobs[backup.job]
    server = cfg.servers[job.server]
    files = catalog.files(backup_id)
    expected = catalog.table_stats(backup_id)
    copies = [c for c in catalog.copies(backup_id) if c.status == "good"]
    if backup.status != "good" or not copies:
        outcome.problems.append(f"backup is {backup.status} with no good copy to verify")
        catalog.record_verification(backup_id, False, "; ".join(outcome.problems))
        return outcome
    backends: list[Backend] = []
    try:
        for copy in copies:
            if copy.destination not in cfg.destinations:
                outcome.problems.append(f"destination {copy.destination} is not configured")
                continue
            b = backend(copy.destination, cfg.destinations[copy.destination])
            try:
                b.open()
            except DestinationError as exc:
                outcome.problems.append(str(exc))
                continue
            backends.append(b)
            problems = b.check(backup.job, backup_id, files)
            outcome.problems += [f"{b.name}: {p}" for p in problems]
            if not problems:
                outcome.checked.append(f"copy {b.name}: {len(files)} files match their SHA-256")
        source = next((b for b in backends if b.dest.kind != "ssh"), None) or (
            backends[0] if backends else None
        )
        if source is None:
            outcome.problems.append("no copy reachable to restore from")
        else:
            _restore_and_compare(
                server,
                job.compression,
                source,
                backup.job,
                backup_id,
                files,
                expected,
                outcome,
                parallel=job.parallel,
            )
    finally:
        for b in backends:
            with contextlib.suppress(DestinationError):
                b.close()
    outcome.ok = not outcome.problems
    outcome.seconds = time.monotonic() - started
    details = "; ".join(outcome.problems) if outcome.problems else "; ".join(outcome.checked)
    catalog.record_verification(backup_id, outcome.ok, details)
    return outcome


def _restore_and_compare(
    server: Server,
    compression: str,
    source: Backend,
    job: str,
    backup_id: str,
    files: list[DumpedFile],
    expected: list[TableStats],
    outcome: VerifyOutcome,
    parallel: int = 1,
) -> None:
    client = Client(server)
    try:
        binlog = client.binlog_enabled()
    except DumpError as exc:
        outcome.problems.append(str(exc))
        return

    def one(f: DumpedFile, tmp: Path) -> VerifyOutcome:
        """Restore and compare one database; its findings in an outcome of its own."""
        found = VerifyOutcome(backup_id)
        scratch = f"stackwatch_verify_{secrets.token_hex(4)}"
        want_here = [s for s in expected if s.database == f.database]
        try:
            path = source.fetch(job, backup_id, f.name, tmp)
            client.query(f"CREATE DATABASE {sql_ident(scratch)}")
            try:
                programs = restore(server, path, scratch, binlog, 6 * 3600)
                got = {s.table: s for s in restored_figures(client, scratch, want_here)}
            finally:
                with contextlib.suppress(DumpError):
                    client.query(f"DROP DATABASE IF EXISTS {sql_ident(scratch)}")
                if path.parent == tmp:
                    path.unlink(missing_ok=True)
        except (DumpError, DestinationError, OSError) as exc:
            found.problems.append(f"{f.database}: {exc}")
            return found
        want = {s.table: s for s in expected if s.database == f.database}
        bad = []
        for table in sorted(set(want) | set(got)):
            w, g = want.get(table), got.get(table)
            if w is None:
                bad.append(f"{table}: not in the catalog")
            elif g is None:
                bad.append(f"{table}: missing after restore")
            elif (w.rows, checksum_value(w.checksum)) != (g.rows, checksum_value(g.checksum)):
                differs = (
                    f"{table}: {g.rows} rows checksum {checksum_value(g.checksum)}, "
                    f"at dump time {w.rows} rows checksum {checksum_value(w.checksum)}"
                )
                if is_snapshot_consistent(w.checksum):
                    bad.append(differs)
                else:  # read after the unlock: it may have changed in between
                    found.checked.append(
                        f"note: {f.database}.{differs} (non-transactional table, not in the"
                        " snapshot: written during the dump)"
                    )
        if bad:
            found.problems += [f"{f.database}.{b}" for b in bad]
        else:
            found.checked.append(
                f"database {f.database}: {len(want)} tables restored, rows and checksums match"
                f" ({programs} trigger/routine/event blocks present)"
            )
        return found

    dumps = [f for f in files if f.database is not None]
    with (
        tempfile.TemporaryDirectory(prefix="stackwatch-verify-") as tmp,
        ThreadPoolExecutor(max_workers=max(1, parallel)) as pool,
    ):
        # Several restores at once (each is one server thread); findings in file order.
        for found in pool.map(lambda f: one(f, Path(tmp)), dumps):
            outcome.problems += found.problems
            outcome.checked += found.checked
