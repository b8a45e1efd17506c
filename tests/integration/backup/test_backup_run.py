"""End to end: `stackwatch backup` against a real MariaDB, a real sshd (the off-site copy) and a
real SMTP server. Restores prove the data comes back identical; failure tests prove nothing is
lost: wrong password, server down mid-dump, destination unreachable, disk full, concurrent run."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import zstandard

from tests.conftest import free_port, run_stackwatch
from tests.integration.backup.conftest import Mailbox, MariaDB, Sshd

pytestmark = pytest.mark.integration
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounts a tmpfs or a loop device")


def write_config(
    tmp: Path,
    db: MariaDB,
    *,
    sshd: Sshd | None = None,
    smtp: Mailbox | None = None,
    option_file: Path | None = None,
    local: Path | None = None,
    ssh_port: int | None = None,
    job_extra: str = "",
    destinations: tuple[str, ...] = ("local", "offsite"),
    extra: str = "",
    databases: str = '"all"',
    keep_last: int = 3,
) -> Path:
    local = local or tmp / "local"
    local.mkdir(parents=True, exist_ok=True)
    text = f"""
[backup]
catalog = "{tmp}/catalog.sqlite"
lock_dir = "{tmp}/lock"
work_dir = "{tmp}/work"

[backup.mail]
host = "127.0.0.1"
port = {smtp.port if smtp else free_port()}
sender = "backup@test.example"

[backup.servers.db1]
host = "127.0.0.1"
port = {db.port}
option_file = "{option_file or db.option_file}"

[backup.destinations.local]
kind = "directory"
path = "{local}"
"""
    if sshd is not None:
        text += f"""
[backup.destinations.offsite]
kind = "ssh"
host = "127.0.0.1"
user = "root"
port = {ssh_port or sshd.port}
path = "{tmp}/remote"
identity_file = "{sshd.identity}"
known_hosts_file = "{sshd.known_hosts}"
"""
    dests = ", ".join(f'"{d}"' for d in destinations)
    text += f"""
