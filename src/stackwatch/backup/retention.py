"""Retention with the semantics of restic's ``forget``, decided from the catalog.

Backups are walked newest first, "newest" by the catalog's sequence (the order the runs started
in), never by their clock time: whatever the clock did between runs, the backup a run just made
is the newest. ``keep_last`` keeps the N newest. Each of hourly, daily, weekly,
monthly and yearly keeps the newest backup of each of the N most recent periods that hold a
backup (a period without backups does not count; the periods are those of each backup's clock
time, and a period met again after a clock jump does not count twice). ``keep_within`` keeps
every backup whose time is within that duration of the newest backup's, or later (not of now:
stopped backups must not empty the store). A negative count means unlimited. A backup kept by
any rule is kept.

Two refusals on top, as restic refuses to delete everything: the newest good backup is always
kept, and a policy with no rule at all keeps everything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from stackwatch.backup.config import Job, keep_within_seconds
from stackwatch.core.record import dataclass, field


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
        within = keep_within_seconds(job.keep_within) / 3600 if job.keep_within else None
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
    time: float  # seconds since the epoch, as the clock said when the run started
    seq: int = 0  # the catalog's sequence: higher is newer (equal: by time)


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
    ordered = sorted(snapshots, key=lambda s: (s.seq, s.time, s.id), reverse=True)
    decision = Decision()
    if policy.empty:
        decision.keep = list(ordered)
        decision.reasons = {snap.id: ["no retention policy"] for snap in ordered}
        return decision
    rules = _Rules(policy, tz, ordered[0].time if ordered else 0.0)
    for number, snap in enumerate(ordered):
        reasons = rules.reasons(snap, number)
        if number == 0 and not reasons:
            reasons.append("newest good backup")
        if reasons:
            decision.keep.append(snap)
            decision.reasons[snap.id] = reasons
        else:
            decision.forget.append(snap)
    return decision


class _Rules:
    """The rules of a policy, applied to the snapshots newest first: each counting rule keeps
    the first snapshot of each new period until its count is used up (negative: unlimited)."""

    def __init__(self, policy: Policy, tz: dt.tzinfo | None, newest: float) -> None:
        counts = (policy.last, policy.hourly, policy.daily, policy.weekly, policy.monthly,
                  policy.yearly)  # fmt: skip
        self.left = list(counts)
        self.seen: list[set[object]] = [set() for _ in counts]
        self.bucketers = _bucketers(tz)
        self.within_from: float | None = None
        if policy.within_hours is not None:
            self.within_from = newest - policy.within_hours * 3600

    def reasons(self, snap: Snapshot, number: int) -> list[str]:
        reasons = []
        if self.within_from is not None and snap.time >= self.within_from:
            reasons.append("within")
        for i, (name, bucket_of) in enumerate(self.bucketers):
            if self.left[i] != 0 and self._new_period(i, bucket_of(snap.time, number)):
                reasons.append(name)
        return reasons

    def _new_period(self, rule: int, bucket: object) -> bool:
        if bucket in self.seen[rule]:
            return False
        self.seen[rule].add(bucket)
        if self.left[rule] > 0:
            self.left[rule] -= 1
        return True
