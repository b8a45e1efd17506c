"""One backup run, start to end: lock, hooks, dumps, copies, catalog, retention, notification.

The order protects the data: the dump is written under a temporary name on the first local
destination (or the work directory) and only renamed into place when complete and checksummed;
the catalog records the backup as good only then; retention runs only after a run in which
everything succeeded, and never deletes the newest good backup.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import time
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from pathlib import Path

from stackwatch.backup import notify
from stackwatch.backup.catalog import Catalog, CatalogError
from stackwatch.backup.config import BackupConfig, Job, Server
from stackwatch.backup.destinations import (
    Backend,
    DestinationError,
    DirectoryBackend,
    backend,
    make_private_dirs,
)
from stackwatch.backup.dump import (
    EXTENSIONS,
    FILES_STEM,
    MANIFEST,
    USERS_STEM,
    Client,
    Compression,
    DumpedFile,
    DumpError,
    TableStats,
    dump_argv,
    dump_file_name,
    select_databases,
    stream_to_file,
    users_argv,
    write_dump,
)
from stackwatch.backup.lock import LockBusy, job_lock
from stackwatch.backup.retention import Policy, Snapshot, apply_policy
from stackwatch.backup.scratch import drop_stale, list_schemas
from stackwatch.backup.sizewatch import compare_with_previous, warning
from stackwatch.backup.snapshot import Session, open_snapshot, table_figures
from stackwatch.backup.snapshot import Snapshot as DumpSnapshot
from stackwatch.backup.verify import VerifyOutcome, verify_backup
from stackwatch.core import record
from stackwatch.core.host import CommandFailed, CommandTimeout, Drained, Host, HostError
from stackwatch.core.record import dataclass, field

Dumped = tuple[list[DumpedFile], list[TableStats], dict[str, object]]


@dataclass
class RunOutcome:
    job: str
    backup_id: str | None = None
    ok: bool = False
    errors: list[str] = field(default_factory=list)
    files: list[DumpedFile] = field(default_factory=list)
    copies: dict[str, str | None] = field(default_factory=dict)  # destination -> error or None
    deleted: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # a good backup that looks wrong
    seconds: float = 0.0
    lock_seconds: float | None = None  # writers blocked by the global read lock
    position: str | None = None  # binlog file:offset and/or GTID of the consistent point
    verification: VerifyOutcome | None = None  # verify_after_run

    def report(self) -> str:
        lines = [f"job {self.job}: {'OK' if self.ok else 'FAILED'}"]
        if self.backup_id:
            lines.append(f"backup {self.backup_id}")
        size = sum(f.size for f in self.files)
        if self.files:
            lines.append(f"{len(self.files)} files, {size} bytes compressed")
        if self.lock_seconds is not None:
            at = f" at {self.position}" if self.position else ""
            lines.append(
                f"consistent point{at}: writers blocked {self.lock_seconds:.3f} s "
                "(global read lock)"
            )
        for dest, error in self.copies.items():
            lines.append(f"copy {dest}: {'ok' if error is None else 'FAILED: ' + error}")
        lines += [f"error: {e}" for e in self.errors]
        lines += [f"WARNING: {w}" for w in self.warnings]
        lines += [f"deleted by retention: {d}" for d in self.deleted]
        lines += self.notes
        if self.verification is not None:
            lines += self.verification.report().splitlines()
        lines.append(f"took {self.seconds:.1f} s")
        return "\n".join(lines)


def set_idle_priority() -> None:
    """Lowest CPU priority and the idle I/O class, for this process and the dumps it starts."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, 19)
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        ioprio_set = {"x86_64": 251, "aarch64": 30}.get(os.uname().machine)
        if ioprio_set is not None:
            libc.syscall(ioprio_set, 1, 0, 3 << 13)  # IOPRIO_WHO_PROCESS, self, IOPRIO_CLASS_IDLE


