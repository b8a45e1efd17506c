"""``backup restore``: a backup's databases back on the server, from a copy proven intact first.

The steps, in the order that protects the data:
1. the backup: the one named, else the job's newest good one (catalog sequence);
2. the targets: each database into its own name or, for one database, ``--as`` a new one; a
   target that holds tables is refused unless ``--replace`` (then it is dropped and recreated,
   only after step 3 succeeded);
3. the source: the first destination with a good copy (directories, then ssh, then volumes;
   ``--from`` names one), its files fetched and every one checked against the SHA-256 in the
   catalog before any byte reaches the server; a copy that does not match is passed over;
4. the restores, several databases at once (the job's ``parallel``), each through the ``mariadb``
   client; then users and grants when asked;
5. the restore recorded in the catalog (``backup list`` shows it), whatever its end.

A database restored under another name gets its tables and rows, not its triggers, routines and
events: their definitions may name the original database (``INSERT INTO shop.audit``), and a copy
must never write into the live one.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from stackwatch.backup.binlogs import (
    BinlogError,
    base_position,
    fetched_logs,
    parse_time,
    replay,
    replay_until,
)
from stackwatch.backup.catalog import Backup, Catalog, CatalogError
from stackwatch.backup.config import BackupConfig, Job, Server
from stackwatch.backup.destinations import (
    Backend,
    DestinationError,
    backend,
    make_private_dirs,
    sha256_file,
)
from stackwatch.backup.dump import (
    USERS_STEM,
    Client,
    DumpedFile,
    DumpError,
    connection_args,
    sql_ident,
    sql_string,
)
from stackwatch.backup.lock import job_lock
from stackwatch.backup.verify import RESTORE_TIMEOUT, ProgramFilter, read_sql
from stackwatch.core.host import Host, HostError
from stackwatch.core.interrupts import signals_as_interrupt
from stackwatch.core.record import dataclass, field

KIND_ORDER = {"directory": 0, "ssh": 1, "volume": 2}
MAX_NAME = 64  # the server's limit for a database name
PROGRESS_EVERY = 0.25  # seconds between two progress lines on a terminal


class RestoreError(Exception):
    """A restore refused or failed; the message says why in an operator's words."""


class RestoreUsage(RestoreError):
    """What was asked cannot be done with this backup (unknown database, --as with several)."""


@dataclass(frozen=True)
class RestoreRequest:
    backup_id: str | None = None
    job: str | None = None
    databases: tuple[str, ...] = ()
    as_name: str | None = None
    source: str | None = None
    with_users: bool = False
    replace: bool = False
    dry_run: bool = False
    binlog: bool = True  # False: the restore is not written to the binary log (no replica sees it)
    to_time: str | None = None  # ISO 8601: replay the archived binary logs up to this moment
    datadir: str | None = None  # a physical backup: the empty data directory to restore into
    to_gtid: str | None = None  # a GTID list: replay them up to and including it (pitr.py)

    @property
    def point_in_time(self) -> str | None:
        """Where a point-in-time restore stops (as the user gave it), None for a plain one."""
        return self.to_time if self.to_time is not None else self.to_gtid


@dataclass(frozen=True)
class Target:
    """One database of the backup and the name it is restored as."""

    file: DumpedFile
    database: str
    into: str

    @property
    def label(self) -> str:
        return self.database if self.into == self.database else f"{self.database} as {self.into}"

    @property
    def keeps_programs(self) -> bool:
        """Triggers, routines and events come back only into the database's own name."""
        return self.into == self.database


@dataclass
class RestoreOutcome:
    backup_id: str | None = None
    source: str | None = None
    ok: bool = False
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def report(self) -> str:
        lines = list(self.lines)
        lines += [f"problem: {p}" for p in self.problems]
        return "\n".join(lines)


