"""A busy server: writers commit in two databases during `backup run`; every database must be
dumped at one point in time (the recorded position) and verify must match every table."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import run_stackwatch
from tests.integration.backup.conftest import MariaDB
from tests.integration.backup.test_backup_run import catalog_rows, write_config

pytestmark = pytest.mark.integration

SETUP = """
CREATE DATABASE bank_a; CREATE DATABASE bank_b;
CREATE TABLE bank_a.acct (id INT PRIMARY KEY, amount BIGINT NOT NULL, note VARCHAR(40))
  ENGINE=InnoDB;
CREATE TABLE bank_b.acct (id INT PRIMARY KEY, amount BIGINT NOT NULL, note VARCHAR(40))
  ENGINE=InnoDB;
CREATE TABLE bank_b.ledger (id INT PRIMARY KEY AUTO_INCREMENT, moved BIGINT) ENGINE=InnoDB;
INSERT INTO bank_a.acct SELECT seq, 1000, NULL FROM bank_a.seq_1_to_2000;
INSERT INTO bank_b.acct SELECT seq, 1000, 'x' FROM bank_a.seq_1_to_2000;
"""


def _writer(mariadb: MariaDB, stop: threading.Event, done: list[int]) -> None:
    # Transfers between the two databases, one transaction each, in one long session.
    import subprocess

    argv = ["mariadb", f"--defaults-extra-file={mariadb.root_option_file}"]
    proc = subprocess.Popen(
        [*argv, f"--socket={mariadb.socket}", "--batch"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdin is not None
    n = 0
    deadline = time.monotonic() + 60
    while not stop.is_set() and time.monotonic() < deadline:
        n += 1
        a = n % 2000 + 1
        proc.stdin.write(
            "START TRANSACTION;"
            f"UPDATE bank_a.acct SET amount = amount - 7, note = 'n{n}' WHERE id = {a};"
            f"UPDATE bank_b.acct SET amount = amount + 7 WHERE id = {a};"
            "INSERT INTO bank_b.ledger (moved) VALUES (7);"
            "COMMIT;\n"
        )
        proc.stdin.flush()
        if n % 50 == 0:
            time.sleep(0.001)
    proc.stdin.close()
    proc.wait(timeout=60)
    done.append(n)


def test_busy_server_dump_is_one_point_in_time(tmp_path: Path, mariadb: MariaDB) -> None:
    mariadb.sql(SETUP)
    try:
        config = write_config(
            tmp_path, mariadb, destinations=("local",), job_extra="parallel = 1\nthreads = 1"
        )
        stop, done = threading.Event(), []
        writer = threading.Thread(target=_writer, args=(mariadb, stop, done))
        writer.start()
        try:
            time.sleep(0.5)  # the writer is committing before the run starts
            run = run_stackwatch("backup", "run", "--config", str(config))
        finally:
            stop.set()
            writer.join(timeout=90)
        assert run.returncode == 0, run.stdout + run.stderr
        assert done and done[0] > 100  # the writer really was busy
        (backup_id,) = [r[0] for r in catalog_rows(tmp_path, "SELECT id FROM backups")]
        (position,) = catalog_rows(tmp_path, "SELECT position FROM backups")
        pos = json.loads(str(position[0]))
        assert pos["file"].startswith("binlog.") and 0 <= pos["lock_seconds"] < 30

        # Restore both databases by hand: the transfers are whole (sum kept, ledger agrees).
        restored = {}
        for db in ("bank_a", "bank_b"):
            scratch = f"check_{db}"
            mariadb.sql(f"DROP DATABASE IF EXISTS {scratch}; CREATE DATABASE {scratch};")
            import zstandard

            path = tmp_path / "local" / "nightly" / backup_id / f"{db}.sql.zst"
            sql = zstandard.ZstdDecompressor().decompressobj().decompress(path.read_bytes())
            mariadb.sql(sql.decode(), database=scratch)
            restored[db] = scratch
        total_a = int(mariadb.sql("SELECT SUM(amount) FROM check_bank_a.acct").strip())
        total_b = int(mariadb.sql("SELECT SUM(amount) FROM check_bank_b.acct").strip())
        ledger = int(mariadb.sql("SELECT COUNT(*) FROM check_bank_b.ledger").strip())
        assert total_a + total_b == 4_000_000
        assert total_b - 2_000_000 == 7 * ledger
        assert ledger > 0  # the backup was taken while transfers were happening

        # Verify: every table matches the figures taken in the snapshot.
        verify = run_stackwatch("backup", "verify", backup_id, "--config", str(config))
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert "database bank_a: 1 tables restored, rows and checksums match" in verify.stdout
        assert "database bank_b: 2 tables restored, rows and checksums match" in verify.stdout
    finally:
        mariadb.sql(
            "DROP DATABASE IF EXISTS bank_a; DROP DATABASE IF EXISTS bank_b;"
            "DROP DATABASE IF EXISTS check_bank_a; DROP DATABASE IF EXISTS check_bank_b;"
        )
