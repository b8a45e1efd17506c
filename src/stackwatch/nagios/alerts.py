"""Alert analytics from nagios.log and its archives: which services cry wolf, when and where.

Facts only: ``read_logs`` reads the files through the Host (archives ``.gz`` too, a cut archive
read as far as it goes), in the order of their first timestamp; ``Tally`` counts what the lines
say; ``summarize`` turns the counts into an ``AlertReport``. Views (text, JSON, PNG, StatsD) are
in alerts_view.py, alerts_plot.py and alerts_statsd.py.

A *problem* starts with a SERVICE ALERT that is not OK while the service was OK (or unknown to
the log so far) and ends with the SERVICE ALERT that says OK. A problem that ended within the
recovery window with nobody acknowledging it *recovered by itself*: a service whose problems
mostly do that is a candidate for a higher threshold or more check attempts.
"""

from __future__ import annotations

import os
import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Any

from stackwatch.core.host import Host, HostError
from stackwatch.core.record import dataclass, field
from stackwatch.nagios.logparse import (
    ACKNOWLEDGEMENT,
    HOST_ALERT,
    HOST_FLAPPING,
    HOST_NOTIFICATION,
    SERVICE_ALERT,
    SERVICE_FLAPPING,
    SERVICE_NOTIFICATION,
    SERVICE_STATES,
    STATE_TYPES,
    Entry,
    Malformed,
    parse_line,
)

MAX_EXAMPLES = 10  # malformed lines quoted with their file and line number
HOUR = 3600
DAY = 86400

_Handler = Callable[[Entry], None]


class AlertsError(Exception):
    """A log that cannot be read at all (missing, unreadable): one line naming the file."""


@dataclass(frozen=True)
class LogText:
    path: str
    text: str
    first_time: int  # the first timestamp in the file (-1: none), for ordering archives
    cut: bool  # a compressed archive that ends early (still being written, or damaged)


def read_logs(host: Host, paths: Iterable[str]) -> list[LogText]:
    """Every log read whole, oldest first (archives before the live nagios.log)."""
    logs = [read_log(host, path) for path in paths]
    return sorted(logs, key=lambda log: (log.first_time < 0, log.first_time))


def read_log(host: Host, path: str) -> LogText:
    try:
        data = host.read_bytes(path)
    except HostError as exc:
        raise AlertsError(str(exc)) from None
    cut = False
    if path.endswith(".gz") or data[:2] == b"\x1f\x8b":
        data, cut = _gunzip(data)
    text = data.decode("utf-8", errors="replace")
    return LogText(path, text, _first_time(text), cut)


def _gunzip(data: bytes) -> tuple[bytes, bool]:
    """The content of a gzip file (several members too), and whether it ends before its end."""
    out = []
    while data:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out.append(inflater.decompress(data))
        except zlib.error:
            return b"".join(out), True
        if not inflater.eof:
            return b"".join(out), True
        data = inflater.unused_data
    return b"".join(out), False


_STAMP = re.compile(r"^\[(\d{1,12})\] ", re.M)


def _first_time(text: str) -> int:
    match = _STAMP.search(text, 0, 1 << 16)
    return int(match.group(1)) if match else -1


