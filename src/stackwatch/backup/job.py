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
import shutil
import subprocess
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from stackwatch.backup import notify
from stackwatch.backup.catalog import Catalog
from stackwatch.backup.config import BackupConfig, Job
from stackwatch.backup.destinations import (
    Backend,
    DestinationError,
    DirectoryBackend,
    backend,
)
from stackwatch.backup.dump import (
    EXTENSIONS,
    Client,
    DumpedFile,
    DumpError,
    TableStats,
    drain_to_file,
    dump_argv,
    dump_file_name,
    select_databases,
    stop,
    stream_to_file,
    users_argv,
)
from stackwatch.backup.lock import job_lock
from stackwatch.backup.retention import Policy, Snapshot, apply_policy
from stackwatch.backup.snapshot import Session, open_snapshot, table_figures


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
    seconds: float = 0.0
    lock_seconds: float | None = None  # writers blocked by the global read lock
    position: str | None = None  # binlog file:offset and/or GTID of the consistent point

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
        lines += [f"deleted by retention: {d}" for d in self.deleted]
        lines += self.notes
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


def run_hook(argv: list[str], what: str, job: str, timeout: float) -> None:
    env = dict(os.environ, STACKWATCH_BACKUP_JOB=job)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DumpError(f"{what} hook failed: {exc}") from None
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no message"]
        raise DumpError(f"{what} hook exited with status {done.returncode}: {tail[0]}")


def dump_all(
    job_name: str, job: Job, cfg: BackupConfig, staging: Path
) -> tuple[list[DumpedFile], list[TableStats], dict[str, object]]:
    """Every database at one point in time (see snapshot.py), at most ``job.parallel`` of them
    read at once; the table figures come from the same point, then users and include_paths."""
    server = cfg.servers[job.server]
    client = Client(server)
    databases = select_databases(client.databases(), job.databases, job.exclude)
    if not databases:
        raise DumpError("no database to back up (check databases and exclude)")
    session = Session(server, timeout=job.dump_timeout)
    files: list[DumpedFile] = []
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

        def one(database: str) -> DumpedFile:
            name = dump_file_name(database, job.compression)
            size, raw, sha, _ = drain_to_file(
                snap.dumps[database],
                staging,
                name,
                compression=job.compression,
                level=job.compression_level,
                threads=job.threads,
                timeout=job.dump_timeout,
                what=f"dump of {database}",
            )
            pos = snap.position
            file, offset, gtid = pos.get("file"), pos.get("pos"), pos.get("gtid")
            return DumpedFile(
                name,
                database,
                size,
                raw,
                sha,
                file if isinstance(file, str) else None,
                offset if isinstance(offset, int) else None,
                gtid if isinstance(gtid, str) else None,
            )

        pool = ThreadPoolExecutor(max_workers=workers)
        futures = {db: pool.submit(one, db) for db in databases}
        try:
            # The figures, in the control session's snapshot, while the dumps are read.
            stats = table_figures(session.query, snap.tables)
            session.query("COMMIT")
            wait(futures.values(), return_when=FIRST_EXCEPTION)
            for future in futures.values():
                if future.done() and future.exception() is not None:
                    raise future.exception()  # type: ignore[misc]
            files = [futures[db].result() for db in databases]
        finally:
            for db, future in futures.items():
                if future.cancel():
                    stop(snap.dumps[db])
                elif not future.done():  # a failure elsewhere ends the running ones
                    snap.dumps[db].proc.kill()
            pool.shutdown(wait=True)
    finally:
        session.close()
    ext = EXTENSIONS[job.compression]
    if job.dump_users:
        size, raw, sha, _ = stream_to_file(
            users_argv(server),
            staging,
            f"_users.sql{ext}",
            compression=job.compression,
            level=job.compression_level,
            threads=job.threads,
            timeout=job.dump_timeout,
            what="dump of users and grants",
        )
        files.append(DumpedFile(f"_users.sql{ext}", None, size, raw, sha))
    if job.include_paths:
        rel = [p.lstrip("/") or "." for p in job.include_paths]
        size, raw, sha, _ = stream_to_file(
            ["tar", "--create", "--file=-", "--sparse", "-C", "/", "--", *rel],
            staging,
            f"_files.tar{ext}",
            compression=job.compression,
            level=job.compression_level,
            threads=job.threads,
            timeout=job.dump_timeout,
            require_trailer=False,
            what="archive of include_paths",
        )
        files.append(DumpedFile(f"_files.tar{ext}", None, size, raw, sha))
    position = dict(snap.position)
    for f in files:  # the same point for every database: that is the point of snapshot.py
        if f.database and (f.binlog_file or f.gtid):
            position[f.database] = {"file": f.binlog_file, "pos": f.binlog_pos, "gtid": f.gtid}
    return files, stats, position


