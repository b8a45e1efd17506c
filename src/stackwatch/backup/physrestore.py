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
4. with ``--to-time`` / ``--to-gtid``: the archived binary logs from the copy's recorded
   position fetched and checked (SHA-256; a GTID the archive does not hold refused) before
   anything moves; the prepared files are moved into a private server of stackwatch's own
   (throwaway.py: the installed ``mariadbd``, a socket only, no network, no grant tables, no
   binary log, no event scheduler) in a hidden directory inside DIR (so that its files are on
   DIR's file system, a mount point of its own as often as not), the logs replayed into it, the
   server shut down cleanly, and only then the files renamed into DIR (all of them: a signal
   waits until the last one is in);
5. the restore recorded in the catalog (``backup list`` shows it).

SIGTERM ends a restore as Ctrl-C does: the private server stopped, the extraction and the fetched
logs removed, DIR left as it was.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from stackwatch.backup.binlogs import (
    BinlogError,
    base_position,
    fetched_logs,
    parse_time,
    replay,
    replay_until,
)
from stackwatch.backup.catalog import Backup, Catalog
from stackwatch.backup.config import BackupConfig, Server
from stackwatch.backup.dump import DumpedFile, DumpError
from stackwatch.backup.physical import CopyDiffers, extract_checked, move_back, prepare
from stackwatch.backup.physical import physical_file as find_copy
from stackwatch.backup.pitr import (
    GtidUsage,
    logs_to_replay,
    parse_target,
    read_log,
    short_of,
    stop_options,
)
from stackwatch.backup.restore import (
    RestoreError,
    RestoreOutcome,
    RestoreRequest,
    RestoreUsage,
    checked_source,
    source_order,
)
from stackwatch.backup.throwaway import STOP_GRACE, Throwaway, clean_owned, server_program
from stackwatch.core.host import Host, HostError
from stackwatch.core.interrupts import Interrupts, signals_as_interrupt
from stackwatch.core.record import dataclass, field

Progress = Callable[[str], None] | None


def refuse_options(request: RestoreRequest) -> None:
    """What a whole-server copy cannot do: a part of it, a new name."""
    asked = [
        option
        for option, given in (
            ("--database", bool(request.databases)),
            ("--as", request.as_name is not None),
            ("--with-users", request.with_users),
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
    if request.point_in_time is not None and server_program(host) is None:
        raise RestoreError(
            f"{request.point_in_time}: the binary logs are replayed into a private server on the "
            "restored copy: that needs the server binaries (mariadbd) of the copy's version on "
            "this machine (nothing was changed)"
        )
    order = source_order(cfg, catalog, backup, request.source)
    server = cfg.servers[cfg.jobs[backup.job].server]
    restore = _Restore(cfg, host, catalog, backup, copy, target, outcome, progress, server, request)
    if request.dry_run:
        restore.dry_run(order, exists)
        return
    restore.run(order)


# Beside the target: the extraction and the fetched binary logs, + "PID-token"
SCRATCH = (".stackwatch-restore-", ".stackwatch-binlogs-")


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
    server: Server
    request: RestoreRequest
    interrupts: Interrupts = field(default_factory=Interrupts)  # run's, while it runs

    @property
    def program(self) -> str:
        return self.server.backup_program

    def dry_run(self, order: list[str], exists: bool) -> None:
        """The copy (and the binary logs) checked; what would be done said."""
        with checked_source(
            self.cfg, self.host, self.backup, order, [self.copy], self.outcome
        ) as src:
            self.outcome.source = src.name
            self.outcome.lines.append(f"copy {src.name}: 1 files match their SHA-256")
            with self.binary_logs(src.tmp) as logs:
                state = "empty" if exists else "new"
                self.outcome.lines.append(
                    f"would extract, prepare and move the copy into {self.target} ({state})"
                )
                if logs:
                    self.outcome.lines.append(
                        f"would replay {len(logs)} binary logs up to "
                        f"{self.request.point_in_time} in a private server first"
                    )
                self.outcome.lines.append("dry run: nothing was changed")

    def run(self, order: list[str]) -> None:
        """SIGTERM ends it as Ctrl-C does: the private server stopped, the extraction and the
        fetched logs removed, the target as it was (or whole)."""
        with signals_as_interrupt() as interrupts:
            self.interrupts = interrupts
            self._run(order)

    def _run(self, order: list[str]) -> None:
        token = f"{os.getpid()}-{secrets.token_hex(6)}"
        for name in clean_owned(self.host, self.target.parent, SCRATCH):
            self.outcome.lines.append(f"removed {name}, left by a restore killed outright")
        work = self.target.parent / f"{SCRATCH[0]}{token}"
        fetched = self.target.parent / f"{SCRATCH[1]}{token}"
        try:
            source = self.extract_from_first_good(order, work)
            self.host.make_dir(fetched)
            with self.binary_logs(fetched) as logs:
                record = self.catalog.start_restore(
                    self.backup.id, self.backup.job, source, f"server into {self.target}"
                )
                try:
                    self.prepare_and_move(work, logs)
                except (DumpError, HostError, OSError, BinlogError) as exc:
                    self.outcome.problems.append(str(exc))
                except BaseException:  # Ctrl-C, SIGTERM: never recorded as restored
                    self.outcome.problems.append("interrupted before the restore finished")
                    raise
                finally:
                    details = "; ".join(self.outcome.problems) or "restored"
                    self.catalog.finish_restore(record, not self.outcome.problems, details)
        finally:
            with self.interrupts.held():
                for leftover in (work, fetched):
                    with contextlib.suppress(HostError):
                        self.host.remove_tree(leftover)

    @contextlib.contextmanager
    def binary_logs(self, into: Path) -> Iterator[list[Path]]:
        """With --to-time or --to-gtid, the archived logs to replay, fetched into ``into`` and
        checked (their SHA-256; for a GTID, that they hold it); else none."""
        if self.request.point_in_time is None:
            yield []
            return
        with fetched_logs(self.cfg, self.host, self.catalog, self.backup, into) as logs:
            self.outcome.lines.append(f"binary logs: {len(logs)} match their SHA-256")
            if self.request.to_gtid is not None:
                logs = logs_to_gtid(self.host, self.backup, logs, self.request.to_gtid)
                self.outcome.lines.append(
                    f"binary logs: {len(logs)} hold the changes up to {self.request.to_gtid}"
                )
            else:
                note = short_of(self.host, logs, parse_time(str(self.request.to_time)))
                if note is not None:
                    self.outcome.lines.append(note)
            yield logs

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

    def prepare_and_move(self, work: Path, logs: list[Path]) -> None:
        started = time.monotonic()
        prepare(self.host, self.program, work)
        self.outcome.lines.append(f"prepared in {time.monotonic() - started:.1f} s")
        if logs:
            self.replayed_into_target(work, logs)
        else:
            self.host.make_dir(self.target, 0o750, parents=True)
            move_back(self.host, self.program, work, self.target)
        target = self.target
        self.outcome.lines.append(f"restored the whole server into {target}")
        self.outcome.lines.append(
            f"start a server on it: mariadbd --datadir={target} (its files belong to "
            f"{'root' if os.geteuid() == 0 else 'this user'}: chown -R mysql:mysql {target} for "
            "a server that runs as mysql)"
        )

    def replayed_into_target(self, work: Path, logs: list[Path]) -> None:
        """The prepared files in a private server beside the target, the binary logs from the
        copy's position replayed into it, the server shut down cleanly, then its files renamed
        into the target: a replay that fails leaves the target as it was."""
        program = server_program(self.host)
        if program is None:
            raise DumpError(
                f"{self.request.point_in_time}: replaying binary logs into a physical copy needs "
                "the server binaries (mariadbd) of the copy's version on this machine"
            )
        # Inside the target: the files end on its file system (a mount point of its own, often).
        self.host.make_dir(self.target, 0o750, parents=True)
        with Throwaway(self.host, self.target, program, self.server.client_program) as tw:
            self.host.make_dir(tw.datadir, 0o750)
            move_back(self.host, self.program, work, tw.datadir)
            started = time.monotonic()
            tw.start()
            _, position = base_position(self.backup)
            if self.request.to_gtid is not None:
                stop = stop_options(parse_target(self.request.to_gtid))
                replay_until(self.host, tw.server, logs, position, stop, binlog=False)
            else:
                moment = parse_time(str(self.request.to_time))
                replay(self.host, tw.server, logs, position, moment, binlog=False)
            stop_cleanly(tw)
            with self.interrupts.held():  # all of it moved in, or none
                for name in self.host.listdir(str(tw.datadir)):
                    self.host.rename(tw.datadir / name, self.target / name)
        self.outcome.lines.append(
            f"replayed the binary logs up to {self.request.point_in_time} "
            f"in {time.monotonic() - started:.1f} s (a private server started on the copy, the "
            "logs replayed into it, the server shut down)"
        )


def stop_cleanly(tw: Throwaway) -> None:
    """The private server shut down (SIGTERM: InnoDB writes everything out), its files kept."""
    if tw.process is not None:
        returncode = tw.process.end(STOP_GRACE)
        tw.process.stop()
        tw.process = None
        if returncode != 0:
            raise DumpError(f"the private server ended with status {returncode}: not used")


def logs_to_gtid(host: Host, backup: Backup, logs: list[Path], text: str) -> list[Path]:
    """The logs that hold the changes up to ``text`` (RestoreUsage when they cannot)."""
    try:
        read = [(path, read_log(host, path)) for path in logs]
        return logs_to_replay(backup, read, parse_target(text))
    except GtidUsage as exc:
        raise RestoreUsage(str(exc)) from None
