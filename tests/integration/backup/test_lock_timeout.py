"""The global read lock cannot be had (another client holds tables): `backup run` fails clearly
within about lock_timeout, writes nothing, keeps the catalog and the previous backups, and its
waiting FLUSH TABLES WITH READ LOCK is gone so the server's other clients are not stuck."""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import run_stackwatch
from tests.integration.backup.conftest import MariaDB
from tests.integration.backup.test_backup_run import catalog_rows, write_config

pytestmark = pytest.mark.integration

LOCK_TIMEOUT = 2


class Blocker:
    """A client session that holds tables until it is killed."""

    def __init__(self, mariadb: MariaDB, statement: str) -> None:
        self.mariadb = mariadb
        argv = ["mariadb", f"--defaults-extra-file={mariadb.root_option_file}", "-N", "--batch"]
        self.proc = subprocess.Popen(
            [*argv, f"--socket={mariadb.socket}", "--unbuffered"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("SELECT CONNECTION_ID();\n")
        self.proc.stdin.flush()
        self.id = int(self.proc.stdout.readline())
        self.proc.stdin.write(statement + "\n")
        self.proc.stdin.flush()
        deadline = time.monotonic() + 10  # until the server shows it at work
        while time.monotonic() < deadline:
            state = mariadb.sql(
                f"SELECT COMMAND, IFNULL(INFO, '') FROM information_schema.PROCESSLIST "
                f"WHERE ID = {self.id}"
            )
            if "Sleep" not in state or "LOCK TABLES" in statement:
                break
            time.sleep(0.05)
        time.sleep(0.3)

    def end(self) -> None:
        with contextlib.suppress(RuntimeError):  # already gone
            self.mariadb.sql(f"KILL {self.id}")
        try:
            self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate(timeout=10)


@pytest.mark.parametrize(
    "statement",
    [
        "LOCK TABLES shop.audit WRITE;",
        # A long UPDATE: FTWRL waits for it to end.
        "UPDATE shop.customers SET balance = balance WHERE id = 1 AND SLEEP(60) = 0;",
    ],
    ids=["lock-tables-write", "long-update"],
)
def test_lock_timeout_fails_cleanly(tmp_path: Path, mariadb: MariaDB, statement: str) -> None:
    config = write_config(
        tmp_path, mariadb, destinations=("local",), job_extra=f"lock_timeout = {LOCK_TIMEOUT}"
    )
    first = run_stackwatch("backup", "run", "--config", str(config))
    assert first.returncode == 0, first.stdout + first.stderr
    root = tmp_path / "local" / "nightly"
    before = {p.name: p.stat().st_size for p in root.rglob("*")}
    catalog_before = catalog_rows(tmp_path, "SELECT backup_id, name, size, sha256 FROM files")

    blocker = Blocker(mariadb, statement)
    try:
        started = time.monotonic()
        second = run_stackwatch("backup", "run", "--config", str(config))
        took = time.monotonic() - started
        # Other clients are not stuck behind a waiting FLUSH TABLES WITH READ LOCK.
        mariadb.sql(
            "INSERT INTO media.files VALUES (99, NULL, 0); DELETE FROM media.files WHERE id = 99;"
        )
        waiting = mariadb.sql(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
            "WHERE INFO LIKE 'FLUSH TABLES WITH READ LOCK%'"
        )
        blocker_alive = mariadb.sql(
            f"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = {blocker.id}"
        )
    finally:
        blocker.end()
    assert second.returncode == 1, second.stdout + second.stderr
    assert "could not take the global read lock within 2 s" in second.stdout
    assert "Traceback" not in second.stdout + second.stderr
    assert took < LOCK_TIMEOUT + 15, took
    assert waiting.strip() == "0"
    assert blocker_alive.strip() == "1"  # the run ended its own wait, not the other client
    # Nothing written, the previous backup and the catalog intact.
    assert {p.name: p.stat().st_size for p in root.rglob("*")} == before
    assert not list((tmp_path / "local").rglob(".partial-*"))
    assert (
        catalog_rows(tmp_path, "SELECT backup_id, name, size, sha256 FROM files") == catalog_before
    )
    statuses = catalog_rows(tmp_path, "SELECT status, error FROM backups ORDER BY started")
    assert [s for s, _ in statuses] == ["good", "failed"]
    assert "global read lock" in str(statuses[1][1])
    verify = run_stackwatch("backup", "verify", "--config", str(config))
    assert verify.returncode == 0, verify.stdout + verify.stderr
