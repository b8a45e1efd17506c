"""`stackwatch backup restore` against a real MariaDB and a real sshd: databases come back as they
were (rows, triggers), under their names or new ones; a database holding tables is refused without
--replace; a copy that does not match its SHA-256 is passed over before any byte reaches the
server; users and grants on request; progress on a terminal only; every restore in `backup list`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_stackwatch
from tests.integration.backup.conftest import MariaDB, Sshd
from tests.integration.backup.test_backup_run import catalog_rows, table_dump, write_config

pytestmark = pytest.mark.integration

DATABASES = '["shop", "media", "we-ird db"]'


def backup(config: Path) -> str:
    run = run_stackwatch("backup", "run", "--config", str(config))
    assert run.returncode == 0, run.stdout + run.stderr
    return str(catalog_rows(config.parent, "SELECT id FROM backups ORDER BY seq DESC")[0][0])


def restore(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_stackwatch("backup", "restore", "--config", str(config), *args)


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_restore_into_new_and_own_names_refusing_full_databases(
    tmp_path: Path, mariadb: MariaDB, sshd: Sshd
) -> None:
    config = write_config(tmp_path, mariadb, sshd=sshd, databases=DATABASES)
    backup_id = backup(config)
    shop_before, weird_before = table_dump(mariadb, "shop"), table_dump(mariadb, "we-ird db")

    # A copy under a new name: every row; the live database untouched.
    copy = restore(config, "--database", "media", "--as", "media_copy")
    assert copy.returncode == 0, copy.stdout + copy.stderr
    assert f"backup {backup_id} of job nightly" in copy.stdout
    assert "copy local: 1 files match their SHA-256" in copy.stdout
    assert "restored media as media_copy" in copy.stdout
    assert table_dump(mariadb, "media_copy") == table_dump(mariadb, "media")
    assert copy.stderr == ""  # not a terminal: no progress

    # Databases that hold tables are refused, all of them named, nothing restored.
    refused = restore(config)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "refusing to overwrite media (1 tables), shop (3 tables), we-ird db (1 tables)" in (
        refused.stderr
    )
    assert "--replace" in refused.stderr and "Traceback" not in refused.stderr

    # Usage errors: exit 2, one line.
    several = restore(config, "--as", "x")
    assert several.returncode == 2 and "--as gives one database a new name" in several.stderr
    unknown = restore(config, "--database", "nope")
    assert unknown.returncode == 2
    assert "not in backup" in unknown.stderr
    assert "it holds: media, shop, we-ird db" in unknown.stderr
    assert restore(config, "--from", "elsewhere").returncode == 2
    assert restore(config, "20990101T000000Z").returncode == 2

    # The server loses rows and a database; --dry-run says what it would do and changes nothing.
    mariadb.sql("DELETE FROM shop.orders WHERE id > 1; DROP DATABASE `we-ird db`;")
    dry = restore(config, "--replace", "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "would restore shop (holds 3 tables: dropped first)" in dry.stdout
    assert "would restore we-ird db (new)" in dry.stdout
    assert mariadb.sql("SHOW DATABASES LIKE 'we-ird db'").strip() == ""

    # --replace: everything back as it was at backup time, triggers too.
    full = restore(config, "--replace")
    assert full.returncode == 0, full.stdout + full.stderr
    assert table_dump(mariadb, "shop") == shop_before
    assert table_dump(mariadb, "we-ird db") == weird_before
    assert "orders_audit" in mariadb.sql("SHOW TRIGGERS FROM shop")

    # Every restore is in the catalog and in `backup list` (text and JSON).
    listing = run_stackwatch("backup", "list", "--config", str(config))
    assert f"good     {backup_id} from local: media as media_copy" in listing.stdout
    assert f"good     {backup_id} from local: media, shop, we-ird db" in listing.stdout
    as_json = run_stackwatch("backup", "list", "--config", str(config), "--format", "json")
    restores = json.loads(as_json.stdout)["jobs"][0]["restores"]
    assert [r["status"] for r in restores] == ["good", "good"]
    # And `backup status` says how long getting the data back took.
    status = run_stackwatch("backup", "status", "--config", str(config))
    assert f"  recovery: the last restore ({backup_id} into media, shop, we-ird db) took " in (
        status.stdout
    )
    mariadb.sql("DROP DATABASE media_copy;")


def test_a_corrupt_copy_is_passed_over_before_the_server_sees_a_byte(
    tmp_path: Path, mariadb: MariaDB, sshd: Sshd
) -> None:
    config = write_config(tmp_path, mariadb, sshd=sshd, databases='["media"]')
    backup_id = backup(config)
    flip_a_byte(tmp_path / "local" / "nightly" / backup_id / "media.sql.zst")
    mariadb.sql("UPDATE media.files SET ratio = 42 WHERE id = 1;")
    changed = table_dump(mariadb, "media")

    # Only the corrupt copy allowed: refused, and the database was not dropped.
    only_local = restore(config, "--from", "local", "--replace")
    assert only_local.returncode == 1
    assert "media.sql.zst: SHA-256 differs from the catalog" in only_local.stderr
    assert table_dump(mariadb, "media") == changed

    # Otherwise the off-site copy is fetched, checked and restored.
    restored = restore(config, "--replace")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert "passed over local: local: media.sql.zst: SHA-256 differs" in restored.stdout
    assert "copy offsite: 1 files match their SHA-256" in restored.stdout
    assert "42" not in mariadb.sql("SELECT ratio FROM media.files WHERE id = 1")
    assert not list((tmp_path / "work" / "nightly").iterdir())  # fetched files removed


def test_users_and_grants_on_request_and_progress_on_a_terminal(
    tmp_path: Path, mariadb: MariaDB
) -> None:
    mariadb.sql(
        "CREATE USER 'reporter'@'localhost' IDENTIFIED BY 'pw';"
        "GRANT SELECT ON media.* TO 'reporter'@'localhost';"
    )
    config = write_config(
        tmp_path, mariadb, destinations=("local",), databases='["media"]', keep_last=3
    )
    # Grants need a user with GRANT OPTION: root over the socket.
    text = config.read_text().replace(
        f'option_file = "{mariadb.option_file}"',
        f'option_file = "{mariadb.root_option_file}"\nsocket = "{mariadb.socket}"',
    )
    config.write_text(text)
    backup(config)
    mariadb.sql("DROP USER 'reporter'@'localhost';")

    primary, replica = os.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "stackwatch.cli", "backup", "restore", "--config",
             str(config), "--with-users", "--database", "media", "--as", "media_users"],
            stdout=subprocess.PIPE,
            stderr=replica,
            text=True,
            timeout=120,
            check=False,
        )  # fmt: skip
        os.close(replica)
        seen = _read_all(primary)
    finally:
        os.close(primary)
    assert done.returncode == 0, done.stdout + seen
    assert "restored users and grants" in done.stdout
    assert "restoring: 100%" in seen
    grants = mariadb.sql("SHOW GRANTS FOR 'reporter'@'localhost'")
    assert "GRANT SELECT ON `media`.* TO `reporter`@`localhost`" in grants
    mariadb.sql("DROP USER 'reporter'@'localhost'; DROP DATABASE media_users;")


def _read_all(fd: int) -> str:
    out = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the other side is closed
            break
        if not chunk:
            break
        out += chunk
    return out.decode(errors="replace")


def test_a_restore_stopped_by_sigterm_ends_at_once_recorded_as_interrupted(
    tmp_path: Path, mariadb: MariaDB
) -> None:
    """A timer unit stopped mid-restore: the clients end, the command exits 130 within seconds,
    and the catalog says interrupted (never "restored")."""
    import signal
    import time

    mariadb.sql(
        "CREATE DATABASE bulk; CREATE TABLE bulk.t (id INT PRIMARY KEY, pad CHAR(200)) "
        "ENGINE=InnoDB; INSERT INTO bulk.t SELECT seq, REPEAT('x', 200) FROM bulk.seq_1_to_300000;"
    )
    try:
        config = write_config(tmp_path, mariadb, destinations=("local",), databases='["bulk"]')
        backup(config)
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[3] / "src")}
        argv = [sys.executable, "-m", "stackwatch.cli", "backup", "restore", "--config",
                str(config), "--database", "bulk", "--as", "bulk_copy"]  # fmt: skip
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        deadline = time.monotonic() + 60
        while not catalog_rows(tmp_path, "SELECT 1 FROM restores WHERE status = 'running'"):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        time.sleep(0.3)  # the dump is being fed to the server
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert time.monotonic() - started < 10
        ((status, details),) = catalog_rows(tmp_path, "SELECT status, details FROM restores")
        assert status == "failed" and "interrupted" in str(details)
        listing = run_stackwatch("backup", "list", "--config", str(config))
        assert "failed" in listing.stdout and "restored" not in listing.stdout.split("job")[-1]
    finally:
        mariadb.sql("DROP DATABASE IF EXISTS bulk; DROP DATABASE IF EXISTS bulk_copy;")
