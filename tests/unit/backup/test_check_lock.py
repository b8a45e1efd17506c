"""backup-age judgement (every branch) and its catalog reading; the job lock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stackwatch.backup.catalog import Catalog
from stackwatch.backup.check import BackupAgeFacts, BackupAgeOptions, JobFacts, job_facts, judge
from stackwatch.backup.dump import DumpedFile, TableStats
from stackwatch.backup.forecast import Filling, Room, fillings, growth_per_day
from stackwatch.backup.lock import LockBusy, job_lock
from stackwatch.core.ranges import parse_range
from stackwatch.core.result import Status


def facts(**changes: object) -> BackupAgeFacts:
    base: dict[str, object] = dict(
        job="nightly",
        last_good_id="20260101T000000Z",
        age_hours=5.0,
        copies=2,
        offsite=1,
        size=1000,
        total_size=3000,
        newest_failed=None,
        verified_ok=True,
        verified_age_hours=10.0,
    )
    base.update(changes)
    return BackupAgeFacts((JobFacts(**base),), "/var/lib/stackwatch/c.sqlite")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "status", "text"),
    [
        ({}, Status.OK, "1 jobs: recent"),
        ({"age_hours": 30.0}, Status.WARNING, "newest good backup 30.0 h old"),
        ({"age_hours": 60.0}, Status.CRITICAL, "newest good backup 60.0 h old"),
        ({"copies": 1}, Status.CRITICAL, "1 copies, 2 required"),
        ({"offsite": 0}, Status.CRITICAL, "no off-site copy"),
        ({"newest_failed": "copy failed: offsite"}, Status.WARNING, "last run failed"),
        ({"verified_ok": None}, Status.WARNING, "never verified"),
        ({"verified_ok": False}, Status.CRITICAL, "last verification failed"),
        ({"verified_age_hours": 500.0}, Status.WARNING, "last verification 500 h ago"),
        ({"age_hours": None, "last_good_id": None}, Status.CRITICAL, "no good backup"),
    ],
)
def test_judge(changes: dict[str, object], status: Status, text: str) -> None:
    result = judge(facts(**changes), BackupAgeOptions())
    assert result.status == status
    assert text in result.summary
    assert (result.hint is None) == (status == Status.OK)


GIB = 1 << 30
DAY = 86400.0


@pytest.mark.parametrize(
    ("free", "growth", "status", "text"),
    [
        (100 * GIB, 0.0, Status.OK, "1 jobs: recent"),
        (100 * GIB, 1 * GIB, Status.OK, "1 jobs: recent"),
        (12 * GIB, 1 * GIB, Status.WARNING, "destination local fills in about 2.0 days"),
        (9 * GIB, 1 * GIB, Status.CRITICAL, "the next backup needs about 10.0 GiB"),
    ],
)
def test_judge_space(free: int, growth: float, status: Status, text: str) -> None:
    space = (Filling("local", free, 10 * GIB, growth, 3),)
    result = judge(facts(space=space), BackupAgeOptions())
    assert result.status == status and text in result.summary
    assert any(m.name == "destination_free" and m.value == free for m in result.metrics)
    assert any("destination local:" in d for d in result.details)


def test_growth_of_the_space_used_from_the_backups() -> None:
    history = [(10 * DAY, 13 * GIB), (9 * DAY, 12 * GIB), (7 * DAY, 10 * GIB)]  # newest first
    assert growth_per_day(history) == pytest.approx(1 * GIB)
    assert growth_per_day(list(reversed(history))) == 0.0  # shrinking: not growing
    assert growth_per_day(history[:1]) == 0.0
    rooms = [Room("local", 20 * GIB, 14 * GIB), Room("offsite", None, 14 * GIB)]
    (local,) = fillings(rooms, history, kept=3)
    assert local.growth_per_day == pytest.approx(3 * GIB)  # three kept copies grow
    assert local.days_left == pytest.approx(2.0)


def test_thresholds_and_metrics() -> None:
    options = BackupAgeOptions(warning=parse_range("2"), critical=parse_range("4"))
    result = judge(facts(), options)
    assert result.status == Status.CRITICAL
    age = next(m for m in result.metrics if m.name == "age")
    assert age.value == 5.0 and age.labels == {"job": "nightly"} and age.unit == "h"
    relaxed = BackupAgeOptions(require_offsite=False, require_verified=False, min_copies=1)
    assert judge(facts(offsite=0, copies=1, verified_ok=None), relaxed).status == Status.OK


def test_read_job_from_a_real_catalog(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "c.sqlite")
    cat.start("a", "nightly", 1000.0)
    cat.record_dump(
        "a",
        [DumpedFile("shop.sql.zst", "shop", 10, 50, "x" * 64)],
        [TableStats("shop", "t", 3, "99")],
        {"binlog": False},
    )
    cat.record_copy("a", "local", False, True, None)
    cat.record_copy("a", "offsite", True, True, None)
    cat.finish("a", True, None)
    cat.start("b", "nightly", 2000.0)
    cat.finish("b", False, "dump of shop exited with status 2")
    cat.record_verification("a", True, "ok")
    with cat.db as db:
        db.execute("UPDATE verifications SET at = 1500")
    job = job_facts(cat.job_summary("nightly"), 1000.0 + 7200)
    assert job.last_good_id == "a" and job.age_hours == 2.0
    assert (job.copies, job.offsite, job.size) == (2, 1, 10)
    assert job.newest_failed == "dump of shop exited with status 2"
    assert job.verified_ok is True
    cat.mark_deleted("a")
    assert job_facts(cat.job_summary("nightly"), 3000.0).last_good_id is None
    cat.close()


def test_lock_refuses_a_second_holder(tmp_path: Path) -> None:
    with job_lock(str(tmp_path), "nightly"):
        holder = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from stackwatch.backup.lock import job_lock, LockBusy\n"
                "try:\n  with job_lock(sys.argv[1], 'nightly'): print('got it')\n"
                "except LockBusy as e: print(e)",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "job nightly is already running (pid" in holder.stdout
        with job_lock(str(tmp_path), "other"):
            pass
    with job_lock(str(tmp_path), "nightly"):
        pass
    with pytest.raises(LockBusy), job_lock(str(tmp_path), "x"), job_lock(str(tmp_path), "x"):
        pass


def test_check_skips_without_jobs_and_is_critical_without_catalog(tmp_path: Path) -> None:
    from tests.conftest import run_stackwatch

    empty = tmp_path / "empty.toml"
    empty.write_text("")
    result = run_stackwatch("check", "backup-age", "--config", str(empty), "--format", "json")
    assert result.returncode == 0 and '"status": "SKIP"' in result.stdout
    assert "no backup job configured" in result.stdout
    config = tmp_path / "c.toml"
    config.write_text(
        f'[backup]\ncatalog = "{tmp_path}/none.sqlite"\n'
        '[backup.servers.db]\n[backup.destinations.d]\nkind = "directory"\npath = "/srv"\n'
        '[backup.jobs.nightly]\nserver = "db"\ndestinations = ["d"]\n'
    )
    result = run_stackwatch("check", "backup-age", "--config", str(config), "--format", "nagios")
    assert result.returncode == 2
    assert result.stdout.startswith("BACKUP-AGE CRITICAL - nightly: no good backup")


def test_unreadable_catalog_is_unknown_not_skipped(tmp_path: Path) -> None:
    from tests.conftest import run_stackwatch

    (tmp_path / "bad.sqlite").write_bytes(b"this is not a database" * 100)
    config = tmp_path / "c.toml"
    config.write_text(
        f'[backup]\ncatalog = "{tmp_path}/bad.sqlite"\n'
        '[backup.servers.db]\n[backup.destinations.d]\nkind = "directory"\npath = "/srv"\n'
        '[backup.jobs.nightly]\nserver = "db"\ndestinations = ["d"]\n'
    )
    result = run_stackwatch("check", "backup-age", "--config", str(config), "--format", "nagios")
    assert result.returncode == 3, result.stdout
    assert "unreadable" in result.stdout


def test_lock_seconds_of_a_recorded_position() -> None:
    from hypothesis import given
    from hypothesis import strategies as st

    from stackwatch.backup.catalog import lock_seconds

    assert lock_seconds('{"binlog": true, "lock_seconds": 0.042}') == 0.042
    assert lock_seconds('{"lock_seconds": 3}') == 3.0
    for old_or_bad in (None, "", "{}", "[1]", "null", '{"lock_seconds": "x"}', "{not json"):
        assert lock_seconds(old_or_bad) is None
    assert lock_seconds('{"lock_seconds": true}') is None

    @given(st.text())
    def any_text(text: str) -> None:  # the catalog may hold anything: a value or None
        value = lock_seconds(text)
        assert value is None or isinstance(value, float)

    any_text()