[backup.jobs.nightly]
server = "db1"
databases = {databases}
exclude = ["test"]
destinations = [{dests}]
compression = "zstd"
keep_last = {keep_last}
notify_email = ["ops@example.net"]
notify_on = ["failure", "success", "deletion"]
{job_extra}
{extra}
"""
    path = tmp / "stackwatch.toml"
    path.write_text(text)
    return path


def table_dump(db: MariaDB, database: str) -> str:
    """Every row of every table, sorted: what 'identical' means to a user."""
    tables = db.sql(
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
        f"'{database}' AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1"
    ).split("\n")
    out = []
    for t in filter(None, tables):
        rows = db.sql(f"SELECT * FROM `{database}`.`{t.replace('`', '``')}` ORDER BY 1")
        out.append(f"== {t}\n{rows}")
    return "\n".join(out)


def catalog_rows(tmp: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(tmp / "catalog.sqlite") as con:
        return con.execute(sql).fetchall()


def test_run_restore_verify_and_check(
    tmp_path: Path, mariadb: MariaDB, sshd: Sshd, smtp: Mailbox
) -> None:
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    (uploads / "logo.png").write_bytes(os.urandom(3000))
    config = write_config(
        tmp_path, mariadb, sshd=sshd, smtp=smtp, job_extra=f'include_paths = ["{uploads}"]'
    )
    before = len(smtp.messages)
    result = run_stackwatch("backup", "run", "--config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "copy local: ok" in result.stdout and "copy offsite: ok" in result.stdout

    (backup_id,) = [r[0] for r in catalog_rows(tmp_path, "SELECT id FROM backups")]
    local_dir = tmp_path / "local" / "nightly" / backup_id
    remote_dir = tmp_path / "remote" / "nightly" / backup_id
    names = sorted(p.name for p in local_dir.iterdir())
    assert "shop.sql.zst" in names and "legacy.sql.zst" in names and "media.sql.zst" in names
    assert "test.sql.zst" not in names  # excluded
    assert "_users.sql.zst" in names and "_files.tar.zst" in names
    assert sorted(p.name for p in remote_dir.iterdir()) == names
    for p in local_dir.iterdir():
        assert p.stat().st_mode & 0o777 == 0o600
        assert (remote_dir / p.name).read_bytes() == p.read_bytes()
    assert not [p for p in (tmp_path / "local" / "nightly").iterdir() if p.name.startswith(".")]

    # Consistent dump with routines, triggers, events and the binlog position recorded.
    shop_sql = (
        zstandard.ZstdDecompressor()
        .decompressobj()
        .decompress((local_dir / "shop.sql.zst").read_bytes())
    )
    assert b"CREATE DEFINER" in shop_sql and b"TRIGGER" in shop_sql and b"EVENT" in shop_sql
    assert b"PROCEDURE `order_count`" in shop_sql
    assert shop_sql.rstrip().splitlines()[-1].startswith(b"-- Dump completed")
    (position,) = catalog_rows(tmp_path, "SELECT position FROM backups")
    pos = json.loads(str(position[0]))
    # Per database under "databases" (issue 10: a database named "file" or "lock_seconds"
    # must not replace a key of the position).
    assert pos["binlog"] is True and pos["databases"]["shop"]["file"].startswith("binlog.")
    # The run report says where the consistent point is and how long writers were blocked.
    held = f"writers blocked {pos['lock_seconds']:.3f} s (global read lock)"
    assert f"consistent point at binlog {pos['file']}:{pos['pos']}" in result.stdout
    assert held in result.stdout, result.stdout

    # The password never appears in the argv of the dump (checked in the catalog's neighbour:
    # the option file is named, the password is not).
    assert "S3cret" not in result.stdout + result.stderr

    # Mail on success.
    assert len(smtp.messages) == before + 1
    assert "nightly: backup succeeded" in smtp.subjects()[-1]

    # Restore into a new database by hand, as an operator would, and compare every row.
    data = (
        zstandard.ZstdDecompressor()
        .decompressobj()
        .decompress((remote_dir / "media.sql.zst").read_bytes())
    )
    mariadb.sql("CREATE DATABASE restored_media;")
    try:
        mariadb.sql(data.decode(), database="restored_media")
        assert table_dump(mariadb, "restored_media") == table_dump(mariadb, "media")
    finally:
        mariadb.sql("DROP DATABASE restored_media;")

    # verify: scratch restore of every database, rows and checksums against the dump-time values.
    verify = run_stackwatch("backup", "verify", "--config", str(config))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "database shop: 3 tables restored, rows and checksums match" in verify.stdout
    assert "database we-ird db: 1 tables restored" in verify.stdout
    assert "copy offsite: " in verify.stdout
    scratch = mariadb.sql("SHOW DATABASES LIKE 'stackwatch_verify%'")
    assert scratch.strip() == ""

    # The Nagios check: one good backup, two copies, one off-site, verified.
    check = run_stackwatch("check", "backup-age", "--config", str(config), "--format", "nagios")
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.startswith("BACKUP-AGE OK")
    # the local destination against the next backup (forecast.py): measured, not growing yet
    assert re.search(
        r"destination \S+: [\d.]+ \w+ free, next backup about .*not growing", check.stdout
    )
    assert "'destination_free_" in check.stdout
    strict = tmp_path / "strict.toml"
    strict.write_text(config.read_text() + "\n[checks.backup-age]\nmin_copies = 3\n")
    check = run_stackwatch("check", "backup-age", "--config", str(strict), "--format", "nagios")
    assert check.returncode == 2 and "2 copies, 3 required" in check.stdout

    # status and list show it.
    status = run_stackwatch("backup", "status", "--config", str(config))
    assert status.returncode == 0 and "2 copies (1 off-site)" in status.stdout
    assert f"writers locked {pos['lock_seconds']:.3f} s" in status.stdout
    listing = run_stackwatch("backup", "list", "--config", str(config))
    assert backup_id in listing.stdout and "offsite(off-site)=good" in listing.stdout
    assert f"lock {pos['lock_seconds']:.3f} s" in listing.stdout


def test_verify_detects_a_corrupted_copy(tmp_path: Path, mariadb: MariaDB) -> None:
    config = write_config(tmp_path, mariadb, destinations=("local",))
    assert run_stackwatch("backup", "run", "--config", str(config)).returncode == 0
    (backup_id,) = [r[0] for r in catalog_rows(tmp_path, "SELECT id FROM backups")]
    target = tmp_path / "local" / "nightly" / backup_id / "legacy.sql.zst"
    raw = bytearray(target.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    target.write_bytes(bytes(raw))
    verify = run_stackwatch("backup", "verify", backup_id, "--config", str(config))
    assert verify.returncode == 1
    assert "legacy.sql.zst: SHA-256 differs from the catalog" in verify.stdout
    check = run_stackwatch("check", "backup-age", "--config", str(config), "--format", "nagios")
    assert check.returncode == 2 and "last verification failed" in check.stdout


def test_wrong_password_fails_cleanly_and_mails(
    tmp_path: Path, mariadb: MariaDB, smtp: Mailbox
) -> None:
    bad = tmp_path / "bad.cnf"
    bad.write_text("[client]\nuser=backup\npassword=wrong-one\n")
    config = write_config(tmp_path, mariadb, smtp=smtp, option_file=bad, destinations=("local",))
    before = len(smtp.messages)
    result = run_stackwatch("backup", "run", "--config", str(config))
    assert result.returncode == 1
    assert "Access denied for user 'backup'" in result.stdout
    assert "wrong-one" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert catalog_rows(tmp_path, "SELECT status FROM backups") == [("failed",)]
    assert list((tmp_path / "local" / "nightly").iterdir()) == []
    assert len(smtp.messages) == before + 1 and "FAILED" in smtp.subjects()[-1]


def test_offsite_unreachable_keeps_local_copy_and_says_which(
    tmp_path: Path, mariadb: MariaDB, sshd: Sshd
) -> None:
    config = write_config(tmp_path, mariadb, sshd=sshd, ssh_port=free_port())
    first = run_stackwatch("backup", "run", "--config", str(config))
    assert first.returncode == 1
    assert "copy local: ok" in first.stdout
    assert "copy offsite: FAILED" in first.stdout
    assert "retention skipped" in first.stdout
    rows = catalog_rows(tmp_path, "SELECT destination, status FROM copies ORDER BY 1")
    assert rows == [("local", "good"), ("offsite", "failed")]
    check = run_stackwatch("check", "backup-age", "--config", str(config), "--format", "nagios")
    assert check.returncode == 2 and "no off-site copy" in check.stdout


def test_server_killed_mid_dump_leaves_previous_backup(tmp_path: Path, mariadb: MariaDB) -> None:
    # A second server of our own, with a table big enough to kill it during the dump.
    config = write_config(tmp_path, mariadb, destinations=("local",))
    assert run_stackwatch("backup", "run", "--config", str(config)).returncode == 0
    good_before = sorted((tmp_path / "local" / "nightly").iterdir())
    mariadb.sql(
        "CREATE DATABASE IF NOT EXISTS big; USE big; CREATE TABLE t (id INT PRIMARY KEY, v TEXT) "
        "ENGINE=InnoDB; INSERT INTO t SELECT seq, REPEAT(MD5(RAND()), 20) FROM seq_1_to_150000;"
    )
    try:
        config = write_config(
            tmp_path, mariadb, destinations=("local",), job_extra="parallel = 1\nthreads = 1"
        )
        child = subprocess.Popen(
            [sys.executable, "-m", "stackwatch.cli", "backup", "run", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # Kill the server while mariadb-dump reads the big table.
        deadline = time.monotonic() + 60
        nightly = tmp_path / "local" / "nightly"
        while time.monotonic() < deadline:
            running = mariadb.sql(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                "WHERE DB = 'big' AND INFO LIKE 'SELECT%FROM `t`%'"
            )
            if running.strip() not in ("", "0"):
                break
            time.sleep(0.01)
        else:
            child.kill()
            pytest.fail("the dump of big never started")
        assert mariadb.proc is not None
        mariadb.proc.send_signal(signal.SIGKILL)
        mariadb.proc.wait(timeout=30)
        out, err = child.communicate(timeout=120)
    finally:
        mariadb.stop()
        mariadb.start()
    try:
        assert child.returncode == 1, out + err
        # Whichever notices first: the dump of big or the control session reading the figures.
        assert "dump of big" in out or "Lost connection" in out, out
        assert sorted(nightly.iterdir()) == good_before  # previous backup intact, no partials
        statuses = catalog_rows(tmp_path, "SELECT status FROM backups ORDER BY started")
        assert statuses == [("good",), ("failed",)]
    finally:
        mariadb.sql("DROP DATABASE IF EXISTS big;")


@needs_root
def test_disk_full_leaves_previous_backups_and_catalog(tmp_path: Path, mariadb: MariaDB) -> None:
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(small)], check=True)
    try:
        config = write_config(tmp_path, mariadb, local=small, destinations=("local",))
        first = run_stackwatch("backup", "run", "--config", str(config))
        assert first.returncode == 0, first.stdout + first.stderr
        kept = sorted((small / "nightly").iterdir())
        filler = small / "filler"
        with filler.open("wb") as f:  # leave a few KiB: enough to start, not to finish
            free = os.statvfs(small).f_bavail * os.statvfs(small).f_frsize
            f.write(b"\0" * max(free - 8192, 0))
        second = run_stackwatch("backup", "run", "--config", str(config))
        assert second.returncode == 1
        # Refused by the forecast before a byte is written (a dump that outgrows the forecast
        # and meets a full disk: test_space.py).
        assert "not started, nothing written: destination local has" in second.stdout
        assert sorted((small / "nightly").iterdir()) == kept
        statuses = catalog_rows(tmp_path, "SELECT status FROM backups ORDER BY started")
        assert statuses == [("good",), ("failed",)]
        filler.unlink()
        verify = run_stackwatch("backup", "verify", "--config", str(config))
        assert verify.returncode == 0, verify.stdout
    finally:
        subprocess.run(["umount", str(small)], check=False)


def test_concurrent_run_is_refused(tmp_path: Path, mariadb: MariaDB) -> None:
    hook = tmp_path / "slow-hook"
    marker = tmp_path / "hook-started"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\nsleep 3\n")
    hook.chmod(0o755)
    config = write_config(
        tmp_path, mariadb, destinations=("local",), job_extra=f'pre_hook = ["{hook}"]'
    )
    first = subprocess.Popen(
        [sys.executable, "-m", "stackwatch.cli", "backup", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        second = run_stackwatch("backup", "run", "--config", str(config))
        assert second.returncode == 75
        assert "job nightly is already running" in second.stderr
    finally:
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0, out + err
    assert catalog_rows(tmp_path, "SELECT status FROM backups") == [("good",)]


def test_hooks_post_runs_when_dump_fails(tmp_path: Path, mariadb: MariaDB) -> None:
    log = tmp_path / "hooks.log"
    pre = tmp_path / "pre"
    post = tmp_path / "post"
    pre.write_text(f"#!/bin/sh\necho freeze >> {log}\n")
    post.write_text(f"#!/bin/sh\necho thaw >> {log}\n")
    pre.chmod(0o755)
    post.chmod(0o755)
    config = write_config(
        tmp_path,
        mariadb,
        destinations=("local",),
        databases='["shop", "nosuchdb"]',
        job_extra=f'pre_hook = ["{pre}"]\npost_hook = ["{post}"]',
    )
    result = run_stackwatch("backup", "run", "--config", str(config))
    assert result.returncode == 1
    assert "database not found on the server: nosuchdb" in result.stdout
    assert log.read_text().split() == ["freeze", "thaw"]


def test_retention_deletes_and_mails_but_keeps_the_newest(
    tmp_path: Path, mariadb: MariaDB, sshd: Sshd, smtp: Mailbox
) -> None:
    config = write_config(
        tmp_path,
        mariadb,
        sshd=sshd,
        smtp=smtp,
        databases='["media"]',
        keep_last=2,
        job_extra="dump_users = false",
    )
    ids = []
    for _ in range(3):
        result = run_stackwatch("backup", "run", "--config", str(config))
        assert result.returncode == 0, result.stdout + result.stderr
        ids.append(result.stdout.split("backup ", 1)[1].split()[0])
    assert ids[0] in result.stdout  # "deleted by retention: <oldest>"
    local = sorted(p.name for p in (tmp_path / "local" / "nightly").iterdir())
    remote = sorted(p.name for p in (tmp_path / "remote" / "nightly").iterdir())
    assert local == remote == sorted(ids[1:])
    assert any("1 deleted" in s for s in smtp.subjects())
    dry = run_stackwatch("backup", "prune", "--dry-run", "--config", str(config))
    assert dry.returncode == 0 and "would delete 0, keep 2" in dry.stdout


@needs_root
def test_volume_is_mounted_for_the_job_and_unmounted_after(
    tmp_path: Path, mariadb: MariaDB
) -> None:
    image = tmp_path / "disk.img"
    with image.open("wb") as f:
        f.truncate(16 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True, timeout=60)
    mountpoint = tmp_path / "vol"
    extra = f"""
