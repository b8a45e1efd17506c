"""Retention with the semantics of restic's ``forget``, decided from the catalog.

Backups are walked newest first. ``keep_last`` keeps the N newest. Each of hourly, daily, weekly,
monthly and yearly keeps the newest backup of each of the N most recent periods that hold a
backup (a period without backups does not count). ``keep_within`` keeps every backup taken within
that duration of the newest backup (not of now: stopped backups must not empty the store). A
negative count means unlimited. A backup kept by any rule is kept.

Two refusals on top, as restic refuses to delete everything: the newest good backup is always
kept, and a policy with no rule at all keeps everything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from stackwatch.backup.config import Job, parse_duration_hours


@dataclass(frozen=True)
class Policy:
    last: int = 0
    hourly: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0
    within_hours: float | None = None

    @property
    def empty(self) -> bool:
        counts = (self.last, self.hourly, self.daily, self.weekly, self.monthly, self.yearly)
        return all(c == 0 for c in counts) and self.within_hours is None

    @classmethod
    def from_job(cls, job: Job) -> Policy:
        within = parse_duration_hours(job.keep_within) if job.keep_within else None
        return cls(
            job.keep_last,
            job.keep_hourly,
            job.keep_daily,
            job.keep_weekly,
            job.keep_monthly,
            job.keep_yearly,
            within,
        )


@dataclass(frozen=True)
class Snapshot:
    id: str
    time: float  # seconds since the epoch


@dataclass
class Decision:
    keep: list[Snapshot] = field(default_factory=list)
    forget: list[Snapshot] = field(default_factory=list)
    reasons: dict[str, list[str]] = field(default_factory=dict)  # id -> why kept


def _bucketers(tz: dt.tzinfo | None) -> list[tuple[str, Callable[[float, int], object]]]:
    def at(t: float) -> dt.datetime:
        return dt.datetime.fromtimestamp(t, tz)

    def week(t: float, _: int) -> object:
        iso = at(t).isocalendar()
        return (iso[0], iso[1])

    return [
        ("last", lambda _t, n: n),
        ("hourly", lambda t, _n: at(t).strftime("%Y%m%d%H")),
        ("daily", lambda t, _n: at(t).strftime("%Y%m%d")),
        ("weekly", week),
        ("monthly", lambda t, _n: at(t).strftime("%Y%m")),
        ("yearly", lambda t, _n: at(t).year),
    ]


def apply_policy(
    snapshots: Sequence[Snapshot], policy: Policy, tz: dt.tzinfo | None = None
) -> Decision:
    """Which snapshots to keep and which to forget. ``tz`` fixes the calendar for the periods
    (default: this machine's local time, as restic does)."""
    ordered = sorted(snapshots, key=lambda s: (s.time, s.id), reverse=True)
    decision = Decision()
    if not ordered:
        return decision
    if policy.empty:
        decision.keep = list(ordered)
        for snap in ordered:
            decision.reasons[snap.id] = ["no retention policy"]
        return decision
    counts = [
        policy.last,
        policy.hourly,
        policy.daily,
        policy.weekly,
        policy.monthly,
        policy.yearly,
    ]
    last_bucket: list[object] = [None] * len(counts)
    bucketers = _bucketers(tz)
    newest = ordered[0].time
    for number, snap in enumerate(ordered):
        reasons: list[str] = []
        if policy.within_hours is not None and snap.time >= newest - policy.within_hours * 3600:
            reasons.append("within")
        for i, (name, bucket_of) in enumerate(bucketers):
            if counts[i] == 0:
                continue
            value = bucket_of(snap.time, number)
            if value != last_bucket[i]:
                last_bucket[i] = value
                reasons.append(name)
                if counts[i] > 0:
                    counts[i] -= 1
        if number == 0 and not reasons:
            reasons.append("newest good backup")
        if reasons:
            decision.keep.append(snap)
            decision.reasons[snap.id] = reasons
        else:
            decision.forget.append(snap)
    return decision