class Progress:
    """How much SQL has gone to the server, as one line rewritten in place (a terminal only)."""

    def __init__(self, total: int, write: Callable[[str], None] | None) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.write = write
        self._lock = threading.Lock()
        self._last = 0.0
        self.stopped = threading.Event()  # set on Ctrl-C or SIGTERM: every feed ends at once

    def add(self, n: int) -> None:
        if self.stopped.is_set():
            raise DumpError("interrupted")
        if self.write is None:
            return
        with self._lock:
            self.done += n
            now = time.monotonic()
            if now - self._last < PROGRESS_EVERY:
                return
            self._last = now
            self.write(f"\rrestoring: {min(100, 100 * self.done // self.total):3d}% ")

    def end(self) -> None:
        if self.write is not None and self._last:
            self.write("\rrestoring: 100%\n")


# Choosing -------------------------------------------------------------------------------------


def choose_backup(cfg: BackupConfig, catalog: Catalog, request: RestoreRequest) -> Backup:
    """The backup named, else the newest good backup of the job named (or of the only job)."""
    if request.backup_id is not None:
        return _named_backup(cfg, catalog, request)
    job = request.job
    if job is None:
        if len(cfg.jobs) != 1:
            raise RestoreUsage(
                f"several jobs are configured ({', '.join(cfg.jobs)}): name one with --job"
            )
        job = next(iter(cfg.jobs))
    if job not in cfg.jobs:
        raise RestoreUsage(f"unknown job {job!r}; configured: {', '.join(cfg.jobs)}")
    if request.to_gtid is not None:
        return _backup_before_gtid(catalog, job, request.to_gtid)
    if request.to_time is not None:
        try:
            moment = parse_time(request.to_time)
        except BinlogError as exc:
            raise RestoreUsage(str(exc)) from None
        return _backup_before(catalog, job, moment)
    newest = catalog.job_summary(job).newest_good
    if newest is None:
        raise RestoreError(f"job {job}: no good backup to restore")
    return newest


def _backup_before(catalog: Catalog, job: str, moment: float) -> Backup:
    """The newest good backup taken before ``moment`` (the base of a point-in-time restore)."""
    for b in catalog.backups(job=job, status="good"):
        if b.started < moment:
            return b
    raise RestoreError(f"job {job}: no good backup taken before {time.ctime(moment)}")


def _backup_before_gtid(catalog: Catalog, job: str, text: str) -> Backup:
    from stackwatch.backup.pitr import GtidUsage, backup_before_gtid, parse_target

    try:
        return backup_before_gtid(catalog, job, parse_target(text))
    except GtidUsage as exc:
        raise RestoreUsage(str(exc)) from None
    except BinlogError as exc:
        raise RestoreError(str(exc)) from None


def _named_backup(cfg: BackupConfig, catalog: Catalog, request: RestoreRequest) -> Backup:
    found = catalog.get(str(request.backup_id))
    if found is None:
        raise RestoreUsage(f"no backup {request.backup_id!r} in the catalog")
    if request.job is not None and found.job != request.job:
        raise RestoreUsage(f"backup {found.id} belongs to job {found.job}, not {request.job}")
    if found.job not in cfg.jobs:
        raise RestoreError(f"backup {found.id}: job {found.job!r} is not configured any more")
    if found.status != "good":
        raise RestoreError(f"backup {found.id} is {found.status}: only a good backup is restored")
    return found


def choose_targets(
    backup_id: str, files: Sequence[DumpedFile], request: RestoreRequest
) -> list[Target]:
    """The databases to restore (all of the backup's unless named) and the names they get."""
    if request.to_time is not None and request.to_gtid is not None:
        raise RestoreUsage("--to-time and --to-gtid: give one of them")
    if request.point_in_time is not None and (request.databases or request.as_name):
        # The replayed logs hold every database's changes: a part restored would get them twice.
        raise RestoreUsage("--to-time restores every database of the backup: no --database, --as")
    dumps = {f.database: f for f in files if f.database is not None}
    names = list(dict.fromkeys(request.databases)) or list(dumps)
    unknown = [n for n in names if n not in dumps]
    if unknown:
        held = ", ".join(dumps) or "no database"
        raise RestoreUsage(f"not in backup {backup_id}: {', '.join(unknown)} (it holds: {held})")
    if request.as_name is None:
        return [Target(dumps[n], n, n) for n in names]
    if len(names) != 1:
        raise RestoreUsage("--as gives one database a new name: choose it with --database")
    _check_new_name(request.as_name)
    return [Target(dumps[names[0]], names[0], request.as_name)]