def new_backup_id(catalog: Catalog, now: float) -> str:
    base = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    candidate, n = base, 1
    while catalog.get(candidate) is not None:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def run_hook(host: Host, argv: list[str], what: str, job: str, timeout: float) -> None:
    """A pre or post hook, with the job's name in STACKWATCH_BACKUP_JOB; DumpError on failure."""
    try:
        host.run(argv, timeout=timeout, env={"STACKWATCH_BACKUP_JOB": job}, what=f"{what} hook")
    except (CommandFailed, CommandTimeout) as exc:
        raise DumpError(str(exc)) from None
    except HostError as exc:
        raise DumpError(f"{what} hook failed: {exc}") from None


def dump_all(
    host: Host, job: Job, cfg: BackupConfig, staging: Path, notes: list[str] | None = None
) -> Dumped:
    """Every database at one point in time (see snapshot.py), at most ``job.parallel`` of them
    read at once; the table figures come from the same point, then users and include_paths.
    Scratch databases of verify are no databases to back up; those an interrupted verify left
    are dropped first (scratch.py), and said in ``notes``."""
    server = cfg.servers[job.server]
    client = Client(server, host=host)
    schemas = list_schemas(client)
    dropped = drop_stale(client, schemas)
    if notes is not None:
        notes += [f"dropped {name}, left by an interrupted verify" for name in dropped]
    available = [s.name for s in schemas if s.scratch_token is None]
    databases = select_databases(available, job.databases, job.exclude)
    if not databases:
        raise DumpError("no database to back up (check databases and exclude)")
    if job.method == "physical":  # the whole server, users included (physical.py)
        from stackwatch.backup.physical import backup_physical

        files, stats, position = backup_physical(host, job, server, databases, staging)
        extras = _dump_extras(host, record.replace(job, dump_users=False), server, staging)
        return files + extras, stats, position
    # Users, grants and include_paths are not part of the consistent point: dumped beside
    # the databases rather than after them (one step less on the run's critical path).
    with ThreadPoolExecutor(max_workers=1) as beside:
        pending = beside.submit(_dump_extras, host, job, server, staging)
        files, stats, position = _dump_databases(host, job, server, databases, staging)
        files += pending.result()
    # The same point for every database (that is the point of snapshot.py), said per database
    # under a key of its own: no database name can replace a key of the position itself.
    position["databases"] = {
        f.database: {"file": f.binlog_file, "pos": f.binlog_pos, "gtid": f.gtid}
        for f in files
        if f.database and (f.binlog_file or f.gtid)
    }
    return files, stats, position


def _dump_databases(
    host: Host, job: Job, server: Server, databases: list[str], staging: Path
) -> Dumped:
    session = Session(server, timeout=job.dump_timeout, host=host)
    try:
        snap = open_snapshot(
            session,
            databases,
            lambda db: dump_argv(server, db, job.extra_dump_options),
            lock_timeout=job.lock_timeout,
            snapshot_timeout=job.snapshot_timeout,
            stall_timeout=job.dump_timeout,
            wants_stalls=job.parallel < len(databases),
        )
        workers = job.parallel if snap.stalls_are_safe else len(databases)
        files, stats = _drain_dumps(host, job, snap, session, staging, workers)
    finally:
        session.close()
    return files, stats, dict(snap.position)


def _drain_dumps(
    host: Host, job: Job, snap: DumpSnapshot, session: Session, staging: Path, workers: int
) -> tuple[list[DumpedFile], list[TableStats]]:
    """Each dump into its file, ``workers`` at once, while the control session computes the
    table figures in its own snapshot (the dumps' point in time)."""
    compression = Compression.of(job)

    def one(database: str) -> DumpedFile:
        name = dump_file_name(database, job.compression)
        process = snap.dumps[database]
        drained = write_dump(host, process, staging / name, compression, job.dump_timeout)
        return _dumped_file(name, database, drained, snap.position)

    pool = ThreadPoolExecutor(max_workers=workers)
    futures = {db: pool.submit(one, db) for db in snap.dumps}
    try:
        stats = table_figures(session.query, snap.tables)
        session.query("COMMIT")
        return _in_order(futures), stats
    finally:
        for db, future in futures.items():
            if future.cancel():
                snap.dumps[db].stop()
            elif not future.done():  # a failure elsewhere ends the running ones
                snap.dumps[db].kill()
        pool.shutdown(wait=True)


