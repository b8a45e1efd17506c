"""``backup verify`` off production: the backup restored into a throwaway server (throwaway.py),
never into the production one, then every table checked (CHECK TABLE) and its rows and checksum
compared with the figures the catalog took at backup time.

A logical backup: an empty throwaway server, each database's dump restored into its own name
(several at once, the job's ``parallel``). A physical backup: its copy extracted into the
throwaway's data directory and prepared (``mariadb-backup --prepare``), the server started on it.
The production server does no work and never holds a copy; the throwaway is stopped and removed
afterwards, also after an interruption (and after a crash, by the next verify or run).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from stackwatch.backup.catalog import Backup
from stackwatch.backup.config import BackupConfig, Server
from stackwatch.backup.destinations import Backend, DestinationError, make_private_dirs
from stackwatch.backup.dump import Client, DumpedFile, DumpError, TableStats, sql_ident
from stackwatch.backup.physical import CopyDiffers, extract_checked, physical_file, prepare
from stackwatch.backup.snapshot import list_tables
from stackwatch.backup.throwaway import FETCH_PREFIX, Throwaway, clean_stale, server_program
from stackwatch.core.host import Host, HostError
from stackwatch.core.interrupts import Interrupts, signals_as_interrupt

if TYPE_CHECKING:
    from stackwatch.backup.verify import VerifyOutcome

Progress = Callable[[str], None] | None
CHECK_BATCH = 50  # tables per CHECK TABLE statement


def work_base(cfg: BackupConfig, job: str) -> Path:
    return Path(os.path.abspath(cfg.work_dir)) / job


def clean_leftovers(cfg: BackupConfig, host: Host, job: str) -> list[str]:
    """What verifies killed outright left of their throwaway servers, removed (throwaway.py)."""
    return clean_stale(host, work_base(cfg, job))


class OffProduction:
    """One verify of ``backup`` from ``source`` in a throwaway server."""

    def __init__(
        self,
        cfg: BackupConfig,
        host: Host,
        backup: Backup,
        source: Backend,
        expected: list[TableStats],
        progress: Progress = None,
    ) -> None:
        self.cfg = cfg
        self.host = host
        self.backup = backup
        self.source = source
        self.expected = expected
        self.job = cfg.jobs[backup.job]
        self.production: Server = cfg.servers[self.job.server]
        self.progress = progress

    def say(self, text: str) -> None:
        if self.progress is not None:
            self.progress(f"verify {self.backup.id}: {text}\n")

    def run(self, files: list[DumpedFile], outcome: VerifyOutcome, program: str) -> None:
        """Restore, check, compare; findings in ``outcome``."""
        base = work_base(self.cfg, self.backup.job)
        make_private_dirs(self.host, base)
        outcome.checked += [
            f"removed {name}, left by an interrupted verify"
            for name in clean_stale(self.host, base)
        ]
        with signals_as_interrupt() as interrupts:
            self.run_in_throwaway(files, outcome, program, base, interrupts)

    def run_in_throwaway(
        self,
        files: list[DumpedFile],
        outcome: VerifyOutcome,
        program: str,
        base: Path,
        interrupts: Interrupts,
    ) -> None:
        """The throwaway server and a scratch directory for fetched copies made, used, then
        removed, whatever ends the verify: a SIGTERM or Ctrl-C while they are made or removed
        waits until that is done."""
        server: Throwaway | None = None
        tmp: Path | None = None
        try:
            with interrupts.held():
                tmp = Path(self.host.make_temp_dir(f"{FETCH_PREFIX}{os.getpid()}-", base))
                server = Throwaway(self.host, base, program, self.production.client_program)
            try:
                programs = self.load(server, files, tmp)
                self.judge(Client(server.server, host=self.host), programs, outcome)
            except (DumpError, DestinationError, HostError, OSError) as exc:
                outcome.problems.append(f"throwaway server: {exc}")
            self.say("stopping and removing the throwaway server")
        finally:
            with interrupts.held():
                if server is not None:
                    server.close()
                if tmp is not None:
                    with contextlib.suppress(HostError):
                        self.host.remove_tree(tmp)

    def load(self, server: Throwaway, files: list[DumpedFile], tmp: Path) -> dict[str, int]:
        """The backup in the throwaway server, running; trigger/routine/event blocks per
        database (logical backups: left out of the restore, counted)."""
        copy = physical_file(files)
        if copy is not None:
            self.load_physical(server, copy, tmp)
            return {}
        self.say("starting an empty throwaway server")
        server.install()
        server.start()
        return self.load_logical(server, [f for f in files if f.database is not None], tmp)

    def load_physical(self, server: Throwaway, copy: DumpedFile, tmp: Path) -> None:
        """The copy read once: its SHA-256 taken while zstd and mbstream extract it."""
        path = self.source.fetch(self.backup.job, self.backup.id, copy.name, tmp)
        self.host.make_dir(server.datadir)
        program = self.production.backup_program
        try:
            extract_checked(self.host, path, copy, server.datadir, program, self.progress)
        except CopyDiffers as exc:
            raise DumpError(str(exc)) from None
        self.say("preparing the copy (mariadb-backup --prepare)")
        prepare(self.host, program, server.datadir)
        self.say("starting a throwaway server on it")
        server.start()

    def load_logical(
        self, server: Throwaway, dumps: Sequence[DumpedFile], tmp: Path
    ) -> dict[str, int]:
        from stackwatch.backup.verify import RESTORE_TIMEOUT, restore

        client = Client(server.server, host=self.host)

        def one(f: DumpedFile) -> tuple[str, int]:
            database = str(f.database)
            path = self.source.fetch(self.backup.job, self.backup.id, f.name, tmp)
            client.query(f"CREATE DATABASE {sql_ident(database)}")
            blocks = restore(self.host, server.server, path, database, False, RESTORE_TIMEOUT)
            if path.parent == tmp:
                self.host.remove_file(path)
            self.say(f"restored {database}")
            return database, blocks

        pool = ThreadPoolExecutor(max_workers=max(1, self.job.parallel))
        try:
            return dict(pool.map(one, sorted(dumps, key=lambda f: -f.raw_size)))
        except BaseException:
            server.close()  # the restores still running end with their server, at once
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def judge(self, client: Client, programs: dict[str, int], outcome: VerifyOutcome) -> None:
        """CHECK TABLE on every table, then the figures of each database against the catalog."""
        from stackwatch.backup.verify import VerifyOutcome as Found
        from stackwatch.backup.verify import compare, restored_figures

        databases = sorted({s.database for s in self.expected} | set(programs))
        self.say(f"checking the tables of {len(databases)} databases")
        checked, bad = check_tables(client, databases)
        outcome.problems += bad
        if not bad:
            outcome.checked.append(f"CHECK TABLE: {checked} tables OK")
        for database in databases:
            want = {s.table: s for s in self.expected if s.database == database}
            got = restored_figures(client, database, list(want.values()))
            found = Found(self.backup.id)
            compare(database, want, {s.table: s for s in got}, programs.get(database, 0), found)
            if not programs:  # a physical copy: row counts were taken, its programs are in it
                found.checked = [_counts_only(line) for line in found.checked]
            outcome.add(found)
        outcome.checked.append(
            "restored into a throwaway server (own data directory and socket, no network):"
            " the production server was not used"
        )


def _counts_only(line: str) -> str:
    """compare()'s line for figures that are row counts (a physical copy)."""
    head, matched, _ = line.partition(" restored, rows and checksums match")
    return f"{head} in the copy, row counts match" if matched else line