def _check_new_name(name: str) -> None:
    if not name or len(name) > MAX_NAME or name != name.rstrip() or "\0" in name:
        raise RestoreUsage(
            f"--as: {name!r} is not a database name (1 to {MAX_NAME} characters, no trailing space)"
        )


def users_file(backup_id: str, files: Sequence[DumpedFile]) -> DumpedFile:
    for f in files:
        if f.database is None and f.name.startswith(f"{USERS_STEM}.sql"):
            return f
    raise RestoreError(f"backup {backup_id} holds no users and grants (its job has dump_users off)")


def source_order(
    cfg: BackupConfig, catalog: Catalog, backup: Backup, wanted: str | None
) -> list[str]:
    """The destinations with a good copy, local directories first, then ssh, then volumes."""
    good = [c.destination for c in catalog.copies(backup.id) if c.status == "good"]
    if wanted is not None:
        if wanted not in cfg.destinations:
            known = ", ".join(cfg.destinations)
            raise RestoreUsage(f"--from: unknown destination {wanted!r} (configured: {known})")
        if wanted not in good:
            raise RestoreError(f"backup {backup.id} has no good copy on {wanted}")
        return [wanted]
    configured = [d for d in good if d in cfg.destinations]
    if not configured:
        raise RestoreError(f"backup {backup.id} has no good copy on a configured destination")
    return sorted(configured, key=lambda d: KIND_ORDER.get(cfg.destinations[d].kind, 9))


# The server side ----------------------------------------------------------------------------


def tables_held(client: Client, database: str) -> int | None:
    """How many tables ``database`` holds; None when it does not exist."""
    rows = client.query(
        "SELECT (SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = "
        f"{sql_string(database)}), (SELECT COUNT(*) FROM information_schema.TABLES WHERE "
        f"TABLE_SCHEMA = {sql_string(database)})"
    )
    if not rows or len(rows[0]) < 2:
        raise DumpError(f"database {database}: unexpected answer from the server")
    exists, tables = rows[0]
    return None if exists == "0" else int(tables or 0)


def check_targets(
    client: Client, targets: Sequence[Target], replace: bool
) -> dict[str, int | None]:
    """Each target's tables now; RestoreError when one holds tables and ``replace`` is off."""
    held = {t.into: tables_held(client, t.into) for t in targets}
    full = [f"{name} ({n} tables)" for name, n in held.items() if n and not replace]
    if full:
        raise RestoreError(
            f"refusing to overwrite {', '.join(full)}: give --replace to drop and restore it "
            "(nothing was restored)"
        )
    return held


def prepare_targets(client: Client, held: dict[str, int | None]) -> None:
    """Each target empty and present: dropped first when it holds tables (``--replace``)."""
    for name, tables in held.items():
        if tables:
            client.query(f"DROP DATABASE {sql_ident(name)}")
        if tables is None or tables:
            client.query(f"CREATE DATABASE {sql_ident(name)}")


def feed_sql(
    host: Host,
    server: Server,
    path: Path,
    database: str | None,
    progress: Progress,
    keep_programs: bool = True,
    binlog: bool = True,
) -> int:
    """Stream one dump file into the server (into ``database``, or as it is for the users
    file); without trigger, routine and event blocks unless ``keep_programs``. Returns how many
    such blocks were left out. Each extended INSERT stays a transaction of its own: grouping a
    table's INSERTs in one (autocommit off, InnoDB's bulk load of an empty table) cost the
    server more CPU here (bench/backup_restore.py: 1.05 times myloader's against 0.73)."""
    programs = None if keep_programs else ProgramFilter()
    argv = [*connection_args(server, server.client_program), "--batch"]
    if not binlog:
        argv.append("--init-command=SET SESSION sql_log_bin=0")
    if database is not None:
        argv.append(f"--database={database}")

    def chunks() -> Iterator[bytes]:
        for block in read_sql(host, path):
            progress.add(len(block))
            yield block if programs is None else programs.feed(block)
        if programs is not None:
            yield programs.flush()

    host.feed(argv, chunks(), timeout=RESTORE_TIMEOUT, what=f"restoring {path.name}")
    return 0 if programs is None else programs.blocks