def _in_order(futures: dict[str, Future[DumpedFile]]) -> list[DumpedFile]:
    """The results in database order; the first failure raised as soon as it happens."""
    wait(futures.values(), return_when=FIRST_EXCEPTION)
    for future in futures.values():
        error = future.exception() if future.done() else None
        if error is not None:
            raise error
    return [future.result() for future in futures.values()]


def _dumped_file(
    name: str, database: str, drained: Drained, position: dict[str, object]
) -> DumpedFile:
    file, offset, gtid = position.get("file"), position.get("pos"), position.get("gtid")
    return DumpedFile(
        name,
        database,
        drained.size,
        drained.raw_size,
        drained.sha256,
        file if isinstance(file, str) else None,
        offset if isinstance(offset, int) else None,
        gtid if isinstance(gtid, str) else None,
    )


def _dump_extras(host: Host, job: Job, server: Server, staging: Path) -> list[DumpedFile]:
    """The users and grants, and the files of include_paths, each in a file of its own."""
    ext = EXTENSIONS[job.compression]
    extras = []
    if job.dump_users:
        argv = users_argv(server)
        name = f"{USERS_STEM}.sql{ext}"
        what = "dump of users and grants"
        extras.append(_extra(host, job, staging, argv, name, what, trailer=True))
    if job.include_paths:
        rel = [p.lstrip("/") or "." for p in job.include_paths]
        argv = ["tar", "--create", "--file=-", "--sparse", "-C", "/", "--", *rel]
        name = f"{FILES_STEM}.tar{ext}"
        what = "archive of include_paths"  # a tar archive has no SQL trailer
        extras.append(_extra(host, job, staging, argv, name, what, trailer=False))
    return extras


def _extra(
    host: Host, job: Job, staging: Path, argv: list[str], name: str, what: str, *, trailer: bool
) -> DumpedFile:
    path, compression = staging / name, Compression.of(job)
    drained = stream_to_file(
        host, argv, path, compression, job.dump_timeout, what=what, require_trailer=trailer
    )
    return DumpedFile(name, None, drained.size, drained.raw_size, drained.sha256)


def write_manifest(
    host: Host,
    staging: Path,
    backup_id: str,
    job: str,
    files: list[DumpedFile],
    stats: list[TableStats],
) -> DumpedFile:
    """manifest.json beside the dumps: enough to rebuild the catalog from any one copy."""
    import hashlib

    data = json.dumps(
        {
            "id": backup_id,
            "job": job,
            "files": [f.__dict__ for f in files],
            "tables": [s.__dict__ for s in stats],
        },
        indent=1,
        sort_keys=True,
    ).encode()
    host.write_atomic(staging / MANIFEST, data, 0o600)
    sha = hashlib.sha256(data).hexdigest()
    return DumpedFile(MANIFEST, None, len(data), len(data), sha)


def open_backends(cfg: BackupConfig, job: Job, outcome: RunOutcome, host: Host) -> list[Backend]:
    opened = []
    for name in job.destinations:
        b = backend(name, cfg.destinations[name], host)
        try:
            b.open()
            opened.append(b)
        except DestinationError as exc:
            outcome.copies[name] = str(exc)
            outcome.errors.append(str(exc))
    return opened


def close_backends(backends: list[Backend], outcome: RunOutcome) -> None:
    for b in backends:
        try:
            b.close()
        except DestinationError as exc:
            outcome.errors.append(str(exc))


# Whatever a step of a run can raise: caught once, in ``_Run.execute``, so that the catalog,
# the notification and the exit code all say the run failed.
RUN_ERRORS = (CatalogError, DestinationError, DumpError, HostError, OSError)


def run_job(
    cfg: BackupConfig, job_name: str, now: float | None = None, host: Host | None = None
) -> RunOutcome:
    """Run one job; the outcome says what happened, and the notification says the same: any
    error of any step, up to closing the destinations, fails the run. Raises LockBusy (no
    notification: nothing was tried) when the job is running already."""
    job = cfg.jobs[job_name]
    started = time.monotonic()
    outcome = RunOutcome(job_name)
    host = host or Host()
    try:
        with job_lock(cfg.lock_dir, job_name):
            if job.idle_priority:
                set_idle_priority()
            _Run(cfg, job_name, outcome, host).execute(time.time() if now is None else now)
    except LockBusy:
        raise
    except OSError as exc:  # the lock directory or file
        outcome.errors.append(f"lock in {cfg.lock_dir}: {exc.strerror or exc}")
    except BaseException as exc:  # a bug or an interruption: said, then raised
        outcome.errors.append(f"the run stopped: {type(exc).__name__}: {exc}")
        _conclude(cfg, job_name, outcome, host, started)
        raise
    _conclude(cfg, job_name, outcome, host, started)
    return outcome


