"""Point-in-time recovery against a real MariaDB: the binary logs archived by `backup run` and
`backup binlogs`, then `restore --to-time` just before a table was dropped brings back every row
committed before that moment and nothing written from it on."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.conftest import run_stackwatch
from tests.integration.backup.conftest import MariaDB
from tests.integration.backup.test_backup_run import catalog_rows, write_config

pytestmark = pytest.mark.integration


def test_a_table_dropped_at_t_comes_back_as_it_was_just_before_t(
    tmp_path: Path, mariadb: MariaDB
) -> None:
    mariadb.sql(
        "CREATE DATABASE pitr; CREATE TABLE pitr.t (id INT PRIMARY KEY) ENGINE=InnoDB;"
        "CREATE TABLE pitr.log (id INT PRIMARY KEY) ENGINE=InnoDB;"
        "INSERT INTO pitr.t VALUES (1), (2);"
    )
    config = write_config(
        tmp_path, mariadb, destinations=("local",), databases='["pitr"]',
        job_extra="point_in_time = true\ndump_users = false",
    )  # fmt: skip
    try:
        run = run_stackwatch("backup", "run", "--config", str(config))
        assert run.returncode == 0, run.stdout + run.stderr
        assert "binary logs archived: binlog." in run.stdout

        mariadb.sql("INSERT INTO pitr.t VALUES (3), (4); INSERT INTO pitr.log VALUES (1);")
        time.sleep(1.1)  # the binary log's times are whole seconds
        moment = datetime.now().strftime("%Y-%m-%dT%H:%M:%S")
        mariadb.sql("DROP TABLE pitr.t; INSERT INTO pitr.log VALUES (2);")  # at T or after
        time.sleep(1.1)
        mariadb.sql("INSERT INTO pitr.log VALUES (3);")

        archived = run_stackwatch("backup", "binlogs", "--config", str(config))
        assert archived.returncode == 0, archived.stdout + archived.stderr
        assert "job nightly: archived 1 binary logs binlog." in archived.stdout
        stored = catalog_rows(tmp_path, "SELECT name, destinations FROM binlogs ORDER BY name")
        assert len(stored) >= 2 and all(d == "local" for _, d in stored)

        restored = run_stackwatch(
            "backup", "restore", "--config", str(config), "--to-time", moment, "--replace"
        )
        assert restored.returncode == 0, restored.stdout + restored.stderr
        assert f"replayed the binary logs up to {moment}" in restored.stdout
        assert mariadb.sql("SELECT id FROM pitr.t ORDER BY id").split() == ["1", "2", "3", "4"]
        assert mariadb.sql("SELECT id FROM pitr.log ORDER BY id").split() == ["1"]

        bad = run_stackwatch("backup", "restore", "--config", str(config), "--to-time", "soon")
        assert bad.returncode == 2 and "not an ISO 8601 time" in bad.stderr

        # Retention keeps the logs the kept backups need, and only those.
        config.write_text(config.read_text().replace("keep_last = 3", "keep_last = 1"))
        again = run_stackwatch("backup", "run", "--config", str(config))
        assert again.returncode == 0, again.stdout + again.stderr
        assert "deleted by retention: binlogs-" in again.stdout
        (position,) = catalog_rows(tmp_path, "SELECT position FROM backups WHERE status = 'good'")[
            0
        ]
        first = json.loads(str(position))["file"]
        names = [n for n, _ in catalog_rows(tmp_path, "SELECT name, batch FROM binlogs")]
        assert first in names and all(n >= first for n in names), again.stdout + str(
            catalog_rows(tmp_path, "SELECT name, batch FROM binlogs")
        )
        batches = {b for _, b in catalog_rows(tmp_path, "SELECT name, batch FROM binlogs")}
        on_disk = {p.name for p in (tmp_path / "local" / "nightly").glob("binlogs-*")}
        assert on_disk == batches
    finally:
        mariadb.sql("DROP DATABASE IF EXISTS pitr;")


def _insert(mariadb: MariaDB, sql: str) -> str:
    """Run ``sql`` (one transaction) and return the GTID the server gave it."""
    return mariadb.sql(f"{sql}; SELECT @@last_gtid;").split()[-1]


def test_to_gtid_replays_up_to_and_including_that_transaction(
    tmp_path: Path, mariadb: MariaDB
) -> None:
    mariadb.sql(
        "CREATE DATABASE pitrg; CREATE TABLE pitrg.t (id INT PRIMARY KEY) ENGINE=InnoDB;"
        "INSERT INTO pitrg.t VALUES (1);"
    )
    config = write_config(
        tmp_path, mariadb, destinations=("local",), databases='["pitrg"]',
        job_extra="point_in_time = true\ndump_users = false",
    )  # fmt: skip
    try:
        run = run_stackwatch("backup", "run", "--config", str(config))
        assert run.returncode == 0, run.stdout + run.stderr
        _insert(mariadb, "INSERT INTO pitrg.t VALUES (2)")
        target = _insert(mariadb, "INSERT INTO pitrg.t VALUES (3)")
        dropped = _insert(mariadb, "DROP TABLE pitrg.t")
        other = _insert(mariadb, "SET SESSION gtid_domain_id = 9; CREATE TABLE pitrg.u (i INT)")
        assert target.startswith("0-1-") and other.startswith("9-1-"), (target, other)

        archived = run_stackwatch("backup", "binlogs", "--config", str(config))
        assert archived.returncode == 0, archived.stdout + archived.stderr
        # Each log archived is listed with the GTIDs and times it holds.
        assert f"{other}; " in archived.stdout and "GTID state 0-1-" in archived.stdout
        ranges = catalog_rows(tmp_path, "SELECT gtid_after FROM binlog_ranges")
        assert any(dropped in str(r[0]) for r in ranges), ranges

        # Domain 9 was written to after the backup: leaving it out would silently drop it.
        partial = run_stackwatch(
            "backup", "restore", "--config", str(config), "--to-gtid", target, "--replace"
        )
        assert partial.returncode == 2, partial.stdout + partial.stderr
        assert f"also hold domain 9 (up to {other})" in partial.stderr
        assert mariadb.sql("SHOW TABLES FROM pitrg").split() == ["u"]  # nothing changed

        beyond = run_stackwatch(
            "backup", "restore", "--config", str(config), "--to-gtid", "0-1-999999,9-1-0",
            "--replace", "--dry-run",
        )  # fmt: skip
        assert beyond.returncode == 1 and "0-1-999999 is not in the archived" in beyond.stderr

        restored = run_stackwatch(
            "backup", "restore", "--config", str(config), "--to-gtid", f"{target},9-1-0",
            "--replace",
        )  # fmt: skip
        assert restored.returncode == 0, restored.stdout + restored.stderr
        assert f"replayed the binary logs up to {target},9-1-0" in restored.stdout
        assert mariadb.sql("SELECT id FROM pitrg.t ORDER BY id").split() == ["1", "2", "3"]
        assert mariadb.sql("SHOW TABLES FROM pitrg").split() == ["t"]  # u: domain 9, left out

        later = datetime.fromtimestamp(time.time() + 3600).strftime("%Y-%m-%dT%H:%M:%S")
        short = run_stackwatch(
            "backup", "restore", "--config", str(config), "--to-time", later, "--dry-run",
            "--replace",
        )  # fmt: skip
        assert short.returncode == 0 and "the archived binary logs end at" in short.stdout

        bad = run_stackwatch("backup", "restore", "--config", str(config), "--to-gtid", "0-1")
        assert bad.returncode == 2 and "'0-1' is not a GTID" in bad.stderr
    finally:
        mariadb.sql("DROP DATABASE IF EXISTS pitrg;")


def test_streamed_logs_are_archived_as_each_closes(tmp_path: Path, mariadb: MariaDB) -> None:
    mariadb.sql("CREATE DATABASE pitrs; CREATE TABLE pitrs.t (id INT PRIMARY KEY) ENGINE=InnoDB;")
    config = write_config(
        tmp_path, mariadb, destinations=("local",), databases='["pitrs"]',
        job_extra="point_in_time = true\ndump_users = false",
    )  # fmt: skip
    stream = None
    try:
        run = run_stackwatch("backup", "run", "--config", str(config))
        assert run.returncode == 0, run.stdout + run.stderr
        stream = subprocess.Popen(
            [sys.executable, "-m", "stackwatch.cli", "backup", "binlogs", "--stream", "nightly",
             "--config", str(config)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        time.sleep(2)
        target = _insert(mariadb, "INSERT INTO pitrs.t VALUES (1)")
        current = mariadb.sql("SHOW MASTER STATUS").split()[0]
        mariadb.sql("FLUSH BINARY LOGS")  # the server closes the log: the stream archives it
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not catalog_rows(
            tmp_path, f"SELECT 1 FROM binlog_ranges WHERE name = '{current}'"
        ):
            time.sleep(0.5)
        (after,) = catalog_rows(
            tmp_path, f"SELECT gtid_after FROM binlog_ranges WHERE name = '{current}'"
        )[0]
        assert target in str(after).split(",")
        spool = tmp_path / "work" / "nightly" / "stream"
        assert current not in {p.name for p in spool.iterdir()}  # archived: gone from the spool
        assert any((tmp_path / "local" / "nightly").glob(f"binlogs-*/{current}"))

        stream.send_signal(signal.SIGTERM)
        out, err = stream.communicate(timeout=30)
        assert stream.returncode == 0, out + err
        assert f"archived 1 binary logs {current}" in out, out + err

        plan = run_stackwatch(
            "backup", "restore", "--config", str(config), "--to-gtid", target, "--replace",
            "--dry-run",
        )  # fmt: skip
        assert plan.returncode == 0, plan.stdout + plan.stderr
        assert f"hold the changes up to {target}" in plan.stdout
    finally:
        if stream is not None and stream.poll() is None:
            stream.kill()
            stream.wait()
        mariadb.sql("DROP DATABASE IF EXISTS pitrs;")
