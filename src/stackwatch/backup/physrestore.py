"""``backup restore --datadir DIR`` of a physical backup: the whole server back as files, in an
empty data directory, for a server started on it afterwards (a new machine, a replacement).

The steps, in the order that protects the data:
1. refused before anything is read when DIR holds anything (a running server's data directory
   always does: stackwatch never writes into one) or is not a directory;
2. the copy taken from the first destination whose file matches its SHA-256 (restore.py);
3. extracted beside DIR (the same file system, so that the last step is renames), prepared
   (``mariadb-backup --prepare``: the redo log applied), then moved into DIR
   (``--move-back``); the extraction is removed whatever happens;
4. the restore recorded in the catalog (``backup list`` shows it).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from stackwatch.backup.catalog import Backup, Catalog
from stackwatch.backup.config import BackupConfig
from stackwatch.backup.dump import DumpedFile, DumpError
from stackwatch.backup.physical import PREPARE_TIMEOUT, counted, extract, move_back, prepare
from stackwatch.backup.physical import physical_file as find_copy
from stackwatch.backup.restore import (
    RestoreError,
    RestoreOutcome,
    RestoreRequest,
    RestoreUsage,
    checked_source,
    source_order,
)
from stackwatch.backup.verify import read_sql
from stackwatch.core.host import Host, HostError

Progress = Callable[[str], None] | None


def refuse_options(request: RestoreRequest) -> None:
    """What a whole-server copy cannot do: a part of it, a new name, a replay."""
    asked = [
        option
        for option, given in (
            ("--database", bool(request.databases)),
            ("--as", request.as_name is not None),
            ("--with-users", request.with_users),
            ("--to-time", request.to_time is not None),
            ("--to-gtid", request.to_gtid is not None),
            ("--replace", request.replace),
        )
        if given
    ]
    if asked:
        raise RestoreUsage(
            f"a physical backup restores the whole server (users included) into an empty data "
            f"directory: {', '.join(asked)} does not apply"
        )


def check_target(host: Host, target: Path) -> bool:
    """True when ``target`` exists (empty), False when it is to be made; RestoreError when it
    holds anything or is not a directory."""
    if not host.exists(str(target)):
        if not host.is_dir(str(target.parent)):
            raise RestoreError(f"--datadir {target}: {target.parent} does not exist")
        return False
    if not host.is_dir(str(target)):
        raise RestoreError(f"--datadir {target}: not a directory")
    held = host.listdir(str(target))
    if held:
        what = "a server's data directory" if "mysql" in held or "ibdata1" in held else "files"
        raise RestoreError(
            f"refusing to restore into {target}: it holds {what} ({len(held)} entries); a "
            "physical backup goes into an empty or new directory only (nothing was changed)"
        )
    return True


def restore_physical(
    cfg: BackupConfig,
    host: Host,
    catalog: Catalog,
    backup: Backup,
    request: RestoreRequest,
    outcome: RestoreOutcome,
    progress: Progress,
) -> None:
    """Restore ``backup`` (a physical copy) into ``request.datadir``."""
    copy = find_copy(catalog.files(backup.id))
    if copy is None:
        raise RestoreUsage(
            f"backup {backup.id} is a logical backup (a dump per database): --datadir is for "
            'physical backups (method = "physical")'
        )
    refuse_options(request)
    target = Path(os.path.abspath(str(request.datadir)))
    exists = check_target(host, target)
    order = source_order(cfg, catalog, backup, request.source)
    with checked_source(cfg, host, backup, order, [copy], outcome) as src:
        outcome.source = src.name
        outcome.lines.append(f"copy {src.name}: 1 files match their SHA-256")
        if request.dry_run:
            state = "empty" if exists else "new"
            outcome.lines.append(
                f"would extract, prepare and move the copy into {target} ({state})"
            )
            outcome.lines.append("dry run: nothing was changed")
            return
        record = catalog.start_restore(backup.id, backup.job, src.name, f"server into {target}")
        program = cfg.servers[cfg.jobs[backup.job].server].backup_program
        try:
            into_datadir(host, program, src.paths[copy.name], copy, target, outcome, progress)
        except (DumpError, HostError, OSError) as exc:
            outcome.problems.append(str(exc))
        finally:
            details = "; ".join(outcome.problems) or "restored"
            catalog.finish_restore(record, not outcome.problems, details)


def into_datadir(
    host: Host,
    program: str,
    path: Path,
    copy: DumpedFile,
    target: Path,
    outcome: RestoreOutcome,
    progress: Progress,
) -> None:
    """Extract beside ``target``, prepare, move into ``target``; the extraction removed."""
    work = target.parent / f".stackwatch-restore-{secrets.token_hex(6)}"
    host.make_dir(work)
    try:
        started = time.monotonic()
        blocks = counted(read_sql(host, path), copy.raw_size, progress)
        extract(host, blocks, work, program, PREPARE_TIMEOUT)
        outcome.lines.append(
            f"extracted {copy.raw_size} bytes in {time.monotonic() - started:.1f} s"
        )
        started = time.monotonic()
        prepare(host, program, work)
        outcome.lines.append(f"prepared in {time.monotonic() - started:.1f} s")
        host.make_dir(target, 0o750, parents=True)
        move_back(host, program, work, target)
    finally:
        with contextlib.suppress(HostError):
            host.remove_tree(work)
    outcome.lines.append(f"restored the whole server into {target}")
    outcome.lines.append(
        f"start a server on it: mariadbd --datadir={target} (its files belong to "
        f"{'root' if os.geteuid() == 0 else 'this user'}: chown -R mysql:mysql {target} for a "
        "server that runs as mysql)"
    )