def write_manifest(
    staging: Path, backup_id: str, job: str, files: list[DumpedFile], stats: list[TableStats]
) -> DumpedFile:
    """manifest.json beside the dumps: enough to rebuild the catalog from any one copy."""
    import hashlib

    from stackwatch.core.files import write_atomic

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
    write_atomic(staging / "manifest.json", data, 0o600)
    sha = hashlib.sha256(data).hexdigest()
    return DumpedFile("manifest.json", None, len(data), len(data), sha)


def open_backends(cfg: BackupConfig, job: Job, outcome: RunOutcome) -> list[Backend]:
    opened = []
    for name in job.destinations:
        b = backend(name, cfg.destinations[name])
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


def run_job(cfg: BackupConfig, job_name: str, now: float | None = None) -> RunOutcome:
    """Run one job; the outcome says what happened. Raises LockBusy when the job is running."""
    job = cfg.jobs[job_name]
    started = time.monotonic()
    outcome = RunOutcome(job_name)
    with job_lock(cfg.lock_dir, job_name):
        if job.idle_priority:
            set_idle_priority()
        catalog = Catalog(cfg.catalog)
        try:
            _run(cfg, job_name, job, catalog, outcome, time.time() if now is None else now)
        finally:
            catalog.close()
    outcome.seconds = time.monotonic() - started
    return outcome


def _run(
    cfg: BackupConfig, job_name: str, job: Job, catalog: Catalog, outcome: RunOutcome, now: float
) -> None:
    # We hold the lock: a backup still "running" in the catalog belongs to a run that was killed.
    for stale in catalog.backups(job=job_name, status="running"):
        catalog.finish(stale.id, False, "interrupted: the run was killed before it finished")
        outcome.notes.append(f"backup {stale.id} was interrupted; marked failed")
    backup_id = new_backup_id(catalog, now)
    outcome.backup_id = backup_id
    catalog.start(backup_id, job_name, now)
    backends = open_backends(cfg, job, outcome)
    for b in backends:
        if isinstance(b, DirectoryBackend):
            for leftover in b.root(job_name).glob(".partial-*"):
                shutil.rmtree(leftover, ignore_errors=True)
    leftovers = Path(cfg.work_dir) / job_name
    for leftover in leftovers.glob(".partial-*") if leftovers.is_dir() else []:
        shutil.rmtree(leftover, ignore_errors=True)
    staging_owner: DirectoryBackend | None = None
    staging: Path | None = None
    try:
        for b in backends:
            if isinstance(b, DirectoryBackend):
                try:
                    staging = b.prepare(job_name, backup_id)
                    staging_owner = b
                    break
                except DestinationError as exc:
                    outcome.notes.append(f"{exc}; dumping elsewhere")
        if staging is None:
            work = Path(cfg.work_dir) / job_name
            work.mkdir(mode=0o700, parents=True, exist_ok=True)
            staging = work / f".partial-{backup_id}"
            staging.mkdir(mode=0o700)
        try:
            if job.pre_hook:
                run_hook(job.pre_hook, "pre", job_name, job.hook_timeout)
            try:
                files, stats, position = dump_all(job_name, job, cfg, staging)
            finally:
                if job.post_hook:
                    try:
                        run_hook(job.post_hook, "post", job_name, job.hook_timeout)
                    except DumpError as exc:
                        outcome.errors.append(str(exc))
            files.append(write_manifest(staging, backup_id, job_name, files, stats))
        except (DumpError, OSError) as exc:
            message = str(exc) if isinstance(exc, DumpError) else f"{exc.strerror}: {exc}"
            outcome.errors.insert(0, message)
            catalog.finish(backup_id, False, message)
            return
        outcome.files = files
        lock = position.get("lock_seconds")
        outcome.lock_seconds = float(lock) if isinstance(lock, int | float) else None
        outcome.position = _position_text(position)
        catalog.record_dump(backup_id, files, stats, position)
        # The staging destination last: its store() renames the staging directory away.
        order = [b for b in backends if b is not staging_owner]
        if staging_owner is not None:
            order.append(staging_owner)
        for b in order:
            try:
                b.store(staging, job_name, backup_id, files)
                outcome.copies[b.name] = None
                catalog.record_copy(backup_id, b.name, b.offsite, True, None)
            except (DestinationError, OSError) as exc:
                outcome.copies[b.name] = str(exc)
                outcome.errors.append(str(exc))
                catalog.record_copy(backup_id, b.name, b.offsite, False, str(exc))
        for name, error in outcome.copies.items():
            if error is not None and name not in {b.name for b in backends}:
                catalog.record_copy(
                    backup_id, name, cfg.destinations[name].is_offsite, False, error
                )
        stored = any(e is None for e in outcome.copies.values())
        outcome.ok = not outcome.errors
        failed = [n for n, e in outcome.copies.items() if e is not None]
        catalog.finish(
            backup_id,
            stored,
            None if not failed else "copy failed: " + ", ".join(failed),
        )
        if outcome.ok:
            try:
                outcome.deleted = prune_job(cfg, job_name, catalog, backends, dry_run=False)[0]
            except DestinationError as exc:
                outcome.errors.append(f"retention: {exc}")
                outcome.ok = False
        else:
            outcome.notes.append("retention skipped: nothing is deleted after a failed run")
    finally:
        # Whatever is still in staging is not a backup: the finished one was renamed away.
        if staging is not None and staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
        close_backends(backends, outcome)
        outcome.ok = not outcome.errors
        _notify(cfg, job_name, job, outcome)


