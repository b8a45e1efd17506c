"""Point-in-time recovery: the server's binary logs archived to a job's destinations, and replayed
after a restore up to a moment.

``backup binlogs [JOB]`` (and every ``backup run`` of a job with ``point_in_time = true``) flushes
the current binary log, copies every closed one not archived yet from the server with
``mariadb-binlog --read-from-remote-server --raw`` (so the server may be another machine), takes
each file's SHA-256, stores the batch on every destination as ``PATH/JOB/binlogs-STAMP/`` (built
and checked like a backup) and records each log in the catalog with the batch and the
destinations holding it.

``restore --to-time TIME`` restores a base backup taken before TIME, then fetches the archived
logs from the backup's recorded position on, checks their SHA-256 and pipes ``mariadb-binlog
--start-position=POS --stop-datetime=TIME`` into the ``mariadb`` client. TIME is the server's
local time to the second (mariadb-binlog's resolution): an event logged in TIME's second or later
is not replayed.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path

from stackwatch.backup.catalog import Backup, BinlogSpan, Catalog
from stackwatch.backup.config import BackupConfig, Server
from stackwatch.backup.destinations import (
    DestinationError,
    backend,
    make_private_dirs,
    sha256_file,
)
from stackwatch.backup.dump import Client, DumpedFile, DumpError, connection_args
from stackwatch.core.host import CommandFailed, CommandTimeout, Host, HostError

ARCHIVE_TIMEOUT = 6 * 3600.0
BINLOG_PROGRAM = "mariadb-binlog"


class BinlogError(Exception):
    """Archiving or replaying binary logs failed; the message says why."""


def closed_logs(client: Client) -> list[str]:
    """Flush the current binary log, then every log but the new current one (all closed)."""
    client.query("FLUSH BINARY LOGS")
    names = [str(row[0]) for row in client.query("SHOW BINARY LOGS") if row and row[0]]
    return names[:-1]


def archive(cfg: BackupConfig, job_name: str, host: Host, catalog: Catalog) -> list[str]:
    """Archive the closed binary logs of the job's server not archived yet; their names."""
    server = cfg.servers[cfg.jobs[job_name].server]
    try:
        todo = not_archived(catalog, job_name, closed_logs(Client(server, host=host)))
    except DumpError as exc:
        raise BinlogError(str(exc)) from None
    if not todo:
        return []
    batch = batch_name(todo[0])
    staging = Path(cfg.work_dir).absolute() / job_name / f".partial-{batch}"
    try:
        make_private_dirs(host, staging)
        _fetch_from_server(host, server, staging, todo)
        keep_batch(cfg, job_name, host, catalog, staging, batch, todo)
    finally:
        with contextlib.suppress(HostError):
            host.remove_tree(staging)
    return todo


def not_archived(catalog: Catalog, job_name: str, names: Sequence[str]) -> list[str]:
    """The logs of ``names`` the catalog lacks, but none older than every good backup needs
    (let go by retention, or older than every backup)."""
    done = {name for name, _, _ in catalog.binlogs(job_name)}
    todo = [n for n in names if n not in done]
    floor = oldest_needed(catalog, job_name)
    return todo if floor is None else [n for n in todo if not _older(n, floor)]


def batch_name(first: str) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return f"binlogs-{stamp}-{_log_order(first)[1]}"  # two batches in one second differ


def keep_batch(
    cfg: BackupConfig,
    job_name: str,
    host: Host,
    catalog: Catalog,
    staging: Path,
    batch: str,
    names: Sequence[str],
) -> None:
    """The logs ``names`` in ``staging``: checksummed, their ranges read, stored as ``batch``
    on every destination of the job and recorded in the catalog."""
    files = []
    for name in names:
        size = host.size_of(staging / name)
        files.append(DumpedFile(name, None, size, size, sha256_file(host, staging / name)))
    spans = _spans(host, staging, names)
    stored = _store(cfg, job_name, host, staging, batch, files)
    catalog.record_binlogs(job_name, batch, files, stored)
    catalog.record_binlog_ranges(job_name, spans)


def _spans(host: Host, staging: Path, names: Sequence[str]) -> list[BinlogSpan]:
    """The GTID and time ranges of the fetched logs (pitr.py); none for one that cannot be
    read (encrypted): it is archived all the same."""
    from stackwatch.backup.pitr import log_span

    spans = (log_span(host, staging / name) for name in names)
    return [s for s in spans if s is not None]


def _fetch_from_server(host: Host, server: Server, staging: Path, names: Sequence[str]) -> None:
    argv = connection_args(server, BINLOG_PROGRAM)
    argv += ["--read-from-remote-server", "--raw", f"--result-file={staging}/", *names]
    try:
        host.run(argv, timeout=ARCHIVE_TIMEOUT, what="copying binary logs from the server")
    except (CommandFailed, CommandTimeout) as exc:
        raise BinlogError(str(exc)) from None
    except HostError as exc:
        raise BinlogError(f"{BINLOG_PROGRAM}: {exc}") from None


def _store(
    cfg: BackupConfig,
    job_name: str,
    host: Host,
    staging: Path,
    batch: str,
    files: list[DumpedFile],
) -> list[str]:
    """The batch on every destination of the job; the names of those that hold it."""
    stored, errors = [], []
    for name in cfg.jobs[job_name].destinations:
        b = backend(name, cfg.destinations[name], host)
        try:
            b.open()
            try:
                b.store(staging, job_name, batch, files)
            finally:
                b.close()
        except (DestinationError, HostError, OSError) as exc:
            errors.append(str(exc))
            continue
        stored.append(name)
    if not stored:
        raise BinlogError(f"binary logs stored nowhere: {'; '.join(errors)}")
    return stored