# Fetching and checking -------------------------------------------------------------------------


def fetch_checked(
    b: Backend,
    backup: Backup,
    files: Sequence[DumpedFile],
    into: Path,
    parallel: int,
    *,
    sha256: bool = True,
) -> dict[str, Path]:
    """The files of ``backup`` from ``b`` (in place on a directory, copied into ``into`` over
    ssh), each checked against its size and SHA-256 in the catalog (the size only when not
    ``sha256``: the caller hashes the bytes as it reads them); DestinationError naming what
    differs."""
    paths = {f.name: b.fetch(backup.job, backup.id, f.name, into) for f in files}

    def problem(f: DumpedFile) -> str | None:
        path = paths[f.name]
        size = b.host.size_of(path)
        if size != f.size:
            return f"{f.name}: {size} bytes, catalog says {f.size}"
        if sha256 and sha256_file(b.host, path) != f.sha256:
            return f"{f.name}: SHA-256 differs from the catalog"
        return None

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        problems = [p for p in pool.map(problem, files) if p]
    if problems:
        raise DestinationError(f"{b.name}: {'; '.join(problems)}")
    return paths


@dataclass
class _Source:
    name: str
    paths: dict[str, Path]
    tmp: Path  # private, removed afterwards


@contextlib.contextmanager
def checked_source(
    cfg: BackupConfig,
    host: Host,
    backup: Backup,
    order: Sequence[str],
    files: Sequence[DumpedFile],
    outcome: RestoreOutcome,
    *,
    sha256: bool = True,
) -> Iterator[_Source]:
    """The first destination in ``order`` whose copy of ``files`` matches the catalog (in
    size only when not ``sha256``: the caller checks the sum as it reads); the ones passed over
    are said in the outcome. Fetched files are removed afterwards, a mounted volume unmounted."""
    parallel = cfg.jobs[backup.job].parallel
    work = Path(cfg.work_dir) / backup.job
    make_private_dirs(host, work)
    reasons: list[str] = []
    with host.temporary_dir(".restore-", work) as tmp:
        for name in order:
            b = backend(name, cfg.destinations[name], host)
            try:
                paths = _open_and_fetch(b, backup, files, Path(tmp), parallel, sha256)
            except (DestinationError, HostError, OSError) as exc:
                reasons.append(str(exc))
                outcome.lines.append(f"passed over {name}: {exc}")
                continue
            try:
                yield _Source(name, paths, Path(tmp))
            finally:
                b.close()
            return
    raise RestoreError(
        f"backup {backup.id}: no copy can be used, nothing was restored: {'; '.join(reasons)}"
    )


def _open_and_fetch(
    b: Backend,
    backup: Backup,
    files: Sequence[DumpedFile],
    into: Path,
    parallel: int,
    sha256: bool,
) -> dict[str, Path]:
    """The checked files of an opened destination; closed again when they are not there."""
    b.open()
    try:
        return fetch_checked(b, backup, files, into, parallel, sha256=sha256)
    except BaseException:
        with contextlib.suppress(DestinationError):
            b.close()
        raise


# The restore ---------------------------------------------------------------------------------


