"""``backup restore --datadir DIR`` of a physical backup: the whole server back as files, in an
empty data directory, for a server started on it afterwards (a new machine, a replacement).

The steps, in the order that protects the data:
1. refused before anything is read when DIR holds anything (a running server's data directory
   always does: stackwatch never writes into one) or is not a directory;
2. the copy of the first destination that has one of the catalog's size (restore.py) read
   once: its SHA-256 taken while ``zstd -d | mbstream -x`` extract it beside DIR (a private
   directory on the same file system, so that the last step is renames). Only when the sum
   matched is it prepared (``mariadb-backup --prepare``: the redo log applied) and moved into
   DIR (``--move-back``); a copy that differs is passed over (its extraction removed) for the
   next destination's. The extraction is removed whatever happens;
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
from stackwatch.backup.physical import CopyDiffers, extract_checked, move_back, prepare
from stackwatch.backup.physical import physical_file as find_copy
from stackwatch.backup.restore import (
    RestoreError,
    RestoreOutcome,
    RestoreRequest,
    RestoreUsage,
    checked_source,
    source_order,
)
from stackwatch.core.host import Host, HostError
from stackwatch.core.record import dataclass

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
    if request.dry_run:
        with checked_source(cfg, host, backup, order, [copy], outcome) as src:
            outcome.source = src.name
            outcome.lines.append(f"copy {src.name}: 1 files match their SHA-256")
            state = "empty" if exists else "new"
            outcome.lines.append(
                f"would extract, prepare and move the copy into {target} ({state})"
            )
            outcome.lines.append("dry run: nothing was changed")
        return
    program = cfg.servers[cfg.jobs[backup.job].server].backup_program
    restore = _Restore(cfg, host, catalog, backup, copy, target, outcome, progress, program)
    restore.run(order)


@dataclass
class _Restore:
    """One physical restore: the copy extracted beside the target while its SHA-256 is taken
    (from the first destination whose bytes match), prepared, moved in."""

    cfg: BackupConfig
    host: Host
    catalog: Catalog
    backup: Backup
    copy: DumpedFile
    target: Path
    outcome: RestoreOutcome
    progress: Progress
    program: str

    def run(self, order: list[str]) -> None:
        work = self.target.parent / f".stackwatch-restore-{secrets.token_hex(6)}"
        try:
            source = self.extract_from_first_good(order, work)
            record = self.catalog.start_restore(
                self.backup.id, self.backup.job, source, f"server into {self.target}"
            )
            try:
                self.prepare_and_move(work)
            except (DumpError, HostError, OSError) as exc:
                self.outcome.problems.append(str(exc))
            finally:
                details = "; ".join(self.outcome.problems) or "restored"
                self.catalog.finish_restore(record, not self.outcome.problems, details)
        finally:
            with contextlib.suppress(HostError):
                self.host.remove_tree(work)

    def extract_from_first_good(self, order: list[str], work: Path) -> str:
        """The destination whose copy was extracted into ``work`` and matched its SHA-256."""
        reasons = []
        for name in order:
            try:
                self.extract_from(name, work)
            except RestoreError as exc:  # not there, another size: said by checked_source
                reasons.append(str(exc))
                continue
            except CopyDiffers as exc:
                reasons.append(f"{name}: {exc}")
                self.outcome.lines.append(f"passed over {name}: {name}: {exc}")
                continue
            return name
        raise RestoreError(
            f"backup {self.backup.id}: no copy can be used, nothing was restored: "
            f"{'; '.join(reasons)}"
        )

    def extract_from(self, name: str, work: Path) -> None:
        """The copy of destination ``name`` extracted into ``work`` (made empty first) and
        checked; CopyDiffers when its bytes are not the catalog's."""
        with checked_source(
            self.cfg, self.host, self.backup, [name], [self.copy], self.outcome, sha256=False
        ) as src:
            with contextlib.suppress(HostError):
                self.host.remove_tree(work)
            self.host.make_dir(work)
            started = time.monotonic()
            path = src.paths[self.copy.name]
            try:
                extract_checked(self.host, path, self.copy, work, self.program, self.progress)
            except (DumpError, HostError) as exc:
                raise RestoreError(str(exc)) from None
            self.outcome.source = name
            self.outcome.lines.append(f"copy {name}: 1 files match their SHA-256")
            self.outcome.lines.append(
                f"extracted {self.copy.raw_size} bytes in {time.monotonic() - started:.1f} s "
                "(SHA-256 taken on the way)"
            )

    def prepare_and_move(self, work: Path) -> None:
        started = time.monotonic()
        prepare(self.host, self.program, work)
        self.outcome.lines.append(f"prepared in {time.monotonic() - started:.1f} s")
        self.host.make_dir(self.target, 0o750, parents=True)
        move_back(self.host, self.program, work, self.target)
        target = self.target
        self.outcome.lines.append(f"restored the whole server into {target}")
        self.outcome.lines.append(
            f"start a server on it: mariadbd --datadir={target} (its files belong to "
            f"{'root' if os.geteuid() == 0 else 'this user'}: chown -R mysql:mysql {target} for "
            "a server that runs as mysql)"
        )