def oldest_needed(catalog: Catalog, job: str) -> str | None:
    """The binary log file of the oldest good backup: no restore needs an older log. None when
    there is no good backup or one has no recorded position (then it is unknown)."""
    firsts = []
    for b in catalog.backups(job=job, status="good"):
        try:
            firsts.append(base_position(b)[0])
        except BinlogError:
            return None
    return min(firsts, key=_log_order) if firsts else None


def unneeded_batches(catalog: Catalog, job: str) -> list[str]:
    """The archived batches whose every log is older than the binary log file of the oldest
    good backup kept: no restore can replay them. None while a good backup has no recorded
    position (then which logs it needs is unknown) or there is no good backup."""
    oldest = oldest_needed(catalog, job)
    if oldest is None:
        return []
    batches: dict[str, list[str]] = {}
    for name, batch, _ in catalog.binlogs(job):
        batches.setdefault(batch, []).append(name)
    return sorted(
        batch for batch, names in batches.items() if all(_older(n, oldest) for n in names)
    )


def _older(name: str, than: str) -> bool:
    """``name`` comes before ``than`` in the server's sequence of logs. Logs of another base
    name (log_bin renamed) are not comparable: never older, so never deleted for it."""
    (stem, number), (other_stem, other_number) = _log_order(name), _log_order(than)
    return stem == other_stem and number >= 0 and number < other_number


def _log_order(name: str) -> tuple[str, int]:
    """``binlog.000123`` as ("binlog", 123): the number past 999999 has more digits."""
    stem, _, number = name.rpartition(".")
    return (stem, int(number)) if number.isascii() and number.isdigit() else (name, -1)


# Replaying ------------------------------------------------------------------------------------


def parse_time(text: str) -> float:
    """ISO 8601 (``2026-12-01T13:04:59``, local time unless an offset is given) in seconds."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BinlogError(f"--to-time: not an ISO 8601 time: {text!r}") from None
    return moment.timestamp()


def base_position(backup: Backup) -> tuple[str, int]:
    """The binlog file and position the backup was taken at."""
    import json

    try:
        position = json.loads(backup.position or "{}")
    except ValueError:
        position = {}
    file, pos = position.get("file"), position.get("pos")
    if not isinstance(file, str) or not isinstance(pos, int):
        raise BinlogError(f"backup {backup.id} has no binary log position (binary log off?)")
    return file, pos


def needed_logs(catalog: Catalog, backup: Backup) -> list[tuple[str, str, str]]:
    """The archived logs from the backup's file on: (name, batch, destinations)."""
    first, _ = base_position(backup)
    logs = sorted(
        (
            (n, b, d)
            for n, b, d in catalog.binlogs(backup.job)
            if _log_order(n) >= _log_order(first)
        ),
        key=lambda log: _log_order(log[0]),
    )
    if not logs or logs[0][0] != first:
        raise BinlogError(
            f"binary log {first} (the backup's position) is not archived yet: "
            f"run `stackwatch backup binlogs {backup.job}`"
        )
    return logs


@contextlib.contextmanager
def fetched_logs(
    cfg: BackupConfig, host: Host, catalog: Catalog, backup: Backup, into: Path
) -> Iterator[list[Path]]:
    """The needed logs, fetched from a destination holding each and checked against their
    SHA-256 before anything is replayed."""
    sums = catalog.binlog_sums(backup.job)
    paths = []
    for name, batch, destinations in needed_logs(catalog, backup):
        paths.append(_fetch_one(cfg, host, backup.job, name, batch, destinations, sums, into))
    yield paths


def _fetch_one(
    cfg: BackupConfig,
    host: Host,
    job: str,
    name: str,
    batch: str,
    destinations: str,
    sums: dict[str, str],
    into: Path,
) -> Path:
    problems = []
    for dest in [d for d in destinations.split(",") if d in cfg.destinations]:
        b = backend(dest, cfg.destinations[dest], host)
        try:
            b.open()
            try:
                path = b.fetch(job, batch, name, into)
                if sha256_file(host, path) == sums.get(name):
                    if path.parent != into:
                        host.copy_file(path, into / name)
                    return into / name
                problems.append(f"{dest}: {name}: SHA-256 differs from the catalog")
            finally:
                b.close()
        except (DestinationError, HostError, OSError) as exc:
            problems.append(str(exc))
    raise BinlogError(f"binary log {name}: no good copy ({'; '.join(problems) or 'none'})")


def replay(
    host: Host, server: Server, logs: Sequence[Path], start: int, stop: float, binlog: bool
) -> None:
    """Apply the logs from ``start`` (in the first) to the second before ``stop``."""
    stop_text = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stop))
    replay_until(host, server, logs, start, [f"--stop-datetime={stop_text}"], binlog)


def replay_until(
    host: Host, server: Server, logs: Sequence[Path], start: int, stop: list[str], binlog: bool
) -> None:
    """Apply the logs from ``start`` (in the first) to where the ``stop`` options of
    mariadb-binlog say."""
    reader = [BINLOG_PROGRAM, f"--start-position={start}", *stop]
    reader += [str(p) for p in logs]
    client = [*connection_args(server, server.client_program), "--batch"]
    if not binlog:
        client.append("--init-command=SET SESSION sql_log_bin=0")
    try:
        with host.spawn(reader, what="reading the binary logs") as process:
            assert process.stdout is not None
            stream = process.stdout
            host.feed(
                client,
                iter(lambda: stream.read(1 << 20), b""),
                timeout=ARCHIVE_TIMEOUT,
                what="replaying the binary logs",
            )
            process.check(process.wait(ARCHIVE_TIMEOUT))
    except (CommandFailed, CommandTimeout) as exc:
        raise BinlogError(str(exc)) from None
    except HostError as exc:
        raise BinlogError(f"replaying the binary logs: {exc}") from None
