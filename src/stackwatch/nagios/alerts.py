"""Alert analytics from nagios.log and its archives: which services cry wolf, when and where.

The facts (``read_logs``, ``Tally``: what the lines say, read fast) are in alerts_tally.py and
re-exported here; ``summarize`` turns the counts into an ``AlertReport``. Views (text, JSON,
PNG, StatsD) are in alerts_view.py, alerts_plot.py and alerts_statsd.py.

A *problem* starts with a SERVICE ALERT that is not OK while the service was OK (or unknown to
the log so far) and ends with the SERVICE ALERT that says OK. A problem that ended within the
recovery window with nobody acknowledging it *recovered by itself*: a service whose problems
mostly do that is a candidate for a higher threshold or more check attempts.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from operator import attrgetter

from stackwatch.core.record import dataclass, field
from stackwatch.nagios.alerts_events import HOUR, Events, ServiceRow, span_days
from stackwatch.nagios.alerts_tally import (
    PARALLEL_BYTES,
    AlertsError,
    LogText,
    Tally,
    read_logs,
    tally_logs,
)

__all__ = [
    "COUNTED",
    "PARALLEL_BYTES",
    "AlertReport",
    "AlertsError",
    "CellFinder",
    "LogText",
    "ServiceRow",
    "Tally",
    "Where",
    "read_logs",
    "summarize",
    "tally_logs",
]


class CellFinder:
    """The cell in a host name (``c0001`` in ``cmp-c0001-017``), by a configurable pattern;
    the pattern's group ``cell`` where it has one, else the whole match."""

    def __init__(self, pattern: str | None) -> None:
        self._pattern = re.compile(pattern) if pattern else None
        self._cache: dict[str, str] = {}

    def __call__(self, host: str) -> str:
        found = self._cache.get(host)
        if found is None:
            found = self._cache[host] = self._find(host)
        return found

    def _find(self, host: str) -> str:
        if self._pattern is None:
            return ""
        match = self._pattern.search(host)
        if not match:
            return ""
        return match.group("cell") if "cell" in self._pattern.groupindex else match.group(0)


# --- the report ------------------------------------------------------------------------------


# What is counted per service (and host): the fields of ServiceRow after its names, in the
# order the JSON rows and the StatsD names give them.
COUNTED = ("alerts", "hard", "soft", "notifications", "flapping", "problems", "recovered_soon")


@dataclass(frozen=True)
class AlertReport:
    lines: int
    malformed: int
    examples: tuple[tuple[str, int, str], ...]
    cut_files: tuple[str, ...]
    first: int
    last: int
    days: float
    recovery_window: float
    services: tuple[ServiceRow, ...]  # chattiest first
    hosts: tuple[ServiceRow, ...]
    by_service: tuple[tuple[str, int], ...]
    by_hour: tuple[int, ...]  # 24 counts, hour of the day in UTC
    by_day: tuple[tuple[str, int], ...]
    by_cell: tuple[tuple[str, int], ...]
    by_hostgroup: tuple[tuple[str, int], ...]
    timeline: tuple[tuple[int, int], ...]  # (hour start, alerts), every hour of the span
    service_timelines: Mapping[tuple[str, str], tuple[tuple[int, int], ...]]


@dataclass(frozen=True)
class Where:
    """How hosts are placed: their cell (from the name) and host groups (from the objects)."""

    cell_of: CellFinder = field(default_factory=lambda: CellFinder(None))
    hostgroups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def summarize(tally: Tally, where: Where | None = None, top_timelines: int = 5) -> AlertReport:
    """The report: every service and host, chattiest first, and the alerts by what, when and
    where (host and service alerts both count in when and where; by service only the first).
    ``top_timelines``: how many of the chattiest services get their own timeline (the picture's)."""
    where = where or Where()
    events = tally.events
    first, last = events.first_last()
    days = span_days(first, last)
    everyone = events.rows(days)
    services = _ranked_rows(row for row in everyone if row.service)
    hours = events.hours
    by_host = _alerts_by(everyone, attrgetter("host"))
    return AlertReport(
        lines=tally.lines,
        malformed=tally.malformed,
        examples=tuple(tally.examples),
        cut_files=tuple(tally.cut_files),
        first=first,
        last=last,
        days=days,
        recovery_window=tally.recovery_window,
        services=services,
        hosts=_ranked_rows(row for row in everyone if not row.service),
        by_service=_ranked(_alerts_by(services, attrgetter("service"))),
        by_hour=_hours(hours),
        by_day=tuple(sorted(_by_day(hours).items())),
        by_cell=_ranked(_placed(by_host, lambda host: _cell(where, host))),
        by_hostgroup=_ranked(_placed(by_host, lambda host: where.hostgroups.get(host, ()))),
        timeline=_series(hours),
        service_timelines=_timelines(events, services[:top_timelines]),
    )


def _timelines(
    events: Events, rows: Iterable[ServiceRow]
) -> dict[tuple[str, str], tuple[tuple[int, int], ...]]:
    keys = [(row.host, row.service) for row in rows if row.alerts]
    times = events.times_of(events.ids[key] for key in keys)
    return {key: _series(Counter(t // HOUR for t in times[events.ids[key]])) for key in keys}


def _cell(where: Where, host: str) -> tuple[str, ...]:
    cell = where.cell_of(host)
    return (cell,) if cell else ()


def _alerts_by(rows: Iterable[ServiceRow], key: Callable[[ServiceRow], str]) -> dict[str, int]:
    """Alerts summed by one name of each row (its host, its service)."""
    totals: dict[str, int] = {}
    for row in rows:
        if row.alerts:
            name = key(row)
            totals[name] = totals.get(name, 0) + row.alerts
    return totals


def _placed(by_host: Mapping[str, int], places: Callable[[str], Iterable[str]]) -> Counter[str]:
    """Alerts summed by the places (a cell, host groups) of each host."""
    counts: Counter[str] = Counter()
    for host, alerts in by_host.items():
        for place in places(host):
            counts[place] += alerts
    return counts


def _hours(hours: Mapping[int, int]) -> tuple[int, ...]:
    """Alerts by hour of the day (UTC), from the hourly timeline."""
    counts = [0] * 24
    for hour, count in hours.items():
        counts[hour % 24] += count
    return tuple(counts)


def _by_day(hours: Mapping[int, int]) -> Counter[str]:
    days: Counter[str] = Counter()
    for hour, count in hours.items():
        days[_day(hour * HOUR)] += count
    return days


def _day(stamp: int) -> str:
    try:
        return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d")
    except (OverflowError, OSError, ValueError):
        return "out-of-range"


def _ranked_rows(rows: Iterable[ServiceRow]) -> tuple[ServiceRow, ...]:
    """Chattiest first (most alerts, notifications, flapping), then by host and service: sorted
    by name, then by the counts, descending, which keeps the names' order where they tie."""
    ranked = sorted(rows, key=attrgetter("host", "service"))
    ranked.sort(key=attrgetter("alerts", "notifications", "flapping"), reverse=True)
    return tuple(ranked)


def _ranked(counts: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _series(hours: Mapping[int, int]) -> tuple[tuple[int, int], ...]:
    """(hour start, count) for every hour between the first and the last, zeros included; a span
    longer than a year (a hostile timestamp) keeps only the hours that have alerts."""
    if not hours:
        return ()
    start, end = min(hours), max(hours)
    if end - start > 366 * 24:
        return tuple((h * HOUR, hours[h]) for h in sorted(hours))
    return tuple((h * HOUR, hours.get(h, 0)) for h in range(start, end + 1))
