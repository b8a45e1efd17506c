"""``backup restore --datadir`` of a physical copy reads the copy once, its SHA-256 taken while
it is extracted beside the target: a copy whose bytes differ from the catalog's (same size) is
passed over for the next destination's, and when none matches nothing reaches the target and
no extraction is left behind."""

from __future__ import annotations

import shutil
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
