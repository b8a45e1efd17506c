"""Free space against the next backup, on a small tmpfs: a destination that cannot hold the
forecast size refuses the run before anything is written; `backup list` shows the forecast; a
backup that outgrows the forecast and fills the disk half way fails with a clear error, leaving
no file and nothing recorded as good."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_stackwatch
from tests.integration.backup.conftest import MariaDB
from tests.integration.backup.test_backup_run import catalog_rows, write_config

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="mounts a tmpfs"),
]


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "small"
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)


def fill(where: Path, leave: int) -> Path:
    filler = where / "filler"
    free = os.statvfs(where).f_bavail * os.statvfs(where).f_frsize
    filler.write_bytes(b"\0" * max(free - leave, 0))
    return filler


def test_forecast_refuses_a_run_that_will_not_fit(
    tmp_path: Path, mariadb: MariaDB, small: Path
) -> None:
    config = write_config(tmp_path, mariadb, local=small, destinations=("local",))
    first = run_stackwatch("backup", "run", "--config", str(config))
    assert first.returncode == 0, first.stdout + first.stderr
    size = int(catalog_rows(tmp_path, "SELECT size FROM backups")[0][0])
    listing = run_stackwatch("backup", "list", "--config", str(config))
    assert "next backup: about" in listing.stdout and ", fits" in listing.stdout

    kept = sorted((small / "nightly").iterdir())
    fill(small, size // 2)  # half the newest backup's size left
    listing = run_stackwatch("backup", "list", "--config", str(config))
    assert "local:" in listing.stdout and "WILL NOT FIT" in listing.stdout
    second = run_stackwatch("backup", "run", "--config", str(config))
    assert second.returncode == 1
    assert "not started, nothing written: destination local has" in second.stdout
    assert sorted((small / "nightly").iterdir()) == kept
    statuses = catalog_rows(tmp_path, "SELECT status FROM backups ORDER BY seq")
    assert statuses == [("good",), ("failed",)]


def test_a_backup_that_outgrows_the_forecast_fails_cleanly(
    tmp_path: Path, mariadb: MariaDB, small: Path
) -> None:
    config = write_config(
        tmp_path, mariadb, local=small, destinations=("local",), databases='["shop", "grow"]'
    )
    mariadb.sql("CREATE DATABASE grow; CREATE TABLE grow.t (id INT PRIMARY KEY, b BLOB);")
    try:
        first = run_stackwatch("backup", "run", "--config", str(config))
        assert first.returncode == 0, first.stdout + first.stderr
        size = int(catalog_rows(tmp_path, "SELECT size FROM backups")[0][0])
        kept = sorted((small / "nightly").iterdir())
        # Incompressible rows: the next backup is far larger than the forecast says.
        rows = ",".join(f"({i}, RANDOM_BYTES(1024))" for i in range(400))
        mariadb.sql(f"INSERT INTO grow.t VALUES {rows};")
        fill(small, 3 * size)  # the forecast (size + margin) fits; 400 KiB more does not
        second = run_stackwatch("backup", "run", "--config", str(config))
        assert second.returncode == 1, second.stdout
        assert "No space left on device" in second.stdout and "Traceback" not in second.stderr
        assert sorted((small / "nightly").iterdir()) == kept  # no partial file, no staging
        statuses = catalog_rows(tmp_path, "SELECT status FROM backups ORDER BY seq")
        assert statuses == [("good",), ("failed",)]
    finally:
        mariadb.sql("DROP DATABASE IF EXISTS grow;")