[backup.destinations.vault]
kind = "volume"
device = "{image}"
fstype = "ext4"
mount_options = "loop"
path = "{mountpoint}"
"""
    config = write_config(tmp_path, mariadb, destinations=("local", "vault"), extra=extra)
    try:
        result = run_stackwatch("backup", "run", "--config", str(config))
        assert result.returncode == 0, result.stdout + result.stderr
        assert not os.path.ismount(mountpoint)
        verify = run_stackwatch("backup", "verify", "--config", str(config))
        assert verify.returncode == 0, verify.stdout
        assert "copy vault:" in verify.stdout
        assert not os.path.ismount(mountpoint)
    finally:
        if os.path.ismount(mountpoint):
            subprocess.run(["umount", str(mountpoint)], check=False)


def test_config_errors_are_one_line(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[backup.jobs.x]\nserver = "nope"\ndestinations = ["a"]\n')
    result = run_stackwatch("backup", "run", "--config", str(config))
    assert result.returncode == 2
    assert "backup.jobs.x.server: unknown server 'nope'" in result.stderr
    assert "Traceback" not in result.stderr


def test_killed_run_is_marked_and_cleaned_by_the_next(
    tmp_path: Path, mariadb: MariaDB, sshd: Sshd
) -> None:
    hook = tmp_path / "slow-hook"
    marker = tmp_path / "hook-started"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\nsleep 30\n")
    hook.chmod(0o755)
    config = write_config(tmp_path, mariadb, sshd=sshd, databases='["media"]')
    assert run_stackwatch("backup", "run", "--config", str(config)).returncode == 0
    good = sorted((tmp_path / "local" / "nightly").iterdir())
    slow = tmp_path / "slow.toml"
    slow.write_text(
        config.read_text().replace("keep_last = 3", f'keep_last = 3\npost_hook = ["{hook}"]')
    )
    child = subprocess.Popen(
        [sys.executable, "-m", "stackwatch.cli", "backup", "run", "--config", str(slow)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists()
        assert [p for p in (tmp_path / "local" / "nightly").iterdir() if p.name.startswith(".")]
    finally:
        # The dumps are written, the copies not yet: kill the run (and its hook) mid-way.
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    assert sorted(catalog_rows(tmp_path, "SELECT status FROM backups")) == [("good",), ("running",)]
    again = run_stackwatch("backup", "run", "--config", str(config))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "was interrupted; marked failed" in again.stdout
    names = sorted(p.name for p in (tmp_path / "local" / "nightly").iterdir())
    assert not [n for n in names if n.startswith(".")] and good[0].name in names
    statuses = catalog_rows(tmp_path, "SELECT status FROM backups ORDER BY started, id")
    assert [s[0] for s in statuses] == ["good", "failed", "good"]


def test_offsite_only_job_verifies_from_the_remote_copy(
    tmp_path: Path, mariadb: MariaDB, sshd: Sshd
) -> None:
    events = tmp_path / "events"
    notifier = tmp_path / "notify"
    notifier.write_text(
        f'#!/bin/sh\necho "$STACKWATCH_BACKUP_EVENT" >> {events}\ncat > /dev/null\n'
    )
    notifier.chmod(0o755)
    config = write_config(
        tmp_path,
        mariadb,
        sshd=sshd,
        destinations=("offsite",),
        databases='["shop", "legacy"]',
        job_extra=f'notify_command = ["{notifier}"]\nnotify_email = []',
    )
    text = config.read_text().replace('notify_email = ["ops@example.net"]\n', "", 1)
    config.write_text(text)
    result = run_stackwatch("backup", "run", "--config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert not list((tmp_path / "work" / "nightly").iterdir())  # staging removed
    verify = run_stackwatch("backup", "verify", "--config", str(config))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "database legacy: 1 tables restored, rows and checksums match" in verify.stdout
    assert events.read_text().split() == ["success"]