@dataclass
class _Restore:
    cfg: BackupConfig
    host: Host
    backup: Backup
    job: Job
    server: Server
    request: RestoreRequest
    outcome: RestoreOutcome
    progress_write: Callable[[str], None] | None

    def run(self, catalog: Catalog) -> None:
        files = catalog.files(self.backup.id)
        if any(f.name.startswith("_physical.") for f in files):
            raise RestoreUsage(
                f"backup {self.backup.id} is a physical copy of the whole server: restore it "
                "into an empty data directory with --datadir DIR"
            )
        targets = choose_targets(self.backup.id, files, self.request)
        extras = [users_file(self.backup.id, files)] if self.request.with_users else []
        order = source_order(self.cfg, catalog, self.backup, self.request.source)
        client = Client(self.server, host=self.host)
        held = check_targets(client, targets, self.request.replace)
        wanted = [t.file for t in targets] + extras
        with checked_source(self.cfg, self.host, self.backup, order, wanted, self.outcome) as src:
            self.outcome.source = src.name
            self.outcome.lines.append(f"copy {src.name}: {len(wanted)} files match their SHA-256")
            with self.binary_logs(catalog, src) as logs:
                if self.request.dry_run:
                    self.say_plan(targets, held, extras)
                    return
                self.restore(catalog, client, src, targets, held, extras, logs)

    @contextlib.contextmanager
    def binary_logs(self, catalog: Catalog, src: _Source) -> Iterator[list[Path] | None]:
        """With --to-time or --to-gtid, the archived logs to replay, checked (a dry run too):
        their SHA-256, and for a GTID that they hold it; else None."""
        if self.request.point_in_time is None:
            yield None
            return
        with fetched_logs(self.cfg, self.host, catalog, self.backup, src.tmp) as logs:
            self.outcome.lines.append(f"binary logs: {len(logs)} match their SHA-256")
            if self.request.to_gtid is not None:
                logs = self.logs_to_gtid(logs, self.request.to_gtid)
            else:
                self.note_short_archive(logs)
            yield logs

    def note_short_archive(self, logs: list[Path]) -> None:
        from stackwatch.backup.pitr import short_of

        note = short_of(self.host, logs, parse_time(str(self.request.to_time)))
        if note is not None:
            self.outcome.lines.append(note)

    def logs_to_gtid(self, logs: list[Path], text: str) -> list[Path]:
        from stackwatch.backup.pitr import GtidUsage, logs_to_replay, parse_target, read_log

        try:
            read = [(path, read_log(self.host, path)) for path in logs]
            needed = logs_to_replay(self.backup, read, parse_target(text))
        except GtidUsage as exc:
            raise RestoreUsage(str(exc)) from None
        self.outcome.lines.append(f"binary logs: {len(needed)} hold the changes up to {text}")
        return needed

    def replay(self, logs: list[Path]) -> None:
        """The archived binary logs from the backup's position to the moment or GTID asked."""
        from stackwatch.backup.pitr import parse_target, stop_options

        _, start = base_position(self.backup)
        started = time.monotonic()
        try:
            if self.request.to_gtid is not None:
                stop = stop_options(parse_target(self.request.to_gtid))
                replay_until(self.host, self.server, logs, start, stop, self.request.binlog)
            else:
                moment = parse_time(str(self.request.to_time))
                replay(self.host, self.server, logs, start, moment, self.request.binlog)
        except BinlogError as exc:
            self.outcome.problems.append(str(exc))
            return
        self.outcome.lines.append(
            f"replayed the binary logs up to {self.request.point_in_time} "
            f"in {time.monotonic() - started:.1f} s"
        )

    def say_plan(
        self, targets: Sequence[Target], held: dict[str, int | None], extras: list[DumpedFile]
    ) -> None:
        for t in targets:
            now = held[t.into]
            state = "new" if now is None else "empty"
            if now:
                state = f"holds {now} tables: dropped first"
            self.outcome.lines.append(f"would restore {t.label} ({state})")
        if extras:
            self.outcome.lines.append("would restore users and grants")
        self.outcome.lines.append("dry run: nothing was changed")

    def restore(
        self,
        catalog: Catalog,
        client: Client,
        src: _Source,
        targets: Sequence[Target],
        held: dict[str, int | None],
        extras: list[DumpedFile],
        logs: list[Path] | None = None,
    ) -> None:
        labels = ", ".join(t.label for t in targets) + (", users" if extras else "")
        if logs is not None:
            labels += f", to {self.request.point_in_time}"
        record = catalog.start_restore(self.backup.id, self.backup.job, src.name, labels)
        try:
            prepare_targets(client, held)
            self.databases(src, targets)
            for f in extras:
                progress = Progress(f.raw_size, None)
                path = src.paths[f.name]
                feed_sql(self.host, self.server, path, None, progress, True, self.request.binlog)
                self.outcome.lines.append("restored users and grants")
            if logs is not None and not self.outcome.problems:
                self.replay(logs)
        except (DumpError, HostError, OSError) as exc:
            self.outcome.problems.append(str(exc))
        except BaseException:  # Ctrl-C, SIGTERM: recorded as what it is, never as restored
            self.outcome.problems.append("interrupted before the restore finished")
            raise
        finally:
            ok = not self.outcome.problems
            details = "; ".join(self.outcome.problems) or "restored"
            catalog.finish_restore(record, ok, details)

    def databases(self, src: _Source, targets: Sequence[Target]) -> None:
        """Several at once, the largest first (the last to finish starts first)."""
        progress = Progress(sum(t.file.raw_size for t in targets), self.progress_write)
        ordered = sorted(targets, key=lambda t: -t.file.raw_size)
        binlog = self.request.binlog

        def one(t: Target) -> str:
            started = time.monotonic()
            path = src.paths[t.file.name]
            left_out = feed_sql(
                self.host, self.server, path, t.into, progress, t.keeps_programs, binlog
            )
            line = f"restored {t.label} in {time.monotonic() - started:.1f} s"
            if left_out:
                line += f" ({left_out} trigger/routine/event blocks left out under a new name)"
            return line

        pool = ThreadPoolExecutor(max_workers=max(1, self.job.parallel))
        try:
            futures = [(t, pool.submit(one, t)) for t in ordered]
            for t, future in futures:
                try:
                    self.outcome.lines.append(future.result())
                except (DumpError, HostError, OSError) as exc:
                    self.outcome.problems.append(f"{t.label}: {exc}")
        except BaseException:
            progress.stopped.set()  # the feeds still running stop their clients at once
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        progress.end()


