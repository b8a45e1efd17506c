"""A whole `backup run` without a database server (the dump replaced by a small file): whatever
step fails, the notification, the exit code and the catalog agree that the run failed; and
retention follows the catalog's sequence, whatever the clock did between runs (issue 10)."""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from stackwatch.backup import job as job_module
from stackwatch.backup.catalog import Catalog, CatalogError
from stackwatch.backup.cli import app
from stackwatch.backup.destinations import DestinationError, DirectoryBackend
from stackwatch.backup.dump import DumpedFile
from stackwatch.backup.verify import VerifyOutcome
from stackwatch.core.host import HostError

CONFIG = """
[backup]
catalog = "{tmp}/catalog.sqlite"
lock_dir = "{tmp}/lock"
work_dir = "{tmp}/work"
[backup.servers.db]
[backup.destinations.local]
kind = "directory"
path = "{tmp}/local"
[backup.jobs.nightly]
server = "db"
destinations = ["local"]
compression = "none"
dump_users = false
keep_last = {keep_last}
verify_after_run = {verify}
notify_on = ["failure", "success"]
"""


def fake_dump_all(host: Any, job: Any, cfg: Any, staging: Path, notes: Any = None) -> Any:
    """What dump_all returns, without a server: one small dump in the staging directory."""
    data = b"CREATE TABLE t (i INT);\n-- Dump completed\n"
    (staging / "shop.sql").write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    return [DumpedFile("shop.sql", "shop", len(data), len(data), sha)], [], {"lock_seconds": 0.0}


class Harness:
    """A configuration in a temporary directory, the notifications sent, the CLI's exit code."""

    def __init__(self, tmp: Path, keep_last: int = 1, verify: bool = False) -> None:
        self.tmp = tmp
        self.config = tmp / "stackwatch.toml"
        text = CONFIG.format(tmp=tmp, keep_last=keep_last, verify=str(verify).lower())
        self.config.write_text(text)
        self.sent: list[tuple[str, str]] = []

    def record(self, host: Any, job_name: str, job: Any, mail: Any, event: str, subject: str,
               body: str) -> list[str]:  # fmt: skip
        if event != "deletion":  # the run's own notification
            self.sent.append((event, subject))
        return []

    def run(self, *args: str) -> int:
        """``stackwatch backup run`` in this process: its exit code."""
        with (
            mock.patch.object(job_module, "dump_all", fake_dump_all),
            mock.patch.object(job_module.notify, "send", self.record),
            mock.patch.object(job_module, "set_idle_priority", lambda: None),
        ):
            result = CliRunner().invoke(app, ["run", *args, "--config", str(self.config)])
        assert result.exception is None or isinstance(result.exception, SystemExit), result
        self.output = result.output
        return int(result.exit_code)

    def statuses(self) -> list[tuple[str, str | None]]:
        with sqlite3.connect(self.tmp / "catalog.sqlite") as db:
            return db.execute("SELECT status, error FROM backups ORDER BY seq").fetchall()


@contextlib.contextmanager
def harness(**kwargs: Any) -> Iterator[Harness]:
    with tempfile.TemporaryDirectory() as tmp:
        yield Harness(Path(tmp), **kwargs)


# Where a run can fail after the dumps, and how: (object, method, error).
FAULTS: list[tuple[Any, str, Callable[[], Exception]]] = [
    (Catalog, "__init__", lambda: CatalogError("catalog x: unable to open database file")),
    (Catalog, "get", lambda: CatalogError("catalog x: database is locked")),
    (Catalog, "backups", lambda: CatalogError("catalog x: database is locked")),
    (Catalog, "start", lambda: CatalogError("catalog x: disk I/O error")),
    (Catalog, "record_dump", lambda: CatalogError("catalog x: no such table: files")),
    (Catalog, "record_copy", lambda: CatalogError("catalog x: database or disk is full")),
    (Catalog, "finish", lambda: CatalogError("catalog x: database is locked")),
    (Catalog, "copies", lambda: CatalogError("catalog x: database is locked")),
    (Catalog, "mark_deleted", lambda: CatalogError("catalog x: attempt to write a readonly db")),
    (DirectoryBackend, "store", lambda: DestinationError("local: copy does not match")),
    (DirectoryBackend, "delete", lambda: DestinationError("local: cannot delete x: Busy")),
    (DirectoryBackend, "delete", lambda: HostError("cannot delete x: Permission denied")),
    (DirectoryBackend, "close", lambda: DestinationError("local: umount: target is busy")),
    (DirectoryBackend, "open", lambda: DestinationError("local: cannot create x: Read-only")),
    (job_module, "write_manifest", lambda: OSError(28, "No space left on device")),
]


def failing(
    owner: Any, name: str, error: Callable[[], Exception], nth: int, fired: list[str]
) -> Any:
    """``owner.name``, failing with ``error`` on its ``nth`` call."""
    original = getattr(owner, name)
    calls = 0

    def method(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == nth:
            fired.append(name)
            raise error()
        return original(*args, **kwargs)

    return mock.patch.object(owner, name, method)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(FAULTS), st.integers(1, 3))
