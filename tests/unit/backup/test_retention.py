"""Retention: restic forget semantics, worked examples and properties."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from stackwatch.backup.retention import Policy, Snapshot, apply_policy

UTC = dt.UTC


def snap(text: str) -> Snapshot:
    when = dt.datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    return Snapshot(text, when.timestamp())


def kept(snaps: list[Snapshot], policy: Policy) -> list[str]:
    return [s.id for s in apply_policy(snaps, policy, UTC).keep]


# Two backups a day for 40 days: 2024-01-01 .. 2024-02-09, at 01:00 and 13:00.
DAYS = [
    snap(f"{(dt.date(2024, 1, 1) + dt.timedelta(days=d)).isoformat()} {h:02d}:00")
    for d in range(40)
    for h in (1, 13)
]


def test_keep_last() -> None:
    assert kept(DAYS, Policy(last=3)) == [
        "2024-02-09 13:00",
        "2024-02-09 01:00",
        "2024-02-08 13:00",
    ]


def test_keep_daily_takes_the_newest_of_each_day() -> None:
    assert kept(DAYS, Policy(daily=3)) == [
        "2024-02-09 13:00",
        "2024-02-08 13:00",
        "2024-02-07 13:00",
    ]


def test_keep_weekly_uses_iso_weeks() -> None:
    # 2024-02-09 is a Friday (week 6); the newest of weeks 6, 5, 4.
    assert kept(DAYS, Policy(weekly=3)) == [
        "2024-02-09 13:00",
        "2024-02-04 13:00",
        "2024-01-28 13:00",
    ]


def test_keep_monthly_and_yearly() -> None:
    assert kept(DAYS, Policy(monthly=5)) == ["2024-02-09 13:00", "2024-01-31 13:00"]
    assert kept(DAYS, Policy(yearly=2)) == ["2024-02-09 13:00"]


def test_rules_combine_and_a_snapshot_counts_for_each_rule() -> None:
    result = kept(DAYS, Policy(last=2, daily=2))
    # restic: the newest counts for last and daily; daily then takes the next day.
    assert result == ["2024-02-09 13:00", "2024-02-09 01:00", "2024-02-08 13:00"]


def test_periods_without_backups_do_not_count() -> None:
    sparse = [snap("2024-01-01 10:00"), snap("2024-03-01 10:00"), snap("2024-06-01 10:00")]
    assert kept(sparse, Policy(daily=2)) == ["2024-06-01 10:00", "2024-03-01 10:00"]


def test_keep_within_is_relative_to_the_newest_backup_not_now() -> None:
    # Backups stopped in February: keep_within still keeps the last 2 days of them.
    result = kept(DAYS, Policy(within_hours=48))
    assert result == [
        "2024-02-09 13:00",
        "2024-02-09 01:00",
        "2024-02-08 13:00",
        "2024-02-08 01:00",
        "2024-02-07 13:00",
    ]


def test_unlimited_count() -> None:
    assert len(kept(DAYS, Policy(daily=-1))) == 40


def test_no_policy_keeps_everything() -> None:
    assert len(kept(DAYS, Policy())) == len(DAYS)


def test_keep_within_zero_keeps_only_the_newest() -> None:
    # keep_within zero hours of the newest still keeps the newest: it is "within 0 h".
    decision = apply_policy(DAYS, Policy(hourly=0, within_hours=0), UTC)
    assert [s.id for s in decision.keep] == ["2024-02-09 13:00"]


def test_reasons_are_reported() -> None:
    decision = apply_policy(DAYS[:4], Policy(last=1, daily=2), UTC)
    assert decision.reasons["2024-01-02 13:00"] == ["last", "daily"]
    assert decision.reasons["2024-01-01 13:00"] == ["daily"]
    assert [s.id for s in decision.forget] == ["2024-01-02 01:00", "2024-01-01 01:00"]


policies = st.builds(
    Policy,
    last=st.integers(-1, 5),
    hourly=st.integers(-1, 5),
    daily=st.integers(-1, 5),
    weekly=st.integers(-1, 5),
    monthly=st.integers(-1, 5),
    yearly=st.integers(-1, 3),
    within_hours=st.none() | st.floats(0, 2000),
)
times = st.lists(st.integers(1_500_000_000, 1_800_000_000), max_size=60, unique=True)


@given(times, policies)
def test_properties(seconds: list[int], policy: Policy) -> None:
    snaps = [Snapshot(f"s{t}", float(t)) for t in seconds]
    decision = apply_policy(snaps, policy, UTC)
    ids = {s.id for s in snaps}
    keep = {s.id for s in decision.keep}
    forget = {s.id for s in decision.forget}
    assert keep | forget == ids and not keep & forget
    if snaps:
        newest = max(snaps, key=lambda s: s.time)
        assert newest.id in keep  # the last good backup is never deleted
    if policy.last > 0:
        newest_n = sorted(snaps, key=lambda s: -s.time)[: policy.last]
        assert {s.id for s in newest_n} <= keep
    for s in decision.keep:
        assert decision.reasons[s.id]
