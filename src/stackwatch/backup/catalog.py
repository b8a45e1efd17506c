"""The catalog (SQLite): every backup, its files with sizes and SHA-256 sums, the table figures
taken at dump time, its copies per destination, verifications and deletions.

Retention and the backup-age check decide from here, never from file times. Each change is one
transaction, so a killed run leaves the catalog as it was before the change.

"Newest" means the catalog's own sequence (``seq``, one more than any before, given as a run
starts), never the wall clock: a clock set back or forward between runs does not reorder the
backups, so retention can never take the backup just made for an old one.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from stackwatch.backup.dump import DumpedFile, TableStats
from stackwatch.core.record import dataclass

SCHEMA = """
CREATE TABLE IF NOT EXISTS backups (
    id TEXT PRIMARY KEY,
    job TEXT NOT NULL,
    started REAL NOT NULL,
    finished REAL,
    status TEXT NOT NULL,            -- running, good, failed, deleted
    error TEXT,
    size INTEGER NOT NULL DEFAULT 0,
    position TEXT,
    seq INTEGER                      -- the order the runs started in (see the module docstring)
);
CREATE INDEX IF NOT EXISTS backups_job ON backups(job, started);
CREATE TABLE IF NOT EXISTS files (
    backup_id TEXT NOT NULL REFERENCES backups(id),
    name TEXT NOT NULL,
    database TEXT,
    size INTEGER NOT NULL,
    raw_size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (backup_id, name)
);
CREATE TABLE IF NOT EXISTS tables (
    backup_id TEXT NOT NULL REFERENCES backups(id),
    database TEXT NOT NULL,
    name TEXT NOT NULL,
    rows INTEGER NOT NULL,
    checksum TEXT NOT NULL,
    PRIMARY KEY (backup_id, database, name)
);
CREATE TABLE IF NOT EXISTS copies (
    backup_id TEXT NOT NULL REFERENCES backups(id),
    destination TEXT NOT NULL,
    offsite INTEGER NOT NULL,
    status TEXT NOT NULL,            -- good, failed, deleted
    error TEXT,
    at REAL NOT NULL,
    PRIMARY KEY (backup_id, destination)
);
CREATE TABLE IF NOT EXISTS verifications (
    backup_id TEXT NOT NULL REFERENCES backups(id),
    at REAL NOT NULL,
    ok INTEGER NOT NULL,
    details TEXT NOT NULL,
    seconds REAL                     -- how long the verify took (restore included)
);
CREATE TABLE IF NOT EXISTS restores (
    backup_id TEXT NOT NULL REFERENCES backups(id),
    job TEXT NOT NULL,
    started REAL NOT NULL,
    finished REAL,
    status TEXT NOT NULL,            -- running, good, failed
    source TEXT NOT NULL,            -- the destination the files came from
    targets TEXT NOT NULL,           -- "db" or "db->new", comma-separated
    details TEXT
);
CREATE TABLE IF NOT EXISTS binlogs (
    job TEXT NOT NULL,
    name TEXT NOT NULL,              -- the server's binary log file name
    batch TEXT NOT NULL,             -- PATH/JOB/BATCH/NAME on each destination
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    destinations TEXT NOT NULL,      -- comma-separated
    at REAL NOT NULL,
    PRIMARY KEY (job, name)
);
CREATE TABLE IF NOT EXISTS binlog_ranges (  -- what each archived log covers (binlog_file.py)
    job TEXT NOT NULL,
    name TEXT NOT NULL,
    gtid_before TEXT NOT NULL,       -- the GTID state before its first event ("0-1-41,5-7-3")
    gtid_after TEXT NOT NULL,        -- after its last
    first_time INTEGER,              -- seconds since the epoch of its first and last events
    last_time INTEGER,
    complete INTEGER NOT NULL,       -- 1: ends with a rotate or stop event
    PRIMARY KEY (job, name)
);
CREATE TABLE IF NOT EXISTS space (  -- free space measured on off-site destinations (forecast.py)
    destination TEXT PRIMARY KEY,
    at REAL NOT NULL,
    free INTEGER NOT NULL
);
"""


class CatalogError(Exception):
    pass


def lock_seconds(position: str | None) -> float | None:
    """``lock_seconds`` of a recorded position (JSON), or None for old or garbled records."""
    try:
        value = json.loads(position or "null")
    except (ValueError, RecursionError):
        return None
    seconds = value.get("lock_seconds") if isinstance(value, dict) else None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return None
    return float(seconds)


@dataclass(frozen=True)
class Backup:
    id: str
    job: str
    started: float
    finished: float | None
    status: str
    error: str | None
    size: int
    position: str | None
    seq: int  # the catalog's order of runs: higher is newer, whatever the clock said

    @property
    def lock_seconds(self) -> float | None:
        """How long writers waited on the global read lock for this backup (None: unknown)."""
        return lock_seconds(self.position)


@dataclass(frozen=True)
class Copy:
    backup_id: str
    destination: str
    offsite: bool
    status: str
    error: str | None
    at: float


@dataclass(frozen=True)
class Verification:
    backup_id: str
    at: float
    ok: bool
    details: str
    seconds: float | None = None  # how long it took (None: recorded by an older release)


@dataclass(frozen=True)
class Restore:
    """One ``backup restore``: which backup, from where, into which databases, how it ended."""

    backup_id: str
    job: str
    started: float
    finished: float | None
    status: str
    source: str
    targets: str
    details: str | None


@dataclass(frozen=True)
class BinlogTail:
    """The archived binary logs a point-in-time restore from the newest backup would replay."""

    count: int
    size: int  # bytes
    last_time: int | None  # the last event's time (seconds since the epoch), where known


@dataclass(frozen=True)
class JobSummary:
    """What a job's backups amount to: the one source of ``backup status`` and the
    ``backup-age`` check, so that the two cannot disagree."""

    job: str
    newest_good: Backup | None
    copies: tuple[Copy, ...]  # the good copies of the newest good backup
    good_count: int
    total_size: int  # of every good backup
    newest_failed: str | None  # the error of the newest finished run, when it failed
    last_verification: Verification | None  # of any backup of the job
    last_restore: Restore | None = None  # the newest restore that succeeded
    logs_after: BinlogTail | None = None  # binary logs archived after the newest good backup

    @property
    def offsite_copies(self) -> int:
        return sum(1 for c in self.copies if c.offsite)


@dataclass(frozen=True)
class BinlogSpan:
    """One archived binary log's GTID and time ranges, as the catalog keeps them."""

    name: str
    gtid_before: str  # "0-1-41,5-7-3": the state before its first event
    gtid_after: str  # after its last
    first_time: int | None  # seconds since the epoch
    last_time: int | None
    complete: bool  # ends with a rotate or stop event (not cut short)