def _position_text(position: dict[str, object]) -> str | None:
    where = []
    if position.get("file"):
        where.append(f"binlog {position['file']}:{position.get('pos')}")
    if position.get("gtid"):
        where.append(f"GTID {position['gtid']}")
    return ", ".join(where) or None


def _notify(cfg: BackupConfig, job_name: str, job: Job, outcome: RunOutcome) -> None:
    event = "success" if outcome.ok else "failure"
    subject = f"{job_name}: backup {'succeeded' if outcome.ok else 'FAILED'}"
    outcome.notes += notify.send(job_name, job, cfg.mail, event, subject, outcome.report())
    if outcome.deleted:
        body = "Deleted by retention (restic forget rules):\n" + "\n".join(outcome.deleted)
        outcome.notes += notify.send(
            job_name, job, cfg.mail, "deletion", f"{job_name}: {len(outcome.deleted)} deleted", body
        )


def prune_job(
    cfg: BackupConfig,
    job_name: str,
    catalog: Catalog,
    backends: list[Backend],
    dry_run: bool,
) -> tuple[list[str], list[str]]:
    """Apply the job's retention; returns (forgotten ids, kept ids with reasons)."""
    job = cfg.jobs[job_name]
    good = catalog.backups(job=job_name, status="good")
    decision = apply_policy([Snapshot(b.id, b.started) for b in good], Policy.from_job(job))
    kept = [f"{s.id}: {', '.join(decision.reasons[s.id])}" for s in decision.keep]
    forgotten: list[str] = []
    if dry_run:
        return [s.id for s in decision.forget], kept
    by_name = {b.name: b for b in backends}
    for snap in decision.forget:
        complete = True
        for copy in catalog.copies(snap.id):
            if copy.status != "good":
                continue
            b = by_name.get(copy.destination)
            if b is None:
                complete = False
                continue
            b.delete(job_name, snap.id)
            catalog.mark_deleted(snap.id, copy.destination)
        if complete:
            catalog.mark_deleted(snap.id)
            forgotten.append(snap.id)
    return forgotten, kept


def prune(
    cfg: BackupConfig, job_name: str, dry_run: bool
) -> tuple[list[str], list[str], list[str]]:
    """Retention alone (``backup prune``): (forgotten, kept, errors)."""
    job = cfg.jobs[job_name]
    outcome = RunOutcome(job_name)
    with job_lock(cfg.lock_dir, job_name):
        catalog = Catalog(cfg.catalog)
        backends = [] if dry_run else open_backends(cfg, job, outcome)
        try:
            forgotten, kept = prune_job(cfg, job_name, catalog, backends, dry_run)
        except DestinationError as exc:
            outcome.errors.append(str(exc))
            forgotten, kept = [], []
        finally:
            close_backends(backends, outcome)
            catalog.close()
    if forgotten and not dry_run:
        body = "Deleted by retention (restic forget rules):\n" + "\n".join(forgotten)
        notify.send(
            job_name, job, cfg.mail, "deletion", f"{job_name}: {len(forgotten)} deleted", body
        )
    return forgotten, kept, outcome.errors