def _conclude(
    cfg: BackupConfig, job_name: str, outcome: RunOutcome, host: Host, started: float
) -> None:
    """The final status, then the notification of exactly that status."""
    outcome.ok = not outcome.errors
    outcome.seconds = time.monotonic() - started
    _notify(cfg, job_name, cfg.jobs[job_name], outcome, host)


class _Run:
    """The steps of one run, in order; each records what it did in the outcome."""

    def __init__(self, cfg: BackupConfig, job_name: str, outcome: RunOutcome, host: Host) -> None:
        self.cfg = cfg
        self.job_name = job_name
        self.job = cfg.jobs[job_name]
        self.outcome = outcome
        self.host = host
        self.catalog: Catalog | None = None
        self.backends: list[Backend] = []
        self.staging: Path | None = None
        self.staging_owner: DirectoryBackend | None = None

    def execute(self, now: float) -> None:
        """Every step; an error of any of them is the run's error (RUN_ERRORS), and whatever
        happened, the staging is removed, the destinations closed, the catalog settled."""
        try:
            self.catalog = Catalog(self.cfg.catalog)
            self.steps(self.catalog, now)
        except RUN_ERRORS as exc:
            self.outcome.errors.append(_describe(exc))
        finally:
            self.clean_up()

    def steps(self, catalog: Catalog, now: float) -> None:
        self.mark_interrupted(catalog)
        backup_id = new_backup_id(catalog, now)
        catalog.start(backup_id, self.job_name, now)
        self.outcome.backup_id = backup_id
        self.backends = open_backends(self.cfg, self.job, self.outcome, self.host)
        self.remove_leftovers()
        if not self.has_room(catalog, backup_id):
            return
        dumped = self.dump(catalog, backup_id)
        if dumped is not None:
            self.record(catalog, backup_id, *dumped)
            self.store(catalog, backup_id, dumped[0])
            self.finish(catalog, backup_id)
            self.measure_offsite(
                catalog
            )  # what backup list and the check judge by until the next run

    def mark_interrupted(self, catalog: Catalog) -> None:
        # We hold the lock: a backup still "running" in the catalog belongs to a run that was
        # killed.
        for stale in catalog.backups(job=self.job_name, status="running"):
            catalog.finish(stale.id, False, "interrupted: the run was killed before it finished")
            self.outcome.notes.append(f"backup {stale.id} was interrupted; marked failed")

    def work_root(self) -> Path:
        return Path(os.path.abspath(self.cfg.work_dir)) / self.job_name

    def remove_leftovers(self) -> None:
        """The staging directories of killed runs (the lock says no run is writing them)."""
        from stackwatch.backup.throwaway import clean_stale  # verifies killed outright

        removed = clean_stale(self.host, self.work_root())
        self.outcome.notes += [f"removed {n}, left by an interrupted verify" for n in removed]
        roots = [b.root(self.job_name) for b in self.backends if isinstance(b, DirectoryBackend)]
        for root in [*roots, self.work_root()]:
            for name in self.host.listdir(str(root)):
                if name.startswith(".partial-"):
                    with contextlib.suppress(HostError):
                        self.host.remove_tree(root / name)

    def measure_offsite(self, catalog: Catalog) -> dict[str, tuple[float, int]]:
        """The free space of the job's ssh destinations now, recorded in the catalog (before
        the run: to refuse; after it: what is left once this backup is there)."""
        from stackwatch.backup import forecast

        measured, notes = forecast.measure_offsite(self.host, self.cfg, self.job_name, time.time())
        for destination, (_, free) in measured.items():
            catalog.record_space(destination, free)
        self.outcome.notes += [n for n in notes if n not in self.outcome.notes]
        return measured

    def has_room(self, catalog: Catalog, backup_id: str) -> bool:
        """The destinations hold the forecast size (forecast.py); False: refused, recorded."""
        from stackwatch.backup import forecast

        estimate = forecast.history(catalog, self.job_name)
        if estimate is None:
            client = Client(self.cfg.servers[self.job.server], host=self.host)
            try:
                estimate = forecast.from_data(forecast.data_size(client, self.job.databases))
            except DumpError:
                return True  # the dump says what is wrong with the server
        measured = self.measure_offsite(catalog)
        found = forecast.rooms(self.host, self.cfg, self.job_name, estimate, measured)
        self.outcome.notes += forecast.warnings(estimate, found)
        refused = forecast.refusal(estimate, found)
        if refused is None:
            return True
        self.outcome.errors.insert(0, refused)
        catalog.finish(backup_id, False, refused)
        return False

    def dump(self, catalog: Catalog, backup_id: str) -> Dumped | None:
        """Hooks, dumps and manifest into a fresh staging directory; None (the run recorded
        as failed) when that fails."""
        try:
            self.staging = self.stage(backup_id)
            files, stats, position = self.dump_with_hooks(self.staging)
            files.append(
                write_manifest(self.host, self.staging, backup_id, self.job_name, files, stats)
            )
        except (DumpError, HostError, OSError) as exc:
            message = f"{exc.strerror}: {exc}" if isinstance(exc, OSError) else str(exc)
            self.outcome.errors.insert(0, message)
            catalog.finish(backup_id, False, message)
            return None
        return files, stats, position

    def stage(self, backup_id: str) -> Path:
        """The staging directory: on the first local destination that can hold one (the dump
        is written where it stays), else in the work directory."""
        for b in self.backends:
            if isinstance(b, DirectoryBackend):
                try:
                    staging = b.prepare(self.job_name, backup_id)
                except DestinationError as exc:
                    self.outcome.notes.append(f"{exc}; dumping elsewhere")
                    continue
                self.staging_owner = b
                return staging
        work = self.work_root()
        make_private_dirs(self.host, work)
        self.host.make_dir(work / f".partial-{backup_id}")
        return work / f".partial-{backup_id}"

    def dump_with_hooks(self, staging: Path) -> Dumped:
        job, name = self.job, self.job_name
        if job.pre_hook:
            run_hook(self.host, job.pre_hook, "pre", name, job.hook_timeout)
        try:
            return dump_all(self.host, job, self.cfg, staging, self.outcome.notes)
        finally:
            if job.post_hook:
                try:
                    run_hook(self.host, job.post_hook, "post", name, job.hook_timeout)
                except DumpError as exc:
                    self.outcome.errors.append(str(exc))

    def record(
        self,
        catalog: Catalog,
        backup_id: str,
        files: list[DumpedFile],
        stats: list[TableStats],
        position: dict[str, object],
    ) -> None:
        self.outcome.files = files
        lock = position.get("lock_seconds")
        self.outcome.lock_seconds = float(lock) if isinstance(lock, int | float) else None
        self.outcome.position = _position_text(position)
        catalog.record_dump(backup_id, files, stats, position)

    def store(self, catalog: Catalog, backup_id: str, files: list[DumpedFile]) -> None:
        """A copy on every destination; a destination that could not be opened is recorded as
        a failed copy."""
        # The staging destination last: its store() renames the staging directory away.
        order = [b for b in self.backends if b is not self.staging_owner]
        if self.staging_owner is not None:
            order.append(self.staging_owner)
        for b in order:
            self.store_one(catalog, b, backup_id, files)
        opened = {b.name for b in self.backends}
        for name, error in self.outcome.copies.items():
            if error is not None and name not in opened:
                offsite = self.cfg.destinations[name].is_offsite
                catalog.record_copy(backup_id, name, offsite, False, error)

    def store_one(
        self, catalog: Catalog, b: Backend, backup_id: str, files: list[DumpedFile]
    ) -> None:
        assert self.staging is not None
        try:
            b.store(self.staging, self.job_name, backup_id, files)
        except (DestinationError, HostError, OSError) as exc:
            self.outcome.copies[b.name] = str(exc)
            self.outcome.errors.append(str(exc))
            catalog.record_copy(backup_id, b.name, b.offsite, False, str(exc))
            return
        self.outcome.copies[b.name] = None
        catalog.record_copy(backup_id, b.name, b.offsite, True, None)

    def finish(self, catalog: Catalog, backup_id: str) -> None:
        """The backup good when at least one copy is stored; then, after a clean run only,
        its verification (when the job asks) and retention."""
        copies = self.outcome.copies
        stored = any(e is None for e in copies.values())
        failed = [n for n, e in copies.items() if e is not None]
        error = "copy failed: " + ", ".join(failed) if failed else None
        catalog.finish(backup_id, stored, error)
        if stored:
            self.watch_size(catalog, backup_id)
        if self.job.verify_after_run and not self.outcome.errors:
            self.verify(catalog, backup_id)
        if self.outcome.errors:
            self.outcome.notes.append("retention skipped: nothing is deleted after a failed run")
            return
        forgotten, _, errors = prune_job(
            self.cfg, self.job_name, catalog, self.backends, False, protect=backup_id
        )
        self.outcome.deleted = forgotten
        self.outcome.errors += [f"retention: {e}" for e in errors]
        if self.job.point_in_time:
            self.archive_binlogs(catalog)

    def archive_binlogs(self, catalog: Catalog) -> None:
        """``point_in_time``: the binary logs up to this backup's, archived (binlogs.py)."""
        from stackwatch.backup.binlogs import BinlogError, archive

        try:
            names = archive(self.cfg, self.job_name, self.host, catalog)
        except BinlogError as exc:
            self.outcome.errors.append(f"binary logs: {exc}")
            return
        if names:
            self.outcome.notes.append(f"binary logs archived: {' '.join(names)}")

    def watch_size(self, catalog: Catalog, backup_id: str) -> None:
        """A warning when this backup is much smaller than the one before (sizewatch.py)."""
        backup = catalog.get(backup_id)
        if backup is None:
            return
        previous, shrunk = compare_with_previous(catalog, backup, self.job.shrink_warning)
        if previous is not None and shrunk:
            self.outcome.warnings.append(warning(previous, shrunk))

    def verify(self, catalog: Catalog, backup_id: str) -> None:
        """Part of the run (``verify_after_run``): a backup that does not restore fails the
        run before retention could delete an older one that does."""
        result = verify_backup(self.cfg, catalog, backup_id, self.host)
        self.outcome.verification = result
        if not result.ok:
            self.outcome.errors.append(f"verification of {backup_id} failed")

    def clean_up(self) -> None:
        # Whatever is still in staging is not a backup: the finished one was renamed away.
        if self.staging is not None:
            with contextlib.suppress(HostError):
                self.host.remove_tree(self.staging)
        close_backends(self.backends, self.outcome)
        if self.catalog is None:
            return
        try:
            if self.outcome.backup_id is not None:
                self.catalog.settle(self.outcome.backup_id, self.outcome.errors)
        except CatalogError:
            pass  # a catalog that fails here failed before: that error is in the outcome
        finally:
            self.catalog.close()