@dataclass(slots=True)
class ServiceTally:
    """What the log says about one service (or, with service "", one host)."""

    host: str
    service: str
    alerts: int = 0
    hard: int = 0
    soft: int = 0
    notifications: int = 0
    flapping: int = 0  # times it started flapping
    problems: int = 0
    recovered_soon: int = 0  # problems that ended within the window, unacknowledged
    states: dict[str, int] = field(default_factory=dict)
    times: list[int] = field(default_factory=list)  # of its alerts, for its own timeline
    open_since: int = -1  # start of the problem in progress
    acknowledged: bool = False
    # What a later part of the log needs to join this part's problems to an earlier part's
    # (the log is read in parts by several processes, see tally_logs):
    first_ok: int = -1  # the first alert of this part was good (1), bad (0); -1: none yet
    first_time: int = -1
    ack_before_first: bool = False  # acknowledged before the first alert of this part
    first_close: int = -1  # when the part's first problem ended (-1: it did not)
    first_close_counted: bool = False  # ... and whether it was counted as recovered
    first_problem_acked: bool = False

    def alert(self, when: int, state: str, state_type: str, good: str, window: float) -> None:
        """Count one alert line, and open or close a problem."""
        if self.alerts == 0:
            self.first_ok, self.first_time = int(state == good), when
            self.ack_before_first = self.acknowledged
        self.alerts += 1
        if state_type == "HARD":
            self.hard += 1
        else:
            self.soft += 1
        self.states[state] = self.states.get(state, 0) + 1
        self.times.append(when)
        if state != good:
            if self.open_since < 0:
                self.open_since = when
                self.acknowledged = False
                self.problems += 1
        elif self.open_since >= 0:
            recovered = when - self.open_since <= window and not self.acknowledged
            self.recovered_soon += recovered
            if self.first_close < 0:
                self.first_close, self.first_close_counted = when, recovered
                self.first_problem_acked = self.acknowledged
            self.open_since = -1
            self.acknowledged = False

    def absorb(self, later: ServiceTally, window: float) -> None:
        """Add the same service's tally of the part of the log that follows this one's."""
        self.alerts += later.alerts
        self.hard += later.hard
        self.soft += later.soft
        self.notifications += later.notifications
        self.flapping += later.flapping
        self.problems += later.problems
        self.recovered_soon += later.recovered_soon
        for state, count in later.states.items():
            self.states[state] = self.states.get(state, 0) + count
        self.times += later.times
        if self.open_since < 0 or later.first_ok < 0:
            if self.open_since < 0:
                self.open_since, self.acknowledged = later.open_since, later.acknowledged
            else:  # still open, no alert in the later part; perhaps acknowledged there
                self.acknowledged = self.acknowledged or later.acknowledged
            return
        self._join(later, window)

    def _join(self, later: ServiceTally, window: float) -> None:
        """A problem open at the end of this part, and the later part's first alert: it ends
        the problem (good) or goes on with it (bad), which the later part counted as new."""
        acked = self.acknowledged or later.ack_before_first
        if later.first_ok == 1:
            self.recovered_soon += later.first_time - self.open_since <= window and not acked
        else:
            self.problems -= 1
            if later.first_close < 0:  # the problem is still open at the end of the later part
                self.acknowledged = acked or later.acknowledged
                return
            self.recovered_soon -= later.first_close_counted
            acked = acked or later.first_problem_acked
            self.recovered_soon += later.first_close - self.open_since <= window and not acked
        self.open_since, self.acknowledged = later.open_since, later.acknowledged


_FAST_ALERT = "] SERVICE ALERT: "  # after a 10-digit timestamp: the common line, read inline


