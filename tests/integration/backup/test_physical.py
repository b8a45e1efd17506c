"""Physical backups (``method = "physical"``, mariadb-backup) and ``backup verify`` off
production, against the real MariaDB fixture: the copy is catalogued like a dump; verify
restores it into a throwaway server of its own (nothing reaches the production server, nothing
is left behind, also when the verify is killed outright); restore puts the whole server back into
an empty data directory and a server started there holds the same rows; a directory that holds
anything, the production server's above all, is refused."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import run_stackwatch
from tests.integration.backup.conftest import MariaDB
from tests.integration.backup.test_backup_run import catalog_rows, table_dump, write_config

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("mariadb-backup") is None, reason="no mariadb-backup"),
]

PHYSICAL = 'method = "physical"'


def newest(config: Path) -> str:
    return str(catalog_rows(config.parent, "SELECT id FROM backups ORDER BY seq DESC")[0][0])


def databases(mariadb: MariaDB) -> str:
    return mariadb.sql("SHOW DATABASES")


def throwaways(tmp: Path) -> list[Path]:
    return list((tmp / "work").glob("*/.throwaway-*"))


def servers_on(directory: Path) -> list[int]:
    """Throwaway servers (not mariadb-install-db's bootstrap) with a --datadir under
    ``directory``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ours = any(a.startswith(f"--datadir={directory}".encode()) for a in argv)
        if ours and b"--skip-networking" in argv:
            found.append(int(proc.name))
    return found


def verify_in_background(config: Path, tmp: Path) -> subprocess.Popen[bytes]:
    """``backup verify`` started, returned once its throwaway server runs."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[3] / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "stackwatch.cli", "backup", "verify", "--config", str(config)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not servers_on(tmp / "work"):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    return proc


def test_physical_run_verify_restore(tmp_path: Path, mariadb: MariaDB) -> None:
    config = write_config(tmp_path, mariadb, destinations=("local",), job_extra=PHYSICAL)
    run = run_stackwatch("backup", "run", "--config", str(config))
    assert run.returncode == 0, run.stdout + run.stderr
    backup_id = newest(config)
    stored = sorted(p.name for p in (tmp_path / "local" / "nightly" / backup_id).iterdir())
    assert stored == ["_physical.mbstream.zst", "manifest.json"]
    (position,) = catalog_rows(tmp_path, f"SELECT position FROM backups WHERE id = '{backup_id}'")
    facts = json.loads(str(position[0]))
    assert facts["method"] == "physical" and facts["file"] and facts["pos"] > 0
    assert facts["figures_of_copy"] is True  # an idle server: the figures are the copy's
    tables = catalog_rows(
        tmp_path, f"SELECT database, name, rows FROM tables WHERE backup_id = '{backup_id}'"
    )
    assert ("shop", "customers", 3) in tables and ("legacy", "pages", 500) in tables

    # Verify: a throwaway server; the production server sees nothing of it.
    before = databases(mariadb)
    verify = run_stackwatch("backup", "verify", "--config", str(config))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "database shop: 3 tables in the copy, row counts match" in verify.stdout
    assert "database legacy: 1 tables in the copy, row counts match" in verify.stdout
    assert "tables OK" in verify.stdout and "the production server was not used" in verify.stdout
    assert databases(mariadb) == before
    assert throwaways(tmp_path) == [] and servers_on(tmp_path / "work") == []

    # Restore: refused into the production data directory and without --datadir.
    refused = run_stackwatch("backup", "restore", "--config", str(config), "--datadir",
                             str(mariadb.datadir))  # fmt: skip
    assert refused.returncode == 1
    assert "refusing to restore into" in refused.stderr and "Traceback" not in refused.stderr
    usage = run_stackwatch("backup", "restore", "--config", str(config))
    assert usage.returncode == 2 and "--datadir" in usage.stderr
    part = run_stackwatch("backup", "restore", "--config", str(config), "--datadir",
                          str(tmp_path / "x"), "--database", "shop")  # fmt: skip
    assert part.returncode == 2 and "--database does not apply" in part.stderr

    # Into a new directory; a server started on it holds the same rows.
    target = tmp_path / "restored"
    done = run_stackwatch("backup", "restore", "--config", str(config), "--datadir", str(target))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"restored the whole server into {target}" in done.stdout
    assert not list(tmp_path.glob(".stackwatch-restore-*"))
    copy = MariaDB(target, str(tmp_path / "copy.sock"), 0, mariadb.option_file,
                   mariadb.root_option_file)  # fmt: skip
    proc = subprocess.Popen(
        ["mariadbd", "--no-defaults", f"--datadir={target}", f"--socket={copy.socket}",
         "--skip-networking", "--user=root", "--skip-log-bin",
         f"--pid-file={tmp_path}/copy.pid"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not Path(copy.socket).exists():
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
        for db in ("shop", "legacy", "we-ird db"):
            assert table_dump(copy, db) == table_dump(mariadb, db)
    finally:
        proc.terminate()
        proc.wait(60)
    listing = run_stackwatch("backup", "list", "--config", str(config))
    assert f"server into {target}" in listing.stdout


def test_verify_killed_outright_leaves_nothing_on_production(
    tmp_path: Path, mariadb: MariaDB
) -> None:
    config = write_config(tmp_path, mariadb, destinations=("local",))
    assert run_stackwatch("backup", "run", "--config", str(config)).returncode == 0
    before = databases(mariadb)

    # SIGTERM (a timer unit stopped) or Ctrl-C, as the server starts, while the dumps are
    # restored, or while the verify cleans up: it ends at once, its server and files removed.
    # (A MariaDB that gets SIGTERM while starting may ignore it: the throwaway is killed.)
    for delay, sig in [(0, signal.SIGTERM), (0.15, signal.SIGINT), (0.3, signal.SIGTERM)]:
        proc = verify_in_background(config, tmp_path)
        time.sleep(delay)
        os.kill(proc.pid, sig)
        assert proc.wait(15) in (0, 130)  # 0: it had finished
        assert servers_on(tmp_path / "work") == [] and throwaways(tmp_path) == []
        assert list((tmp_path / "work").glob("*/.fetch-*")) == []

    proc = verify_in_background(config, tmp_path)
    os.kill(proc.pid, signal.SIGKILL)  # stackwatch alone: its server is left running
    proc.wait(10)
    assert databases(mariadb) == before  # none of its data ever went there
    assert servers_on(tmp_path / "work") and throwaways(tmp_path)
    assert list((tmp_path / "work").glob("*/.fetch-*"))  # its scratch directory, left

    again = run_stackwatch("backup", "verify", "--config", str(config))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "left by an interrupted verify" in again.stdout
    assert "database shop: 3 tables restored, rows and checksums match" in again.stdout
    assert servers_on(tmp_path / "work") == [] and throwaways(tmp_path) == []
    assert list((tmp_path / "work").glob("*/.fetch-*")) == []  # the killed one's too
    assert databases(mariadb) == before