def check_tables(client: Client, databases: Sequence[str]) -> tuple[int, list[str]]:
    """CHECK TABLE of every base table of ``databases``: how many, and a line per table that
    is not OK."""
    tables = list_tables(client.query, databases)
    problems = []
    for start in range(0, len(tables), CHECK_BATCH):
        batch = tables[start : start + CHECK_BATCH]
        names = ", ".join(f"{sql_ident(t.database)}.{sql_ident(t.table)}" for t in batch)
        for row in client.query(f"CHECK TABLE {names}"):
            if len(row) < 4:
                continue
            kind, text = str(row[2]).lower(), str(row[3])
            if kind == "error" or (kind == "status" and text != "OK"):
                problems.append(f"CHECK TABLE {row[0]}: {text}")
    return len(tables), problems


def verify_off_production(
    cfg: BackupConfig,
    host: Host,
    backup: Backup,
    source: Backend,
    files: list[DumpedFile],
    expected: list[TableStats],
    outcome: VerifyOutcome,
    progress: Progress = None,
) -> bool:
    """Verify in a throwaway server; False (nothing done) when no server binaries are
    installed and the backup is logical (verified on the live server then)."""
    program = server_program(host)
    if program is None:
        if physical_file(files) is not None:
            outcome.problems.append(
                "a physical backup is verified in a throwaway server: no mariadbd installed"
            )
            return True
        outcome.checked.append("note: no mariadbd installed: verified on the live server")
        return False
    OffProduction(cfg, host, backup, source, expected, progress).run(files, outcome, program)
    return True
