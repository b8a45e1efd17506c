"""Point in time: which archived binary logs a restore needs, which no kept backup needs any more
(retention), and the times a user may give."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stackwatch.backup.binlogs import BinlogError, needed_logs, parse_time, unneeded_batches
from stackwatch.backup.catalog import Catalog
from stackwatch.backup.dump import DumpedFile


def backup(cat: Catalog, backup_id: str, file: str | None, status: bool = True) -> None:
    cat.start(backup_id, "nightly", 0.0)
    position = {"file": file, "pos": 342} if file else {"binlog": False}
    cat.record_dump(backup_id, [], [], position)
    cat.finish(backup_id, status, None)


def logs(cat: Catalog, batch: str, *names: str) -> None:
    files = [DumpedFile(n, None, 1, 1, "a" * 64) for n in names]
    cat.record_binlogs("nightly", batch, files, ["local", "offsite"])


def test_needed_logs_start_at_the_backups_file_in_number_order(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "c.sqlite")
    logs(cat, "b1", "binlog.999998", "binlog.999999")
    logs(cat, "b2", "binlog.1000000", "binlog.1000001")
    backup(cat, "base", "binlog.999999")
    base = cat.get("base")
    assert base is not None
    assert [n for n, _, _ in needed_logs(cat, base)] == [
        "binlog.999999",
        "binlog.1000000",
        "binlog.1000001",
    ]
    backup(cat, "later", "binlog.1000002")
    later = cat.get("later")
    assert later is not None
    with pytest.raises(BinlogError, match=r"binlog.1000002 .* is not archived yet"):
        needed_logs(cat, later)
    cat.close()


def test_retention_drops_only_batches_older_than_every_kept_backup(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "c.sqlite")
    logs(cat, "b1", "binlog.000001", "binlog.000002")
    logs(cat, "b2", "binlog.000003", "binlog.000004")
    logs(cat, "b3", "binlog.000005")
    assert unneeded_batches(cat, "nightly") == []  # no good backup: keep everything
    backup(cat, "old", "binlog.000004")
    backup(cat, "new", "binlog.000005")
    backup(cat, "broken", "binlog.000001", status=False)  # not kept: needs nothing
    assert unneeded_batches(cat, "nightly") == ["b1"]  # b2 holds binlog.000004
    backup(cat, "unknown", None)  # binary log off: which logs it needs is unknown
    assert unneeded_batches(cat, "nightly") == []
    cat.close()


def test_times_are_iso_8601_with_or_without_an_offset() -> None:
    assert parse_time("2026-12-01T13:04:59+00:00") == 1796130299.0
    assert parse_time("2026-12-01T13:04:59+01:00") == 1796126699.0
    for bad in ("soon", "", "13:04", "2026-13-01T00:00:00"):
        with pytest.raises(BinlogError, match="not an ISO 8601 time"):
            parse_time(bad)
    assert json.dumps(parse_time("2026-12-01T13:04:59"))  # local time: a number
