"""Databases a customer names after stackwatch's own files, and scratch databases of a verify that
was killed, against a real MariaDB (issue 10): no collision, no loss, nothing left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard

from tests.conftest import run_stackwatch
from tests.integration.backup.conftest import MariaDB
from tests.integration.backup.test_backup_run import catalog_rows, write_config

pytestmark = pytest.mark.integration

# Names of our own files and metadata keys, their escaped forms, and characters of every kind.
HOSTILE = [
    "_users", "_users.sql", "_files.tar", "manifest.json", "manifest", ".partial-x", "%5Fusers",
    "we-ird%20db", "a/b", "a.b", "..", "file", "lock_seconds", "databases", "café",
    "new\nline", "x\\y", "quo'te", "-rf", "stackwatch_verify_0123456789abcdef_1",
]  # fmt: skip


def ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def literal(name: str) -> str:
    return "'" + name.replace("\\", "\\\\").replace("'", "''").replace("\n", "\\n") + "'"


@pytest.fixture
def hostile_databases(mariadb: MariaDB) -> Iterator[list[str]]:
    """Each database holds one row with its own name: whichever file restores it says whose."""
    sql = "".join(
        f"CREATE DATABASE {ident(n)}; CREATE TABLE {ident(n)}.t (name VARCHAR(80)) ENGINE=InnoDB;"
        f"INSERT INTO {ident(n)}.t VALUES ({literal(n)});"
        for n in HOSTILE
    )
    mariadb.sql(sql)
    try:
        yield HOSTILE
    finally:
        mariadb.sql("".join(f"DROP DATABASE IF EXISTS {ident(n)};" for n in HOSTILE))


def unzstd(path: Path) -> bytes:
    return zstandard.ZstdDecompressor().decompressobj().decompress(path.read_bytes())


def test_databases_named_like_our_own_files_are_all_kept_apart(
    tmp_path: Path, mariadb: MariaDB, hostile_databases: list[str]
) -> None:
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    (uploads / "a.txt").write_text("upload")
    config = write_config(
        tmp_path, mariadb, destinations=("local",), job_extra=f'include_paths = ["{uploads}"]'
    )
    run = run_stackwatch("backup", "run", "--config", str(config))
    assert run.returncode == 0, run.stdout + run.stderr
    (backup_id,) = [r[0] for r in catalog_rows(tmp_path, "SELECT id FROM backups")]
    directory = tmp_path / "local" / "nightly" / backup_id
    files = {p.name for p in directory.iterdir()}
    dumped = catalog_rows(tmp_path, "SELECT database, name FROM files WHERE database IS NOT NULL")
    by_database = {str(db): str(name) for db, name in dumped}
    assert set(hostile_databases) <= set(by_database)  # every one of them dumped
    assert len(set(by_database.values())) == len(by_database)  # each in a file of its own
    assert (
        set(by_database.values()) | {"_users.sql.zst", "_files.tar.zst", "manifest.json"} == files
    )

    # Our own files are still ours: users and grants, the archive, the manifest.
    assert b"CREATE USER" in unzstd(directory / "_users.sql.zst")
    assert b"CREATE TABLE" not in unzstd(directory / "_users.sql.zst")
    assert unzstd(directory / "_files.tar.zst")[257:262] == b"ustar"
    assert json.loads((directory / "manifest.json").read_text())["id"] == backup_id
    # A database named like a key of the position does not replace it.
    (position,) = catalog_rows(tmp_path, "SELECT position FROM backups")
    pos = json.loads(str(position[0]))
    assert isinstance(pos["lock_seconds"], float) and pos["file"].startswith("binlog.")
    assert set(hostile_databases) <= set(pos["databases"])

    # Each file restores its own database, by hand as an operator would.
    for name in ("_users", "%5Fusers", "manifest.json", "a/b", "new\nline"):
        sql = unzstd(directory / by_database[name]).decode()
        mariadb.sql("DROP DATABASE IF EXISTS restored; CREATE DATABASE restored;")
        mariadb.sql(sql, database="restored")
        assert mariadb.sql("SELECT name FROM restored.t").rstrip("\n") == literal(name)[1:-1]
    mariadb.sql("DROP DATABASE IF EXISTS restored;")

    verify = run_stackwatch("backup", "verify", "--config", str(config))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    for name in ("_users", "manifest.json", "..", "stackwatch_verify_0123456789abcdef_1"):
        assert f"database {name}: 1 tables restored, rows and checksums match" in verify.stdout


def slow_client(tmp_path: Path) -> tuple[Path, Path]:
    """A mariadb client that hangs when it restores into a scratch database (a verify to kill
    in the middle), and the file it touches when it does."""
    marker = tmp_path / "restoring"
    wrapper = tmp_path / "slow-mariadb"
    wrapper.write_text(
        "#!/bin/sh\n"
        'for a in "$@"; do case "$a" in --database=stackwatch_verify_*)\n'
        f"  touch {marker}; sleep 60;; esac; done\n"
        'exec mariadb "$@"\n'
    )
    wrapper.chmod(0o755)
    return wrapper, marker


def scratch_databases(mariadb: MariaDB) -> list[str]:
    out = mariadb.sql("SHOW DATABASES LIKE 'stackwatch\\_verify\\_%'")
    return [n for n in out.splitlines() if n != "stackwatch_verify_0123456789abcdef_1"]


class Verify:
    """``backup verify`` in a process group of its own, to kill at once."""

    def __init__(self, config: Path, marker: Path, mariadb: MariaDB) -> None:
        marker.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stackwatch.cli", "backup", "verify", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while not (marker.exists() and scratch_databases(mariadb)):
            assert time.monotonic() < deadline and self.proc.poll() is None
            time.sleep(0.05)

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)


def test_scratch_databases_of_a_killed_verify_are_dropped_and_never_backed_up(
    tmp_path: Path, mariadb: MariaDB
) -> None:
    mariadb.sql(  # a customer's database named like ours, without our mark: backed up, kept
        "CREATE DATABASE IF NOT EXISTS stackwatch_verify_0123456789abcdef_1;"
        "CREATE TABLE IF NOT EXISTS stackwatch_verify_0123456789abcdef_1.t (i INT);"
    )
    wrapper, marker = slow_client(tmp_path)
    config = write_config(  # parallel = 1: one restore, one scratch database at a time
        tmp_path,
        mariadb,
        destinations=("local",),
        keep_last=10,
        job_extra='parallel = 1\nverify_on = "live"',  # scratch databases: the live server's
    )
    slow = tmp_path / "slow.toml"
    slow.write_text(
        config.read_text().replace(
            "[backup.servers.db1]", f'[backup.servers.db1]\nclient_program = "{wrapper}"'
        )
    )
    try:
        assert run_stackwatch("backup", "run", "--config", str(config)).returncode == 0
        verify = Verify(slow, marker, mariadb)
        try:
            (live,) = scratch_databases(mariadb)
            during = run_stackwatch("backup", "run", "--config", str(config))  # must not drop it
            assert during.returncode == 0, during.stdout + during.stderr
            assert scratch_databases(mariadb) == [live]
        finally:
            verify.kill()
        assert scratch_databases(mariadb) == [live]  # left behind by the killed verify
        after = run_stackwatch("backup", "run", "--config", str(config))
        assert after.returncode == 0, after.stdout + after.stderr
        assert f"dropped {live}, left by an interrupted verify" in after.stdout
        assert scratch_databases(mariadb) == []
        dumped = {str(r[0]) for r in catalog_rows(tmp_path, "SELECT database FROM files")}
        assert "stackwatch_verify_0123456789abcdef_1" in dumped  # the customer's one
        assert not [
            d
            for d in dumped
            if d.startswith("stackwatch_verify_") and d[18:34] != "0123456789abcdef"
        ]

        # The next verify removes what a killed verify left, too.
        Verify(slow, marker, mariadb).kill()
        (left,) = scratch_databases(mariadb)
        again = run_stackwatch("backup", "verify", "--config", str(config))
        assert again.returncode == 0, again.stdout + again.stderr
        assert f"dropped {left}, left by an interrupted verify" in again.stdout
        assert scratch_databases(mariadb) == []
    finally:
        for name in scratch_databases(mariadb):
            mariadb.sql(f"DROP DATABASE IF EXISTS {ident(name)};")
        mariadb.sql("DROP DATABASE IF EXISTS stackwatch_verify_0123456789abcdef_1;")