def _describe(exc: BaseException) -> str:
    """One line for an error of a run step."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return str(exc)


def _position_text(position: dict[str, object]) -> str | None:
    where = []
    if position.get("file"):
        where.append(f"binlog {position['file']}:{position.get('pos')}")
    if position.get("gtid"):
        where.append(f"GTID {position['gtid']}")
    return ", ".join(where) or None


def _notify(cfg: BackupConfig, job_name: str, job: Job, outcome: RunOutcome, host: Host) -> None:
    event = "success" if outcome.ok else "failure"
    subject = f"{job_name}: backup {'succeeded' if outcome.ok else 'FAILED'}"
    if outcome.ok and outcome.warnings:  # needs a person as a failure does: same recipients
        event, subject = "failure", f"{job_name}: backup WARNING, smaller"
    outcome.notes += notify.send(host, job_name, job, cfg.mail, event, subject, outcome.report())
    if outcome.deleted:
        outcome.notes += _notify_deletion(host, cfg, job_name, outcome.deleted)


def _notify_deletion(host: Host, cfg: BackupConfig, job_name: str, deleted: list[str]) -> list[str]:
    body = "Deleted by retention (restic forget rules):\n" + "\n".join(deleted)
    subject = f"{job_name}: {len(deleted)} deleted"
    return notify.send(host, job_name, cfg.jobs[job_name], cfg.mail, "deletion", subject, body)


def prune_job(
    cfg: BackupConfig,
    job_name: str,
    catalog: Catalog,
    backends: list[Backend],
    dry_run: bool,
    *,
    protect: str | None = None,
) -> tuple[list[str], list[str], list[str]]:
    """Apply the job's retention: (forgotten ids, kept ids with reasons, errors). The order is
    the catalog's sequence (newest: the last run started); ``protect`` (the backup the run just
    made) is kept whatever the policy says. A copy that cannot be deleted is an error; the
    others are still deleted."""
    job = cfg.jobs[job_name]
    good = catalog.backups(job=job_name, status="good")
    snapshots = [Snapshot(b.id, b.started, b.seq) for b in good]
    decision = apply_policy(snapshots, Policy.from_job(job))
    forget = [s for s in decision.forget if s.id != protect]
    kept = [f"{s.id}: {', '.join(decision.reasons[s.id])}" for s in decision.keep]
    kept += [f"{s.id}: made by this run" for s in decision.forget if s.id == protect]
    if dry_run:
        return [s.id for s in forget], kept, []
    by_name = {b.name: b for b in backends}
    forgotten: list[str] = []
    errors: list[str] = []
    for snap in forget:
        if _delete_copies(catalog, by_name, job_name, snap.id, errors):
            catalog.mark_deleted(snap.id)
            forgotten.append(snap.id)
    if job.point_in_time:
        forgotten += _prune_binlogs(catalog, by_name, job_name, errors)
    return forgotten, kept, errors


def _prune_binlogs(
    catalog: Catalog, by_name: dict[str, Backend], job_name: str, errors: list[str]
) -> list[str]:
    """The archived binary logs no kept backup needs, deleted from every destination (a
    batch stays in the catalog until it is gone from all of them)."""
    from stackwatch.backup.binlogs import unneeded_batches

    holders: dict[str, set[str]] = {}
    for _, batch, destinations in catalog.binlogs(job_name):
        holders.setdefault(batch, set()).update(destinations.split(","))
    deleted = []
    for batch in unneeded_batches(catalog, job_name):
        complete = True
        for name in sorted(holders.get(batch, ())):
            b = by_name.get(name)
            if b is None:  # not opened by this run: deleted by a later one
                complete = False
                continue
            try:
                b.delete(job_name, batch)
            except (DestinationError, HostError) as exc:
                errors.append(str(exc))
                complete = False
        if complete:
            catalog.forget_binlogs(job_name, batch)
            deleted.append(batch)
    return deleted


def _delete_copies(
    catalog: Catalog, by_name: dict[str, Backend], job_name: str, backup_id: str, errors: list[str]
) -> bool:
    """Delete every good copy of a backup; True when none is left."""
    complete = True
    for copy in catalog.copies(backup_id):
        if copy.status != "good":
            continue
        b = by_name.get(copy.destination)
        if b is None:
            complete = False
            continue
        try:
            b.delete(job_name, backup_id)
        except (DestinationError, HostError) as exc:
            errors.append(str(exc))
            complete = False
            continue
        catalog.mark_deleted(backup_id, copy.destination)
    return complete


def prune(
    cfg: BackupConfig, job_name: str, dry_run: bool, host: Host | None = None
) -> tuple[list[str], list[str], list[str]]:
    """Retention alone (``backup prune``): (forgotten, kept, errors)."""
    host = host or Host()
    outcome = RunOutcome(job_name)
    with job_lock(cfg.lock_dir, job_name):
        catalog = Catalog(cfg.catalog)
        backends = [] if dry_run else open_backends(cfg, cfg.jobs[job_name], outcome, host)
        try:
            forgotten, kept, errors = prune_job(cfg, job_name, catalog, backends, dry_run)
            outcome.errors += errors
        finally:
            close_backends(backends, outcome)
            catalog.close()
    if forgotten and not dry_run:
        _notify_deletion(host, cfg, job_name, forgotten)
    return forgotten, kept, outcome.errors