@dataclass(frozen=True)
class BackupEntry:
    """One backup with its copies, as ``backup list`` shows it."""

    backup: Backup
    copies: tuple[Copy, ...]


_BACKUP_COLUMNS = "id, job, started, finished, status, error, size, position"


class Catalog:
    def __init__(self, path: str | os.PathLike[str], *, readonly: bool = False) -> None:
        self.path = Path(path)
        try:
            if readonly:
                self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.db = sqlite3.connect(self.path, timeout=30)
                os.chmod(self.path, 0o600)
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=FULL")
                self.db.executescript(SCHEMA)
                with self.db:
                    _add_sequence(self.db)
                    _add_verify_seconds(self.db)
            # A catalog of an older release read without writing: its rows in insertion order.
            self._seq = "seq" if _has_sequence(self.db) else "rowid"
        except (sqlite3.Error, OSError) as exc:
            raise CatalogError(f"catalog {self.path}: {exc}") from None

    def _select_backups(self) -> str:
        return f"SELECT {_BACKUP_COLUMNS}, {self._seq} FROM backups"

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        try:
            with self.db:
                yield self.db
        except sqlite3.Error as exc:
            raise CatalogError(f"catalog {self.path}: {exc}") from None

    def start(self, backup_id: str, job: str, started: float) -> None:
        """A new backup, running, next in the sequence."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO backups(id, job, started, status, seq) VALUES (?, ?, ?, 'running', "
                "(SELECT IFNULL(MAX(seq), 0) + 1 FROM backups))",
                (backup_id, job, started),
            )

    def record_dump(
        self,
        backup_id: str,
        files: Sequence[DumpedFile],
        stats: Sequence[TableStats],
        position: dict[str, object],
    ) -> None:
        with self._tx() as db:
            db.executemany(
                "INSERT INTO files VALUES (?, ?, ?, ?, ?, ?)",
                [(backup_id, f.name, f.database, f.size, f.raw_size, f.sha256) for f in files],
            )
            db.executemany(
                "INSERT INTO tables VALUES (?, ?, ?, ?, ?)",
                [(backup_id, s.database, s.table, s.rows, s.checksum) for s in stats],
            )
            db.execute(
                "UPDATE backups SET size = ?, position = ? WHERE id = ?",
                (sum(f.size for f in files), json.dumps(position, sort_keys=True), backup_id),
            )

    def record_copy(
        self, backup_id: str, destination: str, offsite: bool, ok: bool, error: str | None
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO copies VALUES (?, ?, ?, ?, ?, ?)",
                (
                    backup_id,
                    destination,
                    int(offsite),
                    "good" if ok else "failed",
                    error,
                    time.time(),
                ),
            )

    def finish(self, backup_id: str, ok: bool, error: str | None) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE backups SET status = ?, error = ?, finished = ? WHERE id = ?",
                ("good" if ok else "failed", error, time.time(), backup_id),
            )

    def settle(self, backup_id: str, errors: Sequence[str]) -> None:
        """Make the record of a run agree with how it ended: still running means it failed;
        a good backup of a run that failed later (catalog, retention, verify...) keeps the
        run's errors, which ``backup status`` and the backup-age check then report."""
        if not errors:
            return
        text = "; ".join(errors)
        with self._tx() as db:
            db.execute(
                "UPDATE backups SET status = 'failed', error = ?, finished = ? "
                "WHERE id = ? AND status = 'running'",
                (text, time.time(), backup_id),
            )
            db.execute(
                "UPDATE backups SET error = ? WHERE id = ? AND status = 'good' AND error IS NULL",
                (text, backup_id),
            )

    def mark_deleted(self, backup_id: str, destination: str | None = None) -> None:
        with self._tx() as db:
            if destination is None:
                db.execute("UPDATE backups SET status = 'deleted' WHERE id = ?", (backup_id,))
                db.execute(
                    "UPDATE copies SET status = 'deleted', at = ? WHERE backup_id = ?",
                    (time.time(), backup_id),
                )
            else:
                db.execute(
                    "UPDATE copies SET status = 'deleted', at = ? "
                    "WHERE backup_id = ? AND destination = ?",
                    (time.time(), backup_id, destination),
                )

    def record_space(self, destination: str, free: int) -> None:
        """Free bytes measured now on an off-site destination (over ssh, at a run)."""
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO space VALUES (?, ?, ?)", (destination, time.time(), free)
            )

    def space_measured(self) -> dict[str, tuple[float, int]]:
        """Each off-site destination's last measured free bytes: destination -> (when, free)."""
        try:
            with self._tx() as db:
                rows = db.execute("SELECT destination, at, free FROM space").fetchall()
        except CatalogError:
            return {}  # a catalog of an older release, read without writing: none measured
        return {str(r[0]): (float(r[1]), int(r[2])) for r in rows}

    def record_verification(
        self, backup_id: str, ok: bool, details: str, seconds: float | None = None
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO verifications(backup_id, at, ok, details, seconds) "
                "VALUES (?, ?, ?, ?, ?)",
                (backup_id, time.time(), int(ok), details, seconds),
            )

    def start_restore(self, backup_id: str, job: str, source: str, targets: str) -> int:
        """A restore begins (recorded before any byte reaches the server); its row id."""
        with self._tx() as db:
            cursor = db.execute(
                "INSERT INTO restores VALUES (?, ?, ?, NULL, 'running', ?, ?, NULL)",
                (backup_id, job, time.time(), source, targets),
            )
        return int(cursor.lastrowid or 0)

    def finish_restore(self, restore_id: int, ok: bool, details: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE restores SET status = ?, finished = ?, details = ? WHERE rowid = ?",
                ("good" if ok else "failed", time.time(), details, restore_id),
            )

    def record_binlogs(
        self, job: str, batch: str, files: Sequence[DumpedFile], destinations: Sequence[str]
    ) -> None:
        with self._tx() as db:
            db.executemany(
                "INSERT OR REPLACE INTO binlogs VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (job, f.name, batch, f.size, f.sha256, ",".join(destinations), time.time())
                    for f in files
                ],
            )

    def record_binlog_ranges(self, job: str, ranges: Sequence[BinlogSpan]) -> None:
        with self._tx() as db:
            db.executemany(
                "INSERT OR REPLACE INTO binlog_ranges VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (job, r.name, r.gtid_before, r.gtid_after, r.first_time, r.last_time,
                     int(r.complete))
                    for r in ranges
                ],
            )  # fmt: skip

    def binlog_ranges(self, job: str) -> dict[str, BinlogSpan]:
        """What each archived log of ``job`` covers, by name (logs archived by an older
        release, or encrypted ones, have none)."""
        if not self._has_table("binlog_ranges"):
            return {}
        with self._tx() as db:
            rows = db.execute(
                "SELECT name, gtid_before, gtid_after, first_time, last_time, complete "
                "FROM binlog_ranges WHERE job = ?",
                (job,),
            ).fetchall()
        return {str(r[0]): BinlogSpan(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in rows}

    def binlogs(self, job: str) -> list[tuple[str, str, str]]:
        """The archived binary logs of ``job``: (name, batch, destinations), by name."""
        if not self._has_table("binlogs"):
            return []
        with self._tx() as db:
            rows = db.execute(
                "SELECT name, batch, destinations FROM binlogs WHERE job = ? ORDER BY name",
                (job,),
            ).fetchall()
        return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]

    def forget_binlogs(self, job: str, batch: str) -> None:
        with self._tx() as db:
            db.execute(
                "DELETE FROM binlog_ranges WHERE job = ? AND name IN "
                "(SELECT name FROM binlogs WHERE job = ? AND batch = ?)",
                (job, job, batch),
            )
            db.execute("DELETE FROM binlogs WHERE job = ? AND batch = ?", (job, batch))

    def binlog_sums(self, job: str) -> dict[str, str]:
        with self._tx() as db:
            rows = db.execute("SELECT name, sha256 FROM binlogs WHERE job = ?", (job,)).fetchall()
        return {str(r[0]): str(r[1]) for r in rows}

    # Reading ------------------------------------------------------------------------------------

    def backups(self, job: str | None = None, status: str | None = None) -> list[Backup]:
        """Newest first, by the catalog's sequence."""
        sql = self._select_backups()
        where, args = [], []
        if job is not None:
            where.append("job = ?")
            args.append(job)
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {self._seq} DESC"
        with self._tx() as db:
            return [Backup(*row) for row in db.execute(sql, args)]

    def get(self, backup_id: str) -> Backup | None:
        with self._tx() as db:
            row = db.execute(f"{self._select_backups()} WHERE id = ?", (backup_id,)).fetchone()
        return Backup(*row) if row else None

    def files(self, backup_id: str) -> list[DumpedFile]:
        with self._tx() as db:
            rows = db.execute(
                "SELECT name, database, size, raw_size, sha256 FROM files WHERE backup_id = ? "
                "ORDER BY name",
                (backup_id,),
            ).fetchall()
        return [DumpedFile(*row) for row in rows]

    def table_stats(self, backup_id: str) -> list[TableStats]:
        with self._tx() as db:
            rows = db.execute(
                "SELECT database, name, rows, checksum FROM tables WHERE backup_id = ? "
                "ORDER BY database, name",
                (backup_id,),
            ).fetchall()
        return [TableStats(*row) for row in rows]

    def copies(self, backup_id: str) -> list[Copy]:
        with self._tx() as db:
            rows = db.execute(
                "SELECT backup_id, destination, offsite, status, error, at FROM copies "
                "WHERE backup_id = ? ORDER BY destination",
                (backup_id,),
            ).fetchall()
        return [Copy(r[0], r[1], bool(r[2]), r[3], r[4], r[5]) for r in rows]

    def job_summary(self, job: str) -> JobSummary:
        """The newest good backup of ``job``, its good copies, the job's last verification and
        whether its newest finished run failed."""
        backups = self.backups(job=job)
        good = [b for b in backups if b.status == "good"]
        newest = good[0] if good else None
        copies = () if newest is None else tuple(self.copies(newest.id))
        return JobSummary(
            job=job,
            newest_good=newest,
            copies=tuple(c for c in copies if c.status == "good"),
            good_count=len(good),
            total_size=sum(b.size for b in good),
            newest_failed=_newest_failure(backups),
            last_verification=self.last_verification(job=job),
            last_restore=next((r for r in self.restores(job) if r.status == "good"), None),
            logs_after=None if newest is None else self.binlogs_after(job, newest.started),
        )

    def binlogs_after(self, job: str, started: float) -> BinlogTail | None:
        """The archived logs of ``job`` holding events from ``started`` on (None: none)."""
        if not self._has_table("binlog_ranges"):
            return None
        with self._tx() as db:
            row = db.execute(
                "SELECT COUNT(*), IFNULL(SUM(l.size), 0), MAX(r.last_time) FROM binlog_ranges r "
                "JOIN binlogs l ON l.job = r.job AND l.name = r.name "
                "WHERE r.job = ? AND r.last_time >= ?",
                (job, int(started)),
            ).fetchone()
        return BinlogTail(int(row[0]), int(row[1]), row[2]) if row and row[0] else None

    def entries(self, job: str) -> list[BackupEntry]:
        """Every backup of ``job``, newest first, with its copies."""
        return [BackupEntry(b, tuple(self.copies(b.id))) for b in self.backups(job=job)]

    def restores(self, job: str) -> list[Restore]:
        """Every restore of ``job``'s backups, newest first (none in a catalog of an older
        release opened read-only, which has no such table)."""
        if not self._has_table("restores"):
            return []
        with self._tx() as db:
            rows = db.execute(
                "SELECT backup_id, job, started, finished, status, source, targets, details "
                "FROM restores WHERE job = ? ORDER BY rowid DESC",
                (job,),
            ).fetchall()
        return [Restore(*row) for row in rows]

    def _has_column(self, table: str, column: str) -> bool:
        with self._tx() as db:
            return any(row[1] == column for row in db.execute(f"PRAGMA table_info({table})"))

    def _has_table(self, name: str) -> bool:
        with self._tx() as db:
            row = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
            ).fetchone()
        return row is not None

    def last_verification(
        self, backup_id: str | None = None, job: str | None = None
    ) -> Verification | None:
        seconds = "v.seconds" if self._has_column("verifications", "seconds") else "NULL"
        sql = (
            f"SELECT v.backup_id, v.at, v.ok, v.details, {seconds} FROM verifications v "
            "JOIN backups b ON b.id = v.backup_id"
        )
        args: list[str] = []
        if backup_id is not None:
            sql += " WHERE v.backup_id = ?"
            args.append(backup_id)
        elif job is not None:
            sql += " WHERE b.job = ?"
            args.append(job)
        sql += " ORDER BY v.rowid DESC LIMIT 1"  # the last recorded, whatever the clock said
        with self._tx() as db:
            row = db.execute(sql, args).fetchone()
        return Verification(row[0], row[1], bool(row[2]), row[3], row[4]) if row else None


