"""``backup binlogs --stream JOB``: the server's binary logs copied as they are written, and each
archived the moment the server closes it.

One ``mariadb-binlog --read-from-remote-server --raw --stop-never`` (started through Host, as a
replica would connect) writes the logs into the job's spool directory (``WORK_DIR/JOB/stream``),
from the first log the catalog lacks. A spool file with a newer one beside it is closed: it is
checksummed, its ranges read, stored as a batch on every destination and catalogued, under the
job's lock (as ``backup binlogs`` does), then removed from the spool; a log another command
archived meanwhile is only removed. The open log stays in the spool, up to the last event the
server sent: after losing the server it is there to replay by hand. The stream ends when asked
(SIGTERM, Ctrl-C: the copy is stopped, closed logs archived first) or when mariadb-binlog ends
(the server went away): then an error, for the service manager to restart it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path

from stackwatch.backup.binlogs import (
    BINLOG_PROGRAM,
    BinlogError,
    _log_order,
    batch_name,
    keep_batch,
    not_archived,
)
from stackwatch.backup.catalog import Catalog
from stackwatch.backup.config import BackupConfig
from stackwatch.backup.destinations import make_private_dirs
from stackwatch.backup.dump import Client, DumpError, connection_args
from stackwatch.backup.lock import LockBusy, job_lock
from stackwatch.core.host import Host, HostError

POLL_SECONDS = 1.0
# The replica id the copy connects with: a server drops an older connection of the same id, so
# it must differ from every real replica's server_id (and from another stream's).
STREAM_SERVER_ID = 4_200_000_000


def spool_dir(cfg: BackupConfig, job_name: str) -> Path:
    return Path(cfg.work_dir).absolute() / job_name / "stream"


def stream(
    cfg: BackupConfig,
    job_name: str,
    host: Host,
    catalog: Catalog,
    stop: Callable[[], bool],
    say: Callable[[str], None],
) -> None:
    """Copy and archive until ``stop()`` says so; BinlogError when the copy ends by itself."""
    spool = spool_dir(cfg, job_name)
    try:
        make_private_dirs(host, spool)
    except HostError as exc:
        raise BinlogError(f"spool {spool}: {exc}") from None
    archive_closed(cfg, job_name, host, catalog, say)  # left by an earlier stream
    first = first_to_copy(cfg, job_name, host, catalog)
    say(f"job {job_name}: streaming the binary logs from {first} into {spool}")
    with host.spawn(_copy_argv(cfg, job_name, spool, first), stdout=False) as process:
        while not stop():
            archive_closed(cfg, job_name, host, catalog, say)
            if process.poll() is not None:
                archive_closed(cfg, job_name, host, catalog, say)
                raise BinlogError(f"{BINLOG_PROGRAM} ended: {_last_line(process.stderr_text())}")
            time.sleep(POLL_SECONDS)
        process.stop()
    archive_closed(cfg, job_name, host, catalog, say)


def _copy_argv(cfg: BackupConfig, job_name: str, spool: Path, first: str) -> list[str]:
    server = cfg.servers[cfg.jobs[job_name].server]
    argv = connection_args(server, BINLOG_PROGRAM)
    argv += ["--read-from-remote-server", "--raw", "--stop-never"]
    argv += [f"--stop-never-slave-server-id={STREAM_SERVER_ID}", f"--result-file={spool}/", first]
    return argv


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message (the server closed the connection?)"


def first_to_copy(cfg: BackupConfig, job_name: str, host: Host, catalog: Catalog) -> str:
    """The oldest log on the server the catalog lacks, else the current one."""
    server = cfg.servers[cfg.jobs[job_name].server]
    try:
        rows = Client(server, host=host).query("SHOW BINARY LOGS")
    except DumpError as exc:
        raise BinlogError(str(exc)) from None
    names = [str(row[0]) for row in rows if row and row[0]]
    if not names:
        raise BinlogError("the server keeps no binary log (log_bin off?)")
    todo = not_archived(catalog, job_name, names)
    return todo[0] if todo else names[-1]


def closed_in_spool(host: Host, spool: Path) -> list[str]:
    """The spool's logs with a newer one beside them (the server rotated past them)."""
    names = [n for n in host.listdir(str(spool)) if _log_order(n)[1] >= 0]
    ordered = sorted(names, key=_log_order)
    return ordered[:-1]


def archive_closed(
    cfg: BackupConfig, job_name: str, host: Host, catalog: Catalog, say: Callable[[str], None]
) -> None:
    """Archive the closed logs of the spool, each batch under the job's lock (a busy lock: at
    the next round); remove those archived."""
    spool = spool_dir(cfg, job_name)
    closed = closed_in_spool(host, spool)
    if not closed:
        return
    try:
        with job_lock(cfg.lock_dir, job_name):
            todo = not_archived(catalog, job_name, closed)
            if todo:
                keep_batch(cfg, job_name, host, catalog, spool, batch_name(todo[0]), todo)
                say(f"job {job_name}: archived {len(todo)} binary logs {' '.join(todo)}")
    except LockBusy:
        return  # a backup run holds it: next round
    for name in closed:
        with contextlib.suppress(HostError):
            host.remove_file(spool / name)