@dataclass
class Tally:
    """Counts over every line read; feed it with ``add_log`` (oldest file first)."""

    recovery_window: float
    lines: int = 0
    malformed: int = 0
    examples: list[tuple[str, int, str]] = field(default_factory=list)
    cut_files: list[str] = field(default_factory=list)
    services: dict[tuple[str, str], ServiceTally] = field(default_factory=dict)
    hosts: dict[str, ServiceTally] = field(default_factory=dict)

    def add_log(self, log: LogText) -> None:
        if log.cut:
            self.cut_files.append(log.path)
        self.add_text(log.text, log.path)

    def absorb(self, later: Tally) -> None:
        """Add the tally of the part of the log that follows this one's."""
        self.lines += later.lines
        self.malformed += later.malformed
        self.examples = (self.examples + later.examples)[:MAX_EXAMPLES]
        self.cut_files += later.cut_files
        for mine, theirs in ((self.services, later.services), (self.hosts, later.hosts)):
            for key, tally in theirs.items():
                if key in mine:
                    mine[key].absorb(tally, self.recovery_window)  # type: ignore[index]
                else:
                    mine[key] = tally  # type: ignore[index]

    def add_text(self, text: str, path: str, first_line: int = 1) -> None:
        """Count every line of one file (in time order, after the files before it).

        The common line, a well-formed SERVICE ALERT with a 10-digit timestamp, is read here
        without building an Entry (the same rules as logparse); every other line goes through
        the full parser. One pass, in order: an acknowledgement must fall between the start and
        the end of the problem it acknowledges."""
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        self.lines += len(lines)
        services, window, other = self.services, self.recovery_window, self._other_line
        handlers = self._handlers()
        for number, line in enumerate(lines, first_line):
            parts = line[28:].split(";", 5) if line[11:28] == _FAST_ALERT else ()
            if len(parts) == 6:
                host, service, state, kind, attempt, _ = parts
                stamp = line[1:11]
                if (
                    state in SERVICE_STATES
                    and kind in STATE_TYPES
                    and host
                    and service
                    and attempt.isdecimal()
                    and len(attempt) < 6
                    and stamp.isdecimal()
                    and line[0] == "["
                ):
                    tally = services.get((host, service)) or self._service(host, service)
                    tally.alert(int(stamp), state, kind, "OK", window)
                    continue
            other(line, path, number, handlers)

    def _other_line(self, line: str, path: str, number: int, handlers: dict[str, _Handler]) -> None:
        parsed = parse_line(line)
        if type(parsed) is Entry:
            handler = handlers.get(parsed.kind)
            if handler is not None:
                handler(parsed)
        elif type(parsed) is Malformed:
            self._malformed(path, number, parsed.reason)

    def _handlers(self) -> dict[str, _Handler]:
        return {
            SERVICE_ALERT: self._service_alert,
            HOST_ALERT: self._host_alert,
            SERVICE_NOTIFICATION: self._notification,
            HOST_NOTIFICATION: self._notification,
            SERVICE_FLAPPING: self._flapping,
            HOST_FLAPPING: self._flapping,
            ACKNOWLEDGEMENT: self._acknowledged,
        }

    def _malformed(self, path: str, number: int, reason: str) -> None:
        self.malformed += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append((path, number, reason))

    def _service(self, host: str, service: str) -> ServiceTally:
        key = (host, service)
        tally = self.services.get(key)
        if tally is None:
            tally = self.services[key] = ServiceTally(host, service)
        return tally

    def _host(self, host: str) -> ServiceTally:
        tally = self.hosts.get(host)
        if tally is None:
            tally = self.hosts[host] = ServiceTally(host, "")
        return tally

    def _of(self, entry: Entry) -> ServiceTally:
        return self._service(entry.host, entry.service) if entry.service else self._host(entry.host)

    def _count(self, tally: ServiceTally, when: int, state: str, kind: str, good: str) -> None:
        tally.alert(when, state, kind, good, self.recovery_window)

    def _service_alert(self, entry: Entry) -> None:
        self._count(self._of(entry), entry.time, entry.state, entry.state_type, "OK")

    def _host_alert(self, entry: Entry) -> None:
        self._count(self._of(entry), entry.time, entry.state, entry.state_type, "UP")

    def _notification(self, entry: Entry) -> None:
        tally = self._of(entry)
        tally.notifications += 1
        if entry.detail == "ACKNOWLEDGEMENT":
            tally.acknowledged = True

    def _flapping(self, entry: Entry) -> None:
        if entry.detail == "STARTED":
            self._of(entry).flapping += 1

    def _acknowledged(self, entry: Entry) -> None:
        self._of(entry).acknowledged = True


# --- several processes -------------------------------------------------------------------------

PARALLEL_BYTES = 16 << 20  # below this, starting processes costs more than it saves
_WORK: list[tuple[str, str, int]] = []  # (path, text, first line): the parts, shared by fork