def _add_verify_seconds(db: sqlite3.Connection) -> None:
    """A catalog of an older release: its verifications get the (unknown) time they took."""
    if not any(row[1] == "seconds" for row in db.execute("PRAGMA table_info(verifications)")):
        db.execute("ALTER TABLE verifications ADD COLUMN seconds REAL")


def _has_sequence(db: sqlite3.Connection) -> bool:
    return any(row[1] == "seq" for row in db.execute("PRAGMA table_info(backups)"))


def _add_sequence(db: sqlite3.Connection) -> None:
    """Give a catalog of an older release its sequence: the order its rows were inserted in,
    which is the order the runs started in."""
    if not _has_sequence(db):
        db.execute("ALTER TABLE backups ADD COLUMN seq INTEGER")
    unnumbered = db.execute("SELECT rowid FROM backups WHERE seq IS NULL ORDER BY rowid").fetchall()
    if unnumbered:
        (top,) = db.execute("SELECT IFNULL(MAX(seq), 0) FROM backups").fetchone()
        db.executemany(
            "UPDATE backups SET seq = ? WHERE rowid = ?",
            [(top + n, rowid) for n, (rowid,) in enumerate(unnumbered, 1)],
        )
    db.execute("CREATE UNIQUE INDEX IF NOT EXISTS backups_seq ON backups(seq)")


def _newest_failure(backups: Sequence[Backup]) -> str | None:
    """The error of the newest finished run (newest first in ``backups``) when it failed or
    stored fewer copies than it should have (a good backup with an error)."""
    settled = [b for b in backups if b.status in ("good", "failed")]
    if settled and (settled[0].status == "failed" or settled[0].error):
        return settled[0].error or "failed"
    return None
