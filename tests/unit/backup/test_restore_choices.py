"""What `backup restore` chooses before it touches anything: the backup, the databases and their
names, the order of the destinations; usage errors said in one line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from stackwatch.backup.catalog import Catalog
from stackwatch.backup.config import BackupConfig, Destination, Job, Server
from stackwatch.backup.dump import DumpedFile, TableStats
from stackwatch.backup.restore import (
    Progress,
    RestoreError,
    RestoreRequest,
    RestoreUsage,
    choose_backup,
    choose_targets,
    source_order,
    users_file,
)

FILES = [
    DumpedFile("_users.sql.zst", None, 1, 1, "u" * 64),
    DumpedFile("media.sql.zst", "media", 1, 10, "m" * 64),
    DumpedFile("shop.sql.zst", "shop", 1, 20, "s" * 64),
]


def config(tmp_path: Path, jobs: tuple[str, ...] = ("nightly",)) -> BackupConfig:
    dests = {
        "vol": Destination("volume", "/mnt/b", device="/dev/sdz1"),
        "remote": Destination("ssh", "/srv", host="127.0.0.1"),
        "local": Destination("directory", "/srv/backups"),
    }
    job = Job(server="db", destinations=list(dests))
    return BackupConfig(
        catalog=str(tmp_path / "c.sqlite"),
        servers={"db": Server()},
        destinations=dests,
        jobs={name: job for name in jobs},
    )


def add(cat: Catalog, backup_id: str, ok: bool, copies: tuple[str, ...]) -> None:
    cat.start(backup_id, "nightly", 0.0)
    cat.record_dump(backup_id, FILES, [TableStats("shop", "t", 1, "x")], {})
    for name in copies:
        cat.record_copy(backup_id, name, name == "remote", True, None)
    cat.finish(backup_id, ok, None)


def test_targets_own_names_new_name_and_usage_errors() -> None:
    every = choose_targets("B", FILES, RestoreRequest())
    assert [(t.database, t.into) for t in every] == [("media", "media"), ("shop", "shop")]
    assert all(t.keeps_programs for t in every)
    (copy,) = choose_targets("B", FILES, RestoreRequest(databases=("shop",), as_name="shop2"))
    assert (copy.label, copy.keeps_programs) == ("shop as shop2", False)
    with pytest.raises(RestoreUsage, match="--as gives one database a new name"):
        choose_targets("B", FILES, RestoreRequest(as_name="x"))
    with pytest.raises(RestoreUsage, match=r"not in backup B: nope \(it holds: media, shop\)"):
        choose_targets("B", FILES, RestoreRequest(databases=("nope",)))
    with pytest.raises(RestoreUsage, match="not a database name"):
        choose_targets("B", FILES, RestoreRequest(databases=("shop",), as_name="x" * 65))
    with pytest.raises(RestoreUsage, match="--to-time restores every database"):
        choose_targets("B", FILES, RestoreRequest(databases=("shop",), to_time="2026-01-01"))
    assert users_file("B", FILES).name == "_users.sql.zst"
    with pytest.raises(RestoreError, match="no users and grants"):
        users_file("B", FILES[1:])


def test_newest_good_backup_or_the_one_named(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    cat = Catalog(cfg.catalog)
    add(cat, "old", True, ("local",))
    add(cat, "new", True, ("local",))
    add(cat, "broken", False, ())
    assert choose_backup(cfg, cat, RestoreRequest()).id == "new"
    assert choose_backup(cfg, cat, RestoreRequest(backup_id="old")).id == "old"
    with pytest.raises(RestoreError, match="broken is failed: only a good backup"):
        choose_backup(cfg, cat, RestoreRequest(backup_id="broken"))
    with pytest.raises(RestoreUsage, match="no backup 'x' in the catalog"):
        choose_backup(cfg, cat, RestoreRequest(backup_id="x"))
    with pytest.raises(RestoreUsage, match="unknown job 'weekly'"):
        choose_backup(cfg, cat, RestoreRequest(job="weekly"))
    several = config(tmp_path, ("nightly", "weekly"))
    with pytest.raises(RestoreUsage, match="name one with --job"):
        choose_backup(several, cat, RestoreRequest())
    with pytest.raises(RestoreError, match="job weekly: no good backup"):
        choose_backup(several, cat, RestoreRequest(job="weekly"))
    cat.close()


def test_sources_local_then_ssh_then_volume_or_the_one_asked(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    cat = Catalog(cfg.catalog)
    add(cat, "b", True, ("vol", "remote", "local"))
    backup = cat.get("b")
    assert backup is not None
    assert source_order(cfg, cat, backup, None) == ["local", "remote", "vol"]
    assert source_order(cfg, cat, backup, "vol") == ["vol"]
    with pytest.raises(RestoreUsage, match="--from: unknown destination 'x'"):
        source_order(cfg, cat, backup, "x")
    cat.record_copy("b", "local", False, False, "disk full")
    with pytest.raises(RestoreError, match="no good copy on local"):
        source_order(cfg, cat, backup, "local")
    assert source_order(cfg, cat, backup, None) == ["remote", "vol"]
    cat.close()


def test_progress_only_with_a_writer_and_ends_at_100() -> None:
    seen: list[str] = []
    progress = Progress(1000, seen.append)
    progress.add(500)
    progress.add(500)  # within PROGRESS_EVERY of the first: not written
    progress.end()
    assert seen == ["\rrestoring:  50% ", "\rrestoring: 100%\n"]
    silent = Progress(1000, None)
    silent.add(1000)
    silent.end()


def test_to_time_takes_the_newest_good_backup_started_before_it(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    cat = Catalog(cfg.catalog)
    for backup_id, started in (("early", 1_000.0), ("late", 5_000.0)):
        cat.start(backup_id, "nightly", started)
        cat.finish(backup_id, True, None)
    at = datetime.fromtimestamp(3_000.0).isoformat()
    assert choose_backup(cfg, cat, RestoreRequest(to_time=at)).id == "early"
    later = datetime.fromtimestamp(9_000.0, tz=UTC).isoformat()  # an offset given
    assert choose_backup(cfg, cat, RestoreRequest(to_time=later)).id == "late"
    with pytest.raises(RestoreError, match="no good backup taken before"):
        choose_backup(cfg, cat, RestoreRequest(to_time=datetime.fromtimestamp(10.0).isoformat()))
    with pytest.raises(RestoreUsage, match="not an ISO 8601 time"):
        choose_backup(cfg, cat, RestoreRequest(to_time="yesterday"))
    cat.close()
