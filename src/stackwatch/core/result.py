"""What a check hands to the renderers: a Status, Metrics (perfdata) and a Result."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import IntEnum

from stackwatch.core.ranges import Range
from stackwatch.core.record import dataclass, field


class Status(IntEnum):
    """The Nagios plugin return codes; the exit code of ``stackwatch check`` is the worst."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3

    @property
    def severity(self) -> int:
        """Order for "worst": UNKNOWN sits between WARNING and CRITICAL, as Nagios ranks it."""
        return {0: 0, 1: 1, 3: 2, 2: 3}[int(self)]


def worst(statuses: Iterable[Status]) -> Status:
    """The most severe status; OK when there are none."""
    return max(statuses, key=lambda s: s.severity, default=Status.OK)


@dataclass(frozen=True)
class Metric:
    """One figure: a perfdata item, a Prometheus gauge, a StatsD gauge."""

    name: str
    value: float
    unit: str = ""  # "%", "s", "B", "c" (counter) or free text such as "/s" (not perfdata UOM)
    warn: Range | None = None
    crit: Range | None = None
    min: float | None = None
    max: float | None = None
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """A flat name for formats without labels (perfdata, StatsD)."""
        if not self.labels:
            return self.name
        return self.name + "_" + "_".join(self.labels.values())


@dataclass(frozen=True)
class Result:
    """The judgement of one check."""

    check: str
    status: Status
    summary: str
    metrics: tuple[Metric, ...] = ()
    details: tuple[str, ...] = ()
    hint: str | None = None
    skipped: bool = False  # the check does not apply to this machine; summary says why

    @classmethod
    def skip(cls, check: str, reason: str) -> Result:
        return cls(check, Status.OK, reason, skipped=True)

    @classmethod
    def unknown(cls, check: str, reason: str) -> Result:
        return cls(check, Status.UNKNOWN, reason)

    @property
    def status_text(self) -> str:
        return "SKIP" if self.skipped else self.status.name


def overall_status(results: Iterable[Result]) -> Status:
    """Worst status of the results that apply (a skipped check never changes the exit code)."""
    return worst(r.status for r in results if not r.skipped)


def judge_value(value: float, warn: Range | None, crit: Range | None) -> Status:
    """The status of one figure against its warning and critical ranges."""
    if crit is not None and crit.alerts(value):
        return Status.CRITICAL
    if warn is not None and warn.alerts(value):
        return Status.WARNING
    return Status.OK