def test_notification_exit_code_and_catalog_agree_whatever_fails(
    fault: tuple[Any, str, Callable[[], Exception]], nth: int
) -> None:
    owner, name, error = fault
    with harness() as h:
        assert h.run() == 0 and h.sent == [("success", "nightly: backup succeeded")]
        fired: list[str] = []
        with failing(owner, name, error, nth, fired):
            code = h.run()
        (event, subject) = h.sent[-1]
        assert len(h.sent) == 2  # one notification per run
        if not fired:  # the method was called fewer than nth times: a clean run
            assert (code, event) == (0, "success"), h.output
            return
        assert (code, event, subject) == (1, "failure", "nightly: backup FAILED"), h.output
        assert "job nightly: FAILED" in h.output and str(error()).split(":")[0] in h.output
        if owner is Catalog:
            return  # the catalog itself failed: it may not say more
        status, problem = h.statuses()[-1]
        assert status == "failed" or problem, (status, problem)  # backup-age warns


def test_verification_that_fails_fails_the_run_before_retention() -> None:
    with harness(verify=True) as h:
        good = VerifyOutcome("x", ok=True)
        with mock.patch.object(job_module, "verify_backup", return_value=good):
            assert h.run() == 0 and h.sent[-1][0] == "success"
        bad = VerifyOutcome("x", ok=False, problems=["shop.t: 3 rows checksum 1, at dump time 4"])
        with mock.patch.object(job_module, "verify_backup", return_value=bad):
            assert h.run() == 1
        assert h.sent[-1] == ("failure", "nightly: backup FAILED")
        assert "VERIFY FAILED" in h.output and "retention skipped" in h.output
        assert len(list((h.tmp / "local" / "nightly").iterdir())) == 2  # nothing deleted
        assert h.statuses()[-1][1] == f"verification of {h.statuses and last_id(h)} failed"


def last_id(h: Harness) -> str:
    with sqlite3.connect(h.tmp / "catalog.sqlite") as db:
        return str(db.execute("SELECT id FROM backups ORDER BY seq DESC").fetchone()[0])


def test_an_unwritable_lock_directory_is_a_failure_and_mailed() -> None:
    with harness() as h:
        (h.tmp / "lock").write_text("a file where the lock directory should be")
        assert h.run() == 1
        assert h.sent == [("failure", "nightly: backup FAILED")]
        assert "lock in " in h.output


# Retention and the clock ----------------------------------------------------------------------

DAY = 86400.0
# Clock readings between runs: forwards, backwards, far either way, or standing still.
steps = st.lists(
    st.sampled_from([0.0, 1.0, 3600.0, DAY, -1.0, -3600.0, -DAY, -400 * DAY, 400 * DAY]),
    min_size=2,
    max_size=6,
)


@settings(max_examples=20, deadline=None)
@given(steps, st.integers(1, 3))
def test_retention_keeps_the_newest_runs_whatever_the_clock_did(
    jumps: list[float], keep_last: int
) -> None:
    with harness(keep_last=keep_last) as h:
        made: list[str] = []
        now = 1_700_000_000.0
        for jump in jumps:
            now += jump
            with mock.patch.object(job_module.time, "time", return_value=now):
                assert h.run() == 0, h.output
            made.append(last_id(h))
            on_disk = sorted(p.name for p in (h.tmp / "local" / "nightly").iterdir())
            # The backup this run made is never the one deleted; the newest runs stay.
            assert sorted(made[-keep_last:]) == on_disk, (made, on_disk)
        good = [s for s, _ in h.statuses()].count("good")
        assert good == min(keep_last, len(jumps))


def test_an_older_catalog_gets_its_sequence_from_the_order_of_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "catalog.sqlite"
    with sqlite3.connect(path) as db:  # the schema of the previous release, without seq
        db.execute(
            "CREATE TABLE backups (id TEXT PRIMARY KEY, job TEXT NOT NULL, started REAL NOT NULL,"
            " finished REAL, status TEXT NOT NULL, error TEXT, size INTEGER NOT NULL DEFAULT 0,"
            " position TEXT)"
        )
        rows = [("b", 300.0), ("a", 200.0), ("c", 100.0)]  # the clock went backwards
        db.executemany("INSERT INTO backups VALUES (?, 'j', ?, NULL, 'good', NULL, 0, NULL)", rows)
    old = Catalog(path, readonly=True)
    assert [b.id for b in old.backups()] == ["c", "a", "b"]  # newest: the last inserted
    old.close()
    catalog = Catalog(path)
    assert [(b.id, b.seq) for b in catalog.backups()] == [("c", 3), ("a", 2), ("b", 1)]
    catalog.start("d", "j", 50.0)
    assert catalog.backups()[0].id == "d" and catalog.get("d") is not None
    catalog.close()
