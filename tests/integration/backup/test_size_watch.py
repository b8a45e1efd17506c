"""The size watch against a real MariaDB: a backup after a database was dropped, a table emptied
and most rows of another deleted is a WARNING in `backup run` (report and mail) and in the
backup-age check, naming each of them; the run itself stays a success."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_stackwatch
from tests.integration.backup.conftest import Mailbox, MariaDB
from tests.integration.backup.test_backup_run import write_config

pytestmark = pytest.mark.integration

LENIENT = """
[checks.backup-age]
min_copies = 1
require_offsite = false
require_verified = false
"""


def test_a_much_smaller_backup_is_a_warning_naming_what_shrank(
    tmp_path: Path, mariadb: MariaDB, smtp: Mailbox
) -> None:
    mariadb.sql(
        "CREATE DATABASE sw_gone; CREATE TABLE sw_gone.t (id INT PRIMARY KEY) ENGINE=InnoDB;"
        "INSERT INTO sw_gone.t SELECT seq FROM sw_gone.seq_1_to_10;"
        "CREATE DATABASE sw_shrink;"
        "CREATE TABLE sw_shrink.big (id INT PRIMARY KEY, pad VARCHAR(200)) ENGINE=InnoDB;"
        "INSERT INTO sw_shrink.big SELECT seq, REPEAT('x', 200) FROM sw_shrink.seq_1_to_1000;"
        "CREATE TABLE sw_shrink.queue (id INT PRIMARY KEY) ENGINE=InnoDB;"
        "INSERT INTO sw_shrink.queue VALUES (1), (2), (3);"
    )
    config = write_config(
        tmp_path, mariadb, smtp=smtp, destinations=("local",), extra=LENIENT,
        job_extra="dump_users = false",
    )  # fmt: skip
    try:
        first = run_stackwatch("backup", "run", "--config", str(config))
        assert first.returncode == 0, first.stdout + first.stderr
        assert "WARNING" not in first.stdout  # the first backup has nothing to compare with

        mariadb.sql(
            "DROP DATABASE sw_gone; TRUNCATE sw_shrink.queue; DELETE FROM sw_shrink.big "
            "WHERE id > 100;"
        )
        before = len(smtp.messages)
        second = run_stackwatch("backup", "run", "--config", str(config))
        assert second.returncode == 0, second.stdout + second.stderr
        assert "job nightly: OK" in second.stdout
        (line,) = [x for x in second.stdout.splitlines() if x.startswith("WARNING: ")]
        assert "smaller than backup " in line
        assert "database sw_gone gone" in line
        assert "table sw_shrink.queue emptied (3 rows before)" in line
        assert "database sw_shrink: rows 1003 -> 100 (-90%)" in line
        assert "database sw_shrink: SQL bytes " in line
        subjects = [" ".join(s.split()) for s in smtp.subjects()[before:]]  # unfolded
        assert subjects == [f"[stackwatch backup {_host()}] nightly: backup WARNING, smaller"]

        check = run_stackwatch("check", "backup-age", "--config", str(config), "--format", "nagios")
        assert check.returncode == 1, check.stdout + check.stderr
        assert check.stdout.startswith("BACKUP-AGE WARNING")
        assert "nightly: newest backup smaller than backup" in check.stdout
        assert "database sw_gone gone" in check.stdout

        # Turned off: the same backups, no warning.
        off = tmp_path / "off.toml"
        text = config.read_text()
        off.write_text(text.replace("dump_users = false", "dump_users = false\nshrink_warning = 0"))
        quiet = run_stackwatch("check", "backup-age", "--config", str(off), "--format", "nagios")
        assert quiet.returncode == 0, quiet.stdout
    finally:
        mariadb.sql("DROP DATABASE IF EXISTS sw_gone; DROP DATABASE IF EXISTS sw_shrink;")


def _host() -> str:
    import socket

    return socket.gethostname()