def restore_backup(
    cfg: BackupConfig,
    request: RestoreRequest,
    host: Host | None = None,
    progress: Callable[[str], None] | None = None,
) -> RestoreOutcome:
    """Restore as ``request`` says; RestoreUsage/RestoreError before anything was changed,
    LockBusy when the job runs now, else an outcome (recorded in the catalog unless a dry run)."""
    host = host or Host()
    started = time.monotonic()
    outcome = RestoreOutcome()
    catalog = Catalog(cfg.catalog)
    try:
        backup = choose_backup(cfg, catalog, request)
        outcome.backup_id = backup.id
        outcome.lines.append(f"backup {backup.id} of job {backup.job}")
        job = cfg.jobs[backup.job]
        # The job's lock: retention of a run cannot delete the copy being read. SIGTERM ends
        # a restore as Ctrl-C does: through every clean-up, recorded as interrupted.
        with job_lock(cfg.lock_dir, backup.job), signals_as_interrupt():
            if request.datadir is not None:  # a physical backup (physrestore.py)
                from stackwatch.backup.physrestore import restore_physical

                restore_physical(cfg, host, catalog, backup, request, outcome, progress)
            else:
                _Restore(
                    cfg, host, backup, job, cfg.servers[job.server], request, outcome, progress
                ).run(catalog)
    except (DumpError, HostError, OSError, CatalogError, DestinationError, BinlogError) as exc:
        raise RestoreError(str(exc)) from None
    finally:
        catalog.close()
    outcome.ok = not outcome.problems
    outcome.seconds = time.monotonic() - started
    verdict = "dry run" if request.dry_run else "restored" if outcome.ok else "RESTORE FAILED"
    outcome.lines.append(f"{verdict}: took {outcome.seconds:.1f} s")
    return outcome
