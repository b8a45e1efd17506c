"""``backup restore --datadir`` of a physical copy reads the copy once, its SHA-256 taken while
it is extracted beside the target: a copy whose bytes differ from the catalog's (same size) is
passed over for the next destination's, and when none matches nothing reaches the target and
no extraction is left behind."""

from __future__ import annotations

import shutil
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.conftest import run_stackwatch
from tests.integration.backup.conftest import MariaDB
from tests.integration.backup.test_backup_run import catalog_rows, write_config

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("mariadb-backup") is None, reason="no mariadb-backup"),
]

SECOND = """
[backup.destinations.second]
kind = "directory"
path = "{path}"
"""


def corrupt(copy: Path) -> None:
    """One byte changed in the middle of the file: the same size, another SHA-256."""
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))


def test_a_copy_that_differs_is_passed_over_then_refused(tmp_path: Path, mariadb: MariaDB) -> None:
    extra = SECOND.format(path=tmp_path / "second")
    config = write_config(
        tmp_path, mariadb, destinations=("local", "second"), job_extra='method = "physical"',
        extra=extra,
    )  # fmt: skip
    run = run_stackwatch("backup", "run", "--config", str(config))
    assert run.returncode == 0, run.stdout + run.stderr
    (backup_id,) = catalog_rows(tmp_path, "SELECT id FROM backups")[0]
    name = "_physical.mbstream.zst"
    corrupt(tmp_path / "local" / "nightly" / str(backup_id) / name)

    target = tmp_path / "restored"
    done = run_stackwatch("backup", "restore", "--config", str(config), "--datadir", str(target))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"passed over local: local: {name}: SHA-256 differs from the catalog" in done.stdout
    assert "copy second: 1 files match their SHA-256" in done.stdout
    assert (target / "ibdata1").exists() and (target / "shop").is_dir()
    assert not list(tmp_path.glob(".stackwatch-restore-*"))

    corrupt(tmp_path / "second" / "nightly" / str(backup_id) / name)
    again = tmp_path / "again"
    refused = run_stackwatch("backup", "restore", "--config", str(config), "--datadir", str(again))
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "no copy can be used, nothing was restored" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not again.exists()  # nothing of an unchecked stream reached the target
    assert not list(tmp_path.glob(".stackwatch-restore-*"))


def start_server(
    target: Path, tmp: Path, mariadb: MariaDB
) -> tuple[subprocess.Popen[bytes], MariaDB]:
    """A server on a restored data directory (a socket only), answering."""
    copy = MariaDB(target, str(tmp / "copy.sock"), 0, mariadb.option_file,
                   mariadb.root_option_file)  # fmt: skip
    proc = subprocess.Popen(
        ["mariadbd", "--no-defaults", f"--datadir={target}", f"--socket={copy.socket}",
         "--skip-networking", "--user=root", "--skip-log-bin", f"--pid-file={tmp}/copy.pid"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not Path(copy.socket).exists():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.1)
    return proc, copy


def test_to_time_from_a_physical_base(tmp_path: Path, mariadb: MariaDB) -> None:
    """The copy restored, then the archived binary logs replayed from its position in a
    private server: every row committed before T is there, nothing from T on."""
    mariadb.sql(
        "CREATE DATABASE pitrp; CREATE TABLE pitrp.t (id INT PRIMARY KEY) ENGINE=InnoDB;"
        "CREATE TABLE pitrp.log (id INT PRIMARY KEY) ENGINE=InnoDB;"
        "INSERT INTO pitrp.t VALUES (1), (2);"
    )
    config = write_config(
        tmp_path, mariadb, destinations=("local",),
        job_extra='method = "physical"\npoint_in_time = true',
    )  # fmt: skip
    mounted: list[Path] = []
    try:
        run = run_stackwatch("backup", "run", "--config", str(config))
        assert run.returncode == 0, run.stdout + run.stderr
        mariadb.sql("INSERT INTO pitrp.t VALUES (3), (4); INSERT INTO pitrp.log VALUES (1);")
        time.sleep(1.1)  # the binary log's times are whole seconds
        moment = datetime.now().strftime("%Y-%m-%dT%H:%M:%S")
        mariadb.sql("DROP TABLE pitrp.t; INSERT INTO pitrp.log VALUES (2);")  # at T or after
        archived = run_stackwatch("backup", "binlogs", "--config", str(config))
        assert archived.returncode == 0, archived.stdout + archived.stderr

        # The data directory is a mount point of its own, as /var/lib/mysql often is: the
        # replayed files cannot be renamed onto it from beside it.
        target = tmp_path / "restored"
        target.mkdir()
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=512m", "tmpfs", str(target)], check=True
        )
        mounted.append(target)
        args = ["backup", "restore", "--config", str(config), "--datadir", str(target)]
        dry = run_stackwatch(*args, "--to-time", moment, "--dry-run")
        assert dry.returncode == 0, dry.stdout + dry.stderr
        assert "would replay" in dry.stdout and not list(target.iterdir())
        beyond = run_stackwatch(*args, "--to-gtid", "0-1-999999", "--dry-run")
        assert beyond.returncode == 1 and "not in the archived binary logs" in beyond.stderr
        done = run_stackwatch(*args, "--to-time", moment)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"replayed the binary logs up to {moment}" in done.stdout
        assert not list(tmp_path.glob(".throwaway-*")) and not list(tmp_path.glob(".stackwatch-*"))
        assert not list(target.glob(".throwaway-*"))
        proc, copy = start_server(target, tmp_path, mariadb)
        try:
            assert copy.sql("SELECT id FROM pitrp.t ORDER BY id").split() == ["1", "2", "3", "4"]
            assert copy.sql("SELECT id FROM pitrp.log ORDER BY id").split() == ["1"]
        finally:
            proc.terminate()
            proc.wait(60)
    finally:
        for point in mounted:
            subprocess.run(["umount", "-l", str(point)], check=False)
        mariadb.sql("DROP DATABASE IF EXISTS pitrp;")
