"""Every service's and host's alerts and acknowledgements as columns, counted at once by numpy.

The scan of the log (alerts_tally.py) hands over the events of many lines at a time as two
columns: when, and who and what in one number (``id * len(EVENTS) + code``: an id per service
or host, the code of what happened from ``EVENTS``). Nothing
is counted while the log is read: ``Counted`` counts the whole columns at once, problems and
recoveries included (each service's events put in order by a stable sort, then compared with
the one before), so no Python runs per alert.

A *problem* starts with an alert that is not OK (UP for a host) while the service was OK (or
unknown to the log so far) and ends with the alert that says OK. A problem that ended within the
recovery window with nobody acknowledging it *recovered by itself*.

A log counted in parts (by several processes) is joined by appending each part's columns to the
one before (its ids renumbered): the count runs once over the whole, so a problem that spans a
cut is counted exactly as one pass counts it.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable
from functools import partial
from itertools import compress, repeat
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from stackwatch.nagios.logparse import HOST_STATES, SERVICE_STATES

HOUR = 3600
DAY = 86400

# What an event was: an acknowledgement (0), or an alert's (state, state type); the good states
# (OK, UP) first, so that "good" is a range of codes.
_GOOD_STATES = ("OK", "UP")
EVENTS: tuple[tuple[str, str], ...] = (
    ("ACK", ""),
    *((state, kind) for state in _GOOD_STATES for kind in ("HARD", "SOFT")),
    *(
        (state, kind)
        for state in sorted((SERVICE_STATES | HOST_STATES) - set(_GOOD_STATES))
        for kind in ("HARD", "SOFT")
    ),
)
ACK = 0
LAST_GOOD = 2 * len(_GOOD_STATES)  # codes 1..LAST_GOOD are OK / UP
CODE = {event: code for code, event in enumerate(EVENTS)}
CODES = len(EVENTS)
BYTE_CODE = {  # b"STATE;TYPE" as the log writes it -> code
    f"{state};{kind}".encode(): code for (state, kind), code in CODE.items() if kind
}
assert all(kind == "HARD" for _, kind in EVENTS[1::2])  # Counted.rows counts on it
_STATES = tuple(state for state, _ in EVENTS[1::2])  # the state of codes 2k+1 and 2k+2
_BY_NAME = sorted(range(len(_STATES)), key=_STATES.__getitem__)
_NAMES = tuple(_STATES[i] for i in _BY_NAME)
_SPAN_BINS = 24 * 366 * 10  # hours counted in one array when the alerts span less than this

Ints = npt.NDArray[np.int64]


class ServiceRow(NamedTuple):
    """What the log says about one service (or, with service "", one host). (A named tuple:
    one is made per service and host for every report, tens of thousands.)"""

    host: str
    service: str
    alerts: int
    hard: int
    soft: int
    notifications: int
    flapping: int  # times it started flapping
    problems: int
    recovered_soon: int  # problems that ended within the window, unacknowledged
    per_day: float  # alerts a day over the span of the whole log's alerts
    states: dict[str, int]  # alerts by state, HARD and SOFT together, by name
    open_since: int = -1  # start of the problem in progress at the end (-1: none)
    acknowledged: bool = False  # ... and whether someone acknowledged it

    @property
    def recovered_share(self) -> float:
        """The share of problems that ended by themselves within the window (0 without any)."""
        return self.recovered_soon / self.problems if self.problems else 0.0


class Events:
    """Every alert and acknowledgement of every service and host, in log order per id."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.names: list[tuple[str, str]] = []  # id -> (host, service); service "" for a host
        self.ids: dict[tuple[str, str], int] = {}
        self.coded = array("q")  # the columns: id * len(EVENTS) + code,
        self.when = array("q")  # and time of every event
        self.notifications: Counter[int] = Counter()  # id -> notifications
        self.flapping: Counter[int] = Counter()  # id -> times it started flapping
        self._counted: Counted | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Sent to another process: the names and columns (the ids are the names' positions)."""
        return {**self.__dict__, "ids": None, "_counted": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.ids = {name: i for i, name in enumerate(self.names)}

    def id_of(self, host: str, service: str) -> int:
        found = self.ids.get((host, service))
        if found is None:
            found = self.ids[(host, service)] = len(self.names)
            self.names.append((host, service))
        return found

    def add(self, coded: array[int], when: array[int] | npt.NDArray[np.int64]) -> None:
        """Events of many lines at once, in log order (per id)."""
        self.coded += coded
        self.when.frombytes(when.tobytes())
        self._counted = None

    def add_one(self, who: int, when: int, what: int) -> None:
        self.coded.append(who * CODES + what)
        self.when.append(when)
        self._counted = None

    def absorb(self, later: Events) -> None:
        """Append the events of the part of the log that follows this one's."""
        remap = np.array([self.id_of(*name) for name in later.names], dtype=np.int64)
        coded = np.frombuffer(later.coded, dtype=np.int64)
        self.coded.frombytes((remap[coded // CODES] * CODES + coded % CODES).tobytes())
        self.when += later.when
        for mine, theirs in ((self.notifications, later.notifications),
                             (self.flapping, later.flapping)):  # fmt: skip
            for j, count in theirs.items():
                mine[int(remap[j])] += count
        self._counted = None

    def counted(self) -> Counted:
        if self._counted is None or self._counted.seen != (len(self.when), len(self.names)):
            self._counted = Counted(self)
        return self._counted

    @property
    def hours(self) -> dict[int, int]:
        """Alerts (not acknowledgements) by hour: t // HOUR -> alerts."""
        return self.counted().hours

    def first_last(self) -> tuple[int, int]:
        """The first and last time of an alert (-1, -1: none)."""
        return self.counted().first_last

    def times_of(self, wanted: Iterable[int]) -> dict[int, list[int]]:
        """The alert times of a few ids."""
        ids = np.fromiter(wanted, dtype=np.int64)
        if not len(ids):
            return {}
        who, when, what = _columns(self)
        picked = np.isin(who, ids) & (what != ACK)
        times: dict[int, list[int]] = {int(i): [] for i in ids}
        for i, t in zip(who[picked].tolist(), when[picked].tolist(), strict=True):
            times[i].append(t)
        return times

    def rows(self, days: float) -> list[ServiceRow]:
        """Every service and host, in the order first seen; ``days``: the span of the report."""
        return self.counted().rows(self, days)


def _columns(events: Events) -> tuple[Ints, Ints, Ints]:
    """Who, when and what of every event."""
    coded = np.frombuffer(events.coded, dtype=np.int64)
    return coded // CODES, np.frombuffer(events.when, dtype=np.int64), coded % CODES


class Counted:
    """The columns of ``Events`` counted: by id and code, by hour, and the problems."""

    def __init__(self, events: Events) -> None:
        self.seen = (len(events.when), len(events.names))  # what it counted: events, ids
        who, when, what = _columns(events)
        ids = len(events.names)
        coded = np.frombuffer(events.coded, dtype=np.int64)
        self.by_code = np.bincount(coded, minlength=ids * CODES).reshape(ids, CODES)
        alert_times = when[what != ACK]
        self.hours = _by_hour(alert_times)
        self.first_last = (
            (int(alert_times.min()), int(alert_times.max())) if len(alert_times) else (-1, -1)
        )
        self.problems, self.recovered, self.open_since, self.acked = _problems(
            who, when, what, ids, events.window
        )

    def rows(self, events: Events, days: float) -> list[ServiceRow]:
        by_code = self.by_code
        hard = by_code[:, 1::2]
        soft = by_code[:, 2::2]
        hard_alerts, soft_alerts = hard.sum(axis=1), soft.sum(axis=1)
        alerts = hard_alerts + soft_alerts
        per_day = alerts / days if days else np.zeros(len(alerts))
        hosts, services = zip(*events.names, strict=True) if events.names else ((), ())
        columns = zip(
            hosts,
            services,
            alerts.tolist(),
            hard_alerts.tolist(),
            soft_alerts.tolist(),
            _per_id(events.notifications, len(events.names)),
            _per_id(events.flapping, len(events.names)),
            self.problems.tolist(),
            self.recovered.tolist(),
            per_day.tolist(),
            list(map(_by_name, (hard + soft)[:, _BY_NAME].tolist())),
            self.open_since.tolist(),
            self.acked.tolist(),
            strict=True,
        )
        return list(map(_NEW_ROW, columns))  # each row made by C code, not a Python __new__


_NEW_ROW = partial(tuple.__new__, ServiceRow)


def _by_name(counts: list[int]) -> dict[str, int]:
    """Alerts by state name, of the states that have any."""
    return dict(compress(zip(_NAMES, counts), counts))  # noqa: B905 (zip: as long as _NAMES)


def _per_id(counts: Counter[int], ids: int) -> list[int]:
    """A count for every id, 0 for those ``counts`` lacks."""
    return list(map(counts.get, range(ids), repeat(0)))


def span_days(first: int, last: int) -> float:
    """The span alerts from ``first`` to ``last`` cover, in days; at least an hour, so that a short
    log is not inflated (0 without any alert)."""
    if first < 0:
        return 0.0
    return max(last - first, HOUR) / DAY


def _by_hour(times: Ints) -> dict[int, int]:
    if not len(times):
        return {}
    hours = times // HOUR
    low = int(hours.min())
    if int(hours.max()) - low < _SPAN_BINS:
        counts = np.bincount(hours - low)
        found = np.flatnonzero(counts)
        return dict(zip((found + low).tolist(), counts[found].tolist(), strict=True))
    values, counts = np.unique(hours, return_counts=True)
    return dict(zip(values.tolist(), counts.tolist(), strict=True))


def _any_between(marks: Ints, after: Ints, before: Ints) -> npt.NDArray[np.bool_]:
    """Whether any of the sorted positions ``marks`` lies between each ``after`` and ``before``
    (both excluded; ``after`` is never a mark)."""
    return np.searchsorted(marks, before) > np.searchsorted(marks, after)


def _problems(
    who: Ints, when: Ints, what: Ints, ids: int, window: float
) -> tuple[Ints, Ints, Ints, npt.NDArray[np.bool_]]:
    """Per id: problems, problems that recovered by themselves, the start of the problem open at
    the end (-1: none) and whether it was acknowledged. Each id's events are put together in log
    order (a stable sort); an alert starts a problem when it is bad and the alert before it of
    the same id was not, and ends one when it is good and the one before was bad; the problem an
    end closes is the latest start before it; acknowledged when an acknowledgement lies between."""
    order = np.argsort(who.astype(np.uint16) if ids <= 1 << 16 else who, kind="stable")  # radix
    is_ack = what[order] == ACK
    acks = np.flatnonzero(is_ack)  # where the acknowledgements are, in that order
    at = np.flatnonzero(~is_ack) if len(acks) else np.arange(len(order))  # and the alerts
    alerts = order[at]
    a_who, a_when, bad = who[alerts], when[alerts], what[alerts] > LAST_GOOD
    new_id = np.ones(len(at), dtype=bool)
    new_id[1:] = a_who[1:] != a_who[:-1]
    after_bad = np.zeros(len(at), dtype=bool)
    after_bad[1:] = bad[:-1]
    after_bad &= ~new_id
    starts = bad & ~after_bad
    latest_start = np.maximum.accumulate(np.where(starts, np.arange(len(at)), -1))
    ends = np.flatnonzero(~bad & after_bad)
    began = latest_start[ends]
    acked = _any_between(acks, at[began], at[ends])
    soon = (a_when[ends] - a_when[began] <= window) & ~acked
    last_of_id = np.ones(len(at), dtype=bool)
    last_of_id[:-1] = new_id[1:]
    still_open = np.flatnonzero(last_of_id & bad)
    open_ids, open_start = a_who[still_open], latest_start[still_open]
    open_since = np.full(ids, -1, dtype=np.int64)
    open_since[open_ids] = a_when[open_start]
    after_last = np.cumsum(np.bincount(who, minlength=ids))  # where each id's events end
    open_acked = np.zeros(ids, dtype=bool)
    open_acked[open_ids] = _any_between(acks, at[open_start], after_last[open_ids])
    return (
        np.bincount(a_who[starts], minlength=ids),
        np.bincount(a_who[ends[soon]], minlength=ids),
        open_since,
        open_acked,
    )
