"""Point in time: which archived binary logs a restore needs, which no kept backup needs any more
(retention), and the times a user may give."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stackwatch.backup.binlog_file import BinlogRange, parse_gtid_list
from stackwatch.backup.binlogs import BinlogError, needed_logs, parse_time, unneeded_batches
from stackwatch.backup.catalog import Catalog
from stackwatch.backup.dump import DumpedFile
from stackwatch.backup.pitr import GtidUsage, backup_before_gtid, logs_to_replay, parse_target


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


def test_logs_of_another_base_name_are_never_deleted_for_a_backup(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "c.sqlite")
    logs(cat, "old-name", "mysql-bin.000007")  # log_bin renamed since: not comparable
    logs(cat, "b1", "binlog.000001")
    backup(cat, "kept", "binlog.000002")
    assert unneeded_batches(cat, "nightly") == ["b1"]
    cat.close()


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[list[int]], list[tuple[int, bool]]]:
    """Archived batches of consecutive log numbers, and backups (their log, good or not)."""
    sizes = draw(st.lists(st.integers(1, 4), min_size=1, max_size=6))
    batches, number = [], 1
    for size in sizes:
        batches.append(list(range(number, number + size)))
        number += size
    backups = draw(st.lists(st.tuples(st.integers(1, number), st.booleans()), max_size=5))
    return batches, backups


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(histories())
def test_retention_keeps_every_log_a_kept_backup_needs(
    tmp_path_factory: pytest.TempPathFactory,
    history: tuple[list[list[int]], list[tuple[int, bool]]],
) -> None:
    batches, backups = history
    cat = Catalog(tmp_path_factory.mktemp("c") / "c.sqlite")
    for n, numbers in enumerate(batches):
        logs(cat, f"b{n}", *(f"binlog.{i:06d}" for i in numbers))
    for n, (number, good) in enumerate(backups):
        backup(cat, f"backup{n}", f"binlog.{number:06d}", status=good)
    gone = set(unneeded_batches(cat, "nightly"))
    kept_logs = {int(name.split(".")[1]) for name, batch, _ in cat.binlogs("nightly")
                 if batch not in gone}  # fmt: skip
    archived = {i for numbers in batches for i in numbers}
    for number, good in backups:
        if good:  # every archived log from its file on is still there
            assert {i for i in archived if i >= number} <= kept_logs
    goods = [number for number, good in backups if good]
    if not goods:
        assert not gone  # nothing known to be unneeded: everything kept
    else:  # and what goes is only what no kept backup needs
        assert all(i < min(goods) for i in archived - kept_logs)
    cat.close()


def _range(before: str, after: str) -> BinlogRange:
    return BinlogRange(parse_gtid_list(before), parse_gtid_list(after))


def test_to_gtid_takes_the_logs_up_to_the_one_holding_it(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "c.sqlite")
    cat.start("base", "nightly", 0.0)
    cat.record_dump("base", [], [], {"file": "binlog.000001", "pos": 342, "gtid": "0-1-10"})
    cat.finish("base", True, None)
    base = cat.get("base")
    assert base is not None
    read = [
        (Path("binlog.000001"), _range("0-1-5", "0-1-12")),
        (Path("binlog.000002"), _range("0-1-12", "0-1-20,5-1-3")),
        (Path("binlog.000003"), _range("0-1-20,5-1-3", "0-1-30,5-1-3")),
    ]
    assert logs_to_replay(base, read, parse_target("0-1-11")) == [Path("binlog.000001")]
    assert len(logs_to_replay(base, read, parse_target("0-1-15,5-1-2"))) == 2
    assert len(logs_to_replay(base, read[:2], parse_target("0-1-10,5-1-0"))) == 2 - 1
    with pytest.raises(GtidUsage, match=r"also hold domain 5 \(up to 5-1-3\)"):
        logs_to_replay(base, read, parse_target("0-1-15"))
    with pytest.raises(BinlogError, match=r"0-1-31 is not in the archived binary logs .*0-1-30"):
        logs_to_replay(base, read, parse_target("0-1-31,5-1-3"))
    with pytest.raises(BinlogError, match=r"backup base is past 0-1-9 \(its GTID state: 0-1-10\)"):
        logs_to_replay(base, read, parse_target("0-1-9"))
    # The base: the newest good backup not past the target in any domain named.
    cat.start("later", "nightly", 1.0)
    cat.record_dump("later", [], [], {"file": "binlog.000002", "pos": 4, "gtid": "0-1-12"})
    cat.finish("later", True, None)
    assert backup_before_gtid(cat, "nightly", parse_target("0-1-12")).id == "later"
    assert backup_before_gtid(cat, "nightly", parse_target("0-1-11")).id == "base"
    with pytest.raises(BinlogError, match="no good backup with a GTID position before 0-1-9"):
        backup_before_gtid(cat, "nightly", parse_target("0-1-9"))
    cat.close()
