"""One source of truth: `backup status` and the backup-age check read the same catalog summary and
agree; `backup list` and `backup status` as text and JSON; the exit codes of usage errors."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from stackwatch.backup import views
from stackwatch.backup.catalog import Catalog
from stackwatch.backup.check import job_facts
from stackwatch.backup.dump import DumpedFile, TableStats
from tests.conftest import run_stackwatch

NOW = time.time()


def backup(cat: Catalog, backup_id: str, hours_ago: float, copies: dict[str, bool]) -> None:
    """A good backup taken ``hours_ago``, with a good copy on each destination (name ->
    off-site)."""
    cat.start(backup_id, "nightly", NOW - hours_ago * 3600)
    cat.record_dump(
        backup_id,
        [DumpedFile("shop.sql.zst", "shop", 1000, 5000, "a" * 64)],
        [TableStats("shop", "t", 3, "tbl:99")],
        {"binlog": True, "lock_seconds": 0.012},
    )
    for destination, offsite in copies.items():
        cat.record_copy(backup_id, destination, offsite, True, None)
    cat.finish(backup_id, True, None)


@pytest.fixture
def catalog_file(tmp_path: Path) -> Path:
    path = tmp_path / "catalog.sqlite"
    cat = Catalog(path)
    backup(cat, "old", 30.0, {"local": False, "offsite": True})
    backup(cat, "new", 2.0, {"local": False, "offsite": True})
    cat.record_copy("new", "offsite", True, False, "rsync: connection refused")  # failed now
    cat.record_verification("old", True, "ok")
    cat.start("broken", "nightly", NOW - 600)
    cat.finish("broken", False, "dump of shop exited with status 2: Lost connection\x1b[2J")
    cat.close()
    return path


def write_config(tmp_path: Path, catalog: Path) -> Path:
    config = tmp_path / "c.toml"
    config.write_text(
        f'[backup]\ncatalog = "{catalog}"\nlock_dir = "{tmp_path}/lock"\n'
        "[backup.servers.db]\n"
        '[backup.destinations.local]\nkind = "directory"\npath = "/srv/backups"\n'
        '[backup.destinations.offsite]\nkind = "ssh"\nhost = "127.0.0.1"\npath = "/srv"\n'
        '[backup.jobs.nightly]\nserver = "db"\ndestinations = ["local", "offsite"]\n'
    )
    return config


def test_job_summary(catalog_file: Path) -> None:
    cat = Catalog(catalog_file, readonly=True)
    summary = cat.job_summary("nightly")
    assert summary.newest_good is not None and summary.newest_good.id == "new"
    assert [c.destination for c in summary.copies] == ["local"]  # good copies only
    assert summary.offsite_copies == 0
    assert (summary.good_count, summary.total_size) == (2, 2000)
    assert summary.newest_failed is not None and "Lost connection" in summary.newest_failed
    assert summary.last_verification is not None and summary.last_verification.backup_id == "old"
    empty = cat.job_summary("weekly")
    assert (empty.newest_good, empty.copies, empty.good_count) == (None, (), 0)
    cat.close()


def test_status_and_check_agree(tmp_path: Path, catalog_file: Path) -> None:
    config = write_config(tmp_path, catalog_file)
    status = run_stackwatch("backup", "status", "--config", str(config))
    assert status.returncode == 0, status.stderr
    assert (
        "nightly: newest new 2.0 h old, 1 copies (0 off-site), 1000 B, writers locked 0.012 s;"
        in status.stdout
    )
    assert "2 backups kept, 2.0 KiB in all; last verify ok" in status.stdout
    check = run_stackwatch("check", "backup-age", "--config", str(config), "--format", "json")
    (result,) = json.loads(check.stdout)["checks"]
    metrics = {m["name"]: m["value"] for m in result["metrics"]}
    assert (metrics["copies"], metrics["offsite_copies"], metrics["total_size"]) == (1, 0, 2000)
    assert "job nightly: new, 2.0 h old, 1 copies (0 off-site), 1000 bytes" in result["details"]
    assert "nightly: 1 copies, 2 required" in result["summary"]
    assert "last run failed (dump of shop exited with status 2" in result["summary"]
    as_json = run_stackwatch("backup", "status", "--config", str(config), "--format", "json")
    (job,) = json.loads(as_json.stdout)["jobs"]
    assert job["newest_good"]["id"] == "new" and job["copies"] == metrics["copies"]
    assert job["offsite_copies"] == metrics["offsite_copies"]
    assert job["last_verification"]["backup"] == "old"


def test_check_facts_are_the_summary(catalog_file: Path) -> None:
    cat = Catalog(catalog_file, readonly=True)
    summary = cat.job_summary("nightly")
    facts = job_facts(summary, NOW)
    (line,) = views.status_lines([summary], NOW)
    assert facts.last_good_id == "new" and f"newest {facts.last_good_id} " in line
    assert f"{facts.copies} copies ({facts.offsite} off-site)" in line
    cat.close()


def test_list_text_and_json(tmp_path: Path, catalog_file: Path) -> None:
    config = write_config(tmp_path, catalog_file)
    listing = run_stackwatch("backup", "list", "--config", str(config))
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0] == "job nightly"
    assert lines[1].startswith("  broken  ") and "failed" in lines[1]
    assert "\x1b" not in listing.stdout and "Lost connection\\x1b[2J]" in lines[1]
    assert "local=good, offsite(off-site)=failed  lock 0.012 s" in lines[2]
    as_json = run_stackwatch("backup", "list", "--config", str(config), "--format", "json")
    data = json.loads(as_json.stdout)
    (job,) = data["jobs"]
    assert [b["id"] for b in job["backups"]] == ["broken", "new", "old"]
    assert job["backups"][1]["copies"][1] == {
        "destination": "offsite",
        "offsite": True,
        "status": "failed",
        "error": "rsync: connection refused",
        "at": job["backups"][1]["copies"][1]["at"],
    }


def test_usage_errors_exit_2(tmp_path: Path, catalog_file: Path) -> None:
    config = write_config(tmp_path, catalog_file)
    unknown = run_stackwatch("backup", "list", "weekly", "--config", str(config))
    assert unknown.returncode == 2 and "unknown job 'weekly'; configured: nightly" in unknown.stderr
    bad = run_stackwatch("backup", "status", "--config", str(config), "--format", "xml")
    assert bad.returncode == 2 and "--format must be text or json, not 'xml'" in bad.stderr
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    none = run_stackwatch("backup", "status", "--config", str(empty))
    assert none.returncode == 2 and "no backup job configured" in none.stderr
    assert "Traceback" not in unknown.stderr + bad.stderr + none.stderr


def test_views_of_an_empty_job() -> None:
    assert views.list_lines("weekly", []) == ["job weekly", "  no backups"]
    assert views.size(512) == "512 B" and views.size(3 * 1024**2) == "3.0 MiB"
    assert views.size(5 * 1024**4) == "5.0 TiB"


def test_status_says_what_a_recovery_took_and_what_it_would_replay(tmp_path: Path) -> None:
    from stackwatch.backup.catalog import BinlogSpan

    cat = Catalog(tmp_path / "catalog.sqlite")
    backup(cat, "base", 3.0, {"local": False})
    assert views.status_lines([cat.job_summary("nightly")], NOW)[1:] == []  # nothing measured
    cat.record_verification("base", True, "ok", 6.42)
    restored = cat.start_restore("base", "nightly", "local", "shop->shop_copy")
    cat.finish_restore(restored, True, "ok")
    logs = [DumpedFile(f"bin.00000{n}", None, 2048, 2048, "b" * 64) for n in (1, 2, 3)]
    cat.record_binlogs("nightly", "batch1", logs, ["local"])
    before = int(NOW - 5 * 3600)  # ended before the backup: not replayed
    cat.record_binlog_ranges(
        "nightly",
        [
            BinlogSpan("bin.000001", "0-1-1", "0-1-5", before - 60, before, True),
            BinlogSpan("bin.000002", "0-1-5", "0-1-9", before, int(NOW - 3600), True),
            BinlogSpan("bin.000003", "0-1-9", "0-1-12", int(NOW - 3600), int(NOW - 60), False),
        ],
    )
    summary = cat.job_summary("nightly")
    cat.close()
    lines = views.status_lines([summary], NOW)
    assert lines[1].startswith("  recovery: the last verify restored and checked base in 6.4 s")
    assert "the last restore (base into shop->shop_copy) took " in lines[1]
    assert "2 binary logs (4.0 KiB) archived after the newest backup to replay, up to " in lines[1]
    (job,) = json.loads(views.status_json([summary], NOW))["jobs"]
    assert job["last_verification"]["seconds"] == 6.42
    assert (
        job["last_restore"]["targets"] == "shop->shop_copy" and job["last_restore"]["seconds"] >= 0
    )
    assert job["binlogs_after_newest"] == {"count": 2, "size": 4096, "last_time": int(NOW - 60)}


def test_a_catalog_of_an_older_release_without_verify_times(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "catalog.sqlite"
    cat = Catalog(path)
    backup(cat, "base", 1.0, {"local": False})
    cat.close()
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE verifications DROP COLUMN seconds")
    db.execute("INSERT INTO verifications VALUES ('base', 1.0, 1, 'ok')")
    db.commit()
    db.close()
    reader = Catalog(path, readonly=True)  # read as it is
    old = reader.last_verification(job="nightly")
    reader.close()
    assert old is not None and old.ok and old.seconds is None
    writer = Catalog(path)  # given the column, its old rows unknown
    writer.record_verification("base", True, "ok", 2.5)
    found = writer.last_verification(job="nightly")
    writer.close()
    assert found is not None and found.seconds == 2.5