def tally_logs(logs: list[LogText], window: float, workers: int = 1) -> Tally:
    """Every log counted, oldest first. With ``workers`` above 1 (0: one per CPU), a large input
    is cut into parts at line ends, counted by that many processes and joined in order
    (Tally.absorb gives exactly what one pass counts). Worth it on an idle machine with cores to
    spare; on a busy one the processes only add the cost of carrying their counts back."""
    workers = workers or len(os.sched_getaffinity(0))
    total = sum(len(log.text) for log in logs)
    if workers < 2 or total < PARALLEL_BYTES:
        tally = Tally(window)
        for log in logs:
            tally.add_log(log)
        return tally
    import multiprocessing

    _WORK[:] = [
        part for log in logs for part in _parts(log, max(1, workers * len(log.text) // total))
    ]
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            tallies = pool.map(partial(_tally_part, window), range(len(_WORK)))
    finally:
        _WORK.clear()
    merged = Tally(window, cut_files=[log.path for log in logs if log.cut])
    for part in tallies:
        merged.absorb(part)
    return merged


def _parts(log: LogText, count: int) -> list[tuple[str, str, int]]:
    """The text of one log in ``count`` parts cut after a newline, with their first line."""
    text, parts, start, line = log.text, [], 0, 1
    for i in range(1, count + 1):
        end = len(text) if i == count else text.find("\n", len(text) * i // count) + 1
        if end <= start:
            continue
        parts.append((log.path, text[start:end], line))
        line += text.count("\n", start, end)
        start = end
    return parts


def _tally_part(window: float, index: int) -> Tally:
    path, text, first_line = _WORK[index]
    tally = Tally(window)
    tally.add_text(text, path, first_line)
    return tally


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


@dataclass(frozen=True)
class ServiceRow:
    host: str
    service: str
    alerts: int
    hard: int
    soft: int
    notifications: int
    flapping: int
    problems: int
    recovered_soon: int
    per_day: float
    states: Mapping[str, int]

    @property
    def recovered_share(self) -> float:
        """The share of problems that ended by themselves within the window (0 without any)."""
        return self.recovered_soon / self.problems if self.problems else 0.0


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
    where (host and service alerts both count in when and where; by service only the first)."""
    where = where or Where()
    every = [*tally.services.values(), *tally.hosts.values()]
    hours: Counter[int] = Counter()
    to_hour = HOUR.__rfloordiv__  # t -> t // HOUR, called from C by map (a million times)
    for item in every:
        hours.update(map(to_hour, item.times))
    first = min((min(t.times) for t in every if t.times), default=-1)
    last = max((max(t.times) for t in every if t.times), default=-1)
    days = _days(first, last)
    services = _rows(tally.services.values(), days)
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
        hosts=_rows(tally.hosts.values(), days),
        by_service=_ranked(_sum_by(services, lambda row: (row.service,))),
        by_hour=_hours(hours),
        by_day=tuple(sorted(_by_day(hours).items())),
        by_cell=_ranked(_sum_by(every, lambda t: _cell(where, t.host))),
        by_hostgroup=_ranked(_sum_by(every, lambda t: where.hostgroups.get(t.host, ()))),
        timeline=_series(hours),
        service_timelines={
            (row.host, row.service): _series(
                Counter(map(to_hour, tally.services[(row.host, row.service)].times))
            )
            for row in services[:top_timelines]
            if row.alerts
        },
    )


def _cell(where: Where, host: str) -> tuple[str, ...]:
    cell = where.cell_of(host)
    return (cell,) if cell else ()


def _sum_by(
    items: Iterable[ServiceTally | ServiceRow], keys: Callable[[Any], Iterable[str]]
) -> Counter[str]:
    counts: Counter[str] = Counter()
    for item in items:
        if item.alerts:
            for key in keys(item):
                counts[key] += item.alerts
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


def _days(first: int, last: int) -> float:
    """The span the alerts cover, in days; at least one hour, so a short log is not inflated."""
    if first < 0:
        return 0.0
    return max(last - first, HOUR) / DAY


def _rows(tallies: Iterable[ServiceTally], days: float) -> tuple[ServiceRow, ...]:
    rows = [
        ServiceRow(
            host=t.host,
            service=t.service,
            alerts=t.alerts,
            hard=t.hard,
            soft=t.soft,
            notifications=t.notifications,
            flapping=t.flapping,
            problems=t.problems,
            recovered_soon=t.recovered_soon,
            per_day=t.alerts / days if days else 0.0,
            states=dict(sorted(t.states.items())),
        )
        for t in tallies
    ]
    rows.sort(key=lambda r: (-r.alerts, -r.notifications, -r.flapping, r.host, r.service))
    return tuple(rows)


def _ranked(counts: Counter[str]) -> tuple[tuple[str, int], ...]:
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
