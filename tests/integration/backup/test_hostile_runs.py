"""Runs that go wrong after the dumps, dumps that are slow to start while other sessions of the
same user come and go, destinations that are not there yet or go away: against a real MariaDB
and a real SMTP server (issue 10)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import run_stackwatch
from tests.integration.backup.conftest import Mailbox, MariaDB
from tests.integration.backup.test_backup_run import catalog_rows, needs_root, write_config

pytestmark = pytest.mark.integration


def script(path: Path, text: str) -> Path:
    path.write_text("#!/bin/sh\n" + text)
    path.chmod(0o755)
    return path


def mails_since(smtp: Mailbox, before: int) -> list[str]:
    return smtp.subjects()[before:]


def test_a_catalog_that_fails_after_the_dumps_fails_the_run_and_is_mailed_as_such(
    tmp_path: Path, mariadb: MariaDB, smtp: Mailbox
) -> None:
    # The post hook runs after the dumps: it takes the catalog's table of files away.
    code = (
        f"import sqlite3; c = sqlite3.connect('{tmp_path}/catalog.sqlite'); "
        "c.execute('ALTER TABLE files RENAME TO files_gone'); c.commit()"
    )
    breaker = script(tmp_path / "break-catalog", f'exec {sys.executable} -c "{code}"\n')
    config = write_config(
        tmp_path,
        mariadb,
        smtp=smtp,
        destinations=("local",),
        databases='["media"]',
        job_extra=f'post_hook = ["{breaker}"]',
    )
    before = len(smtp.messages)
    run = run_stackwatch("backup", "run", "--config", str(config))
    assert run.returncode == 1, run.stdout + run.stderr
    assert "job nightly: FAILED" in run.stdout and "no such table: files" in run.stdout
    assert "Traceback" not in run.stderr
    assert mails_since(smtp, before) == [f"[stackwatch backup {host()}] nightly: backup FAILED"]
    body = smtp.messages[-1][1]
    assert "no such table: files" in body and "job nightly: FAILED" in body
    assert catalog_rows(tmp_path, "SELECT status FROM backups") == [("failed",)]
    check = run_stackwatch("check", "backup-age", "--config", str(config), "--format", "nagios")
    assert check.returncode == 2 and "no good backup" in check.stdout


def host() -> str:
    import socket

    return socket.gethostname()


@needs_root
def test_retention_that_cannot_delete_fails_the_run_and_is_mailed_as_such(
    tmp_path: Path, mariadb: MariaDB, smtp: Mailbox
) -> None:
    config = write_config(
        tmp_path,
        mariadb,
        smtp=smtp,
        destinations=("local",),
        databases='["media"]',
        keep_last=1,
        job_extra="dump_users = false",
    )
    first = run_stackwatch("backup", "run", "--config", str(config))
    assert first.returncode == 0, first.stdout + first.stderr
    (old,) = [p for p in (tmp_path / "local" / "nightly").iterdir()]
    pinned = old / "pinned"  # a mount inside the old backup: it cannot be deleted
    pinned.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(pinned)], check=True)
    try:
        before = len(smtp.messages)
        second = run_stackwatch("backup", "run", "--config", str(config))
    finally:
        subprocess.run(["umount", str(pinned)], check=False)
    assert second.returncode == 1, second.stdout + second.stderr
    assert "error: retention: local: cannot delete" in second.stdout
    assert "Device or resource busy" in second.stdout
    subjects = mails_since(smtp, before)
    assert subjects == [f"[stackwatch backup {host()}] nightly: backup FAILED"], subjects
    assert "retention: local: cannot delete" in smtp.messages[-1][1]
    # The new backup is good and kept; the run's error stays on it for status and the check.
    rows = catalog_rows(tmp_path, "SELECT status, error FROM backups ORDER BY seq")
    assert rows[-1][0] == "good" and "retention: local: cannot delete" in str(rows[-1][1])
    check = run_stackwatch("check", "backup-age", "--config", str(config), "--format", "nagios")
    assert "last run failed (retention: local: cannot delete" in check.stdout


def test_snapshot_readiness_is_the_dumps_own_not_any_session_of_the_user(
    tmp_path: Path, mariadb: MariaDB
) -> None:
    """Sessions of the backup user keep connecting to the database while the dump is slow to
    start: the global read lock must stay until the dump itself has its snapshot, so a writer
    that commits meanwhile is in neither the dump nor the figures, and verify matches."""
    mariadb.sql(
        "CREATE DATABASE ready; CREATE TABLE ready.t (id INT PRIMARY KEY AUTO_INCREMENT, v INT)"
        " ENGINE=InnoDB; INSERT INTO ready.t (v) VALUES (1);"
    )
    slow_dump = script(tmp_path / "slow-dump", 'sleep 2\nexec mariadb-dump "$@"\n')
    config = write_config(
        tmp_path,
        mariadb,
        destinations=("local",),
        databases='["ready"]',
        job_extra="dump_users = false",
    )
    config.write_text(
        config.read_text().replace(
            "[backup.servers.db1]", f'[backup.servers.db1]\ndump_program = "{slow_dump}"'
        )
    )
    stop = threading.Event()
    impostors = threading.Thread(target=_impostors, args=(mariadb, stop))
    writer = threading.Thread(target=_writer, args=(mariadb, stop))
    impostors.start()
    writer.start()
    try:
        time.sleep(0.5)
        run = run_stackwatch("backup", "run", "--config", str(config))
    finally:
        stop.set()
        impostors.join(timeout=60)
        writer.join(timeout=60)
    try:
        assert run.returncode == 0, run.stdout + run.stderr
        blocked = float(run.stdout.split("writers blocked ")[1].split()[0])
        assert blocked >= 2.0, run.stdout  # until the slow dump had its own snapshot
        verify = run_stackwatch("backup", "verify", "--config", str(config))
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert "database ready: 1 tables restored, rows and checksums match" in verify.stdout
        assert int(mariadb.sql("SELECT COUNT(*) FROM ready.t")) > 20  # the writer was busy
    finally:
        mariadb.sql("DROP DATABASE IF EXISTS ready;")


def _impostors(mariadb: MariaDB, stop: threading.Event) -> None:
    """New sessions of the backup user, each in the database, one after the other."""
    argv = ["mariadb", f"--defaults-extra-file={mariadb.option_file}", f"--socket={mariadb.socket}"]
    while not stop.is_set():
        subprocess.run(
            [*argv, "--database=ready", "-e", "SELECT SLEEP(0.3)"], capture_output=True, timeout=30
        )


def _writer(mariadb: MariaDB, stop: threading.Event) -> None:
    """Commits, one row each, as fast as the server lets it."""
    argv = ["mariadb", f"--defaults-extra-file={mariadb.root_option_file}"]
    proc = subprocess.Popen(
        [*argv, f"--socket={mariadb.socket}", "--batch"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdin is not None
    while not stop.is_set():
        proc.stdin.write("INSERT INTO ready.t (v) VALUES (2);\n")
        proc.stdin.flush()
        time.sleep(0.01)
    proc.stdin.close()
    proc.wait(timeout=60)


def test_a_directory_destination_is_created_on_the_first_run(
    tmp_path: Path, mariadb: MariaDB
) -> None:
    fresh = tmp_path / "not" / "yet there"
    extra = f'[backup.destinations.fresh]\nkind = "directory"\npath = "{fresh}"\n'
    config = write_config(
        tmp_path, mariadb, destinations=("fresh",), databases='["media"]', extra=extra
    )
    run = run_stackwatch("backup", "run", "--config", str(config))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "copy fresh: ok" in run.stdout
    for directory in (tmp_path / "not", fresh, fresh / "nightly"):
        assert directory.stat().st_mode & 0o777 == 0o700
    (backup,) = list((fresh / "nightly").iterdir())
    assert (backup / "media.sql.zst").is_file()


@needs_root
def test_a_volume_unmounted_during_the_run_is_not_written(tmp_path: Path, mariadb: MariaDB) -> None:
    image = tmp_path / "disk.img"
    with image.open("wb") as f:
        f.truncate(16 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True, timeout=60)
    point = tmp_path / "vol"
    # The post hook (after the dumps, before the copies) unmounts the volume.
    unmount = script(tmp_path / "unmount", f"umount {point}\n")
    extra = (
        f'[backup.destinations.vault]\nkind = "volume"\ndevice = "{image}"\nfstype = "ext4"\n'
        f'mount_options = "loop"\npath = "{point}"\n'
    )
    config = write_config(
        tmp_path,
        mariadb,
        destinations=("local", "vault"),
        databases='["media"]',
        extra=extra,
        job_extra=f'post_hook = ["{unmount}"]',
    )
    try:
        run = run_stackwatch("backup", "run", "--config", str(config))
    finally:
        if os.path.ismount(point):
            subprocess.run(["umount", str(point)], check=False)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "copy local: ok" in run.stdout
    assert f"copy vault: FAILED: vault: {point} is not mounted; refusing" in run.stdout
    assert list(point.iterdir()) == []  # nothing on the root file system's mount point
