"""Every service's and host's alerts and acknowledgements as columns, counted in bulk.

The scan of the log (alerts_tally.py) hands over the alerts of many lines at once as three
columns: who (an id per service or host), when, and what (a one-byte code, ``EVENTS``). What can
be counted in any order is counted by C code over the columns (hours by bisection);
only what needs the order, problems and their recoveries, is followed event by event, and only
with list look-ups by id.

A *problem* starts with an alert that is not OK (UP for a host) while the service was OK (or
unknown to the log so far) and ends with the alert that says OK. A problem that ended within the
recovery window with nobody acknowledging it *recovered by itself*.

A log may be counted in parts (by several processes) that are joined in order: each part starts
as if every service were OK, and keeps, besides its counts, its *head* (what happened until each
service's first OK), which is all ``join`` needs to count a problem that spans the cut exactly as
one pass would.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable
from itertools import compress
from operator import add
from typing import Any, NamedTuple

from stackwatch.nagios.logparse import HOST_STATES, SERVICE_STATES

HOUR = 3600

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
BYTE_CODE = {  # b"STATE;TYPE" as the log writes it -> code
    f"{state};{kind}".encode(): code for (state, kind), code in CODE.items() if kind
}
HARD = frozenset(code for (_, kind), code in CODE.items() if kind == "HARD")
assert set(range(1, len(EVENTS), 2)) == HARD  # Events._tally counts on it
_STATES = tuple(state for state, _ in EVENTS[1::2])  # the state of codes 2k+1 and 2k+2
_COUNTS = 8  # where a run's counts by code start (after the fields of Run)
_NEW_RUN = [0, 0, -1, False, -1, False, -1, False] + [0] * len(EVENTS)


class Run(NamedTuple):
    """Where one service's problems stand after a stretch of the log that started with it OK.

    ``open_since`` is the start of the problem still open at the end (-1: none), ``acked``
    whether someone acknowledged that one. The head: ``first_good`` the time of the first OK
    alert (-1: none yet), ``first_soon`` whether it ended a problem by itself, ``first_start``
    the start of a problem that began before it (-1: none), ``head_acked`` whether an
    acknowledgement came before it.
    """

    problems: int = 0
    recovered: int = 0
    open_since: int = -1
    acked: bool = False
    first_good: int = -1
    first_soon: bool = False
    first_start: int = -1
    head_acked: bool = False


def join(first: Run, then: Run, window: float) -> Run:
    """The run of ``first`` followed by ``then`` (counted on its own as if starting OK)."""
    if first.open_since < 0:  # closed: ``then`` started where it was counted from
        head = first if first.first_good >= 0 else _head_after(first, then, then.first_soon)
        return _with(head, first.problems + then.problems, first.recovered + then.recovered,
                     then.open_since, then.acked)  # fmt: skip
    problems = first.problems + then.problems - (then.first_start >= 0)  # the same problem
    if then.first_good < 0:  # still open at the end of ``then``
        head = first if first.first_good >= 0 else _head_after(first, then, False)
        return _with(head, problems, first.recovered, first.open_since,
                     first.acked or then.head_acked)  # fmt: skip
    soon = then.first_good - first.open_since <= window and not (first.acked or then.head_acked)
    recovered = first.recovered + then.recovered - then.first_soon + soon
    head = first if first.first_good >= 0 else _head_after(first, then, soon)
    return _with(head, problems, recovered, then.open_since, then.acked)


def _head_after(first: Run, then: Run, soon: bool) -> Run:
    """The head of ``first`` (no OK in it) continued by ``then``'s."""
    return Run(
        first_good=then.first_good,
        first_soon=soon,
        first_start=first.first_start if first.first_start >= 0 else then.first_start,
        head_acked=first.head_acked or then.head_acked,
    )


def _with(head: Run, problems: int, recovered: int, open_since: int, acked: bool) -> Run:
    return Run(problems, recovered, open_since, acked and open_since >= 0, head.first_good,
               head.first_soon, head.first_start, head.head_acked)  # fmt: skip


class ServiceTally(NamedTuple):
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
    states: dict[str, int]  # alerts by state, HARD and SOFT together
    open_since: int  # start of the problem in progress at the end (-1: none)
    acknowledged: bool  # ... and whether someone acknowledged it


class Events:
    """Every alert and acknowledgement of every service and host, in log order per id."""

    def __init__(self, window: float, keep: bool = True) -> None:
        self.window = window
        self.keep = keep  # keep the columns (for times_of: the picture's timelines)
        self.names: list[tuple[str, str]] = []  # id -> (host, service); service "" for a host
        self.ids: dict[tuple[str, str], int] = {}
        self.who = array("i")  # the columns: id,
        self.when = array("q")  # time,
        self.what = bytearray()  # and code of every event
        # id -> its run (the fields of Run, in order) and then its events by code: one short
        # list per id, so that the event loop touches one place in memory per event
        self.runs: list[list[int]] = []
        self.hours: Counter[int] = Counter()  # t // HOUR -> alerts
        self.first = self.last = -1  # the time of the first and last alert
        self.notifications: Counter[int] = Counter()  # id -> notifications
        self.flapping: Counter[int] = Counter()  # id -> times it started flapping

    def __getstate__(self) -> dict[str, Any]:
        """Sent to another process: the names only (the ids are their positions)."""
        return {**self.__dict__, "ids": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.ids = {name: i for i, name in enumerate(self.names)}

    def id_of(self, host: str, service: str) -> int:
        found = self.ids.get((host, service))
        if found is None:
            found = self.ids[(host, service)] = len(self.names)
            self.names.append((host, service))
            self.runs.append(_NEW_RUN[:])
        return found

    def add(self, who: array[int], when: array[int], what: bytes) -> None:
        """Events of many lines at once, in log order (per id)."""
        if self.keep:
            self.who += who
            self.when += when
            self.what += what
        self._count_hours(sorted(compress(when, what)))  # alerts, not acknowledgements
        self._follow(who, when, what)

    def add_one(self, who: int, when: int, what: int) -> None:
        self.add(array("i", (who,)), array("q", (when,)), bytes((what,)))

    def _follow(self, who: Iterable[int], when: Iterable[int], what: Iterable[int]) -> None:
        """Problems and recoveries, event by event: the one loop that needs the order (the
        fields of Run by their index in a run: 0 problems, 1 recovered, 2 open_since, 3 acked,
        4 first_good, 5 first_soon, 6 first_start, 7 head_acked)."""
        window, runs = self.window, self.runs
        for i, t, code in zip(who, when, what, strict=True):
            run = runs[i]
            run[_COUNTS + code] += 1
            if code > LAST_GOOD:
                if run[2] < 0:
                    if run[4] < 0 and not run[0]:
                        run[6] = t
                    run[2], run[3] = t, False
                    run[0] += 1
            elif code:
                start = run[2]
                soon = start >= 0 and t - start <= window and not run[3]
                if start >= 0:
                    run[1] += soon
                    run[2], run[3] = -1, False
                if run[4] < 0:
                    run[4], run[5] = t, soon
            else:
                run[3] = True
                if run[4] < 0:
                    run[7] = True

    def run(self, i: int) -> Run:
        problems, recovered, open_since, acked, *head = self.runs[i][:_COUNTS]
        return Run(problems, recovered, open_since, bool(acked) and open_since >= 0,
                   head[0], bool(head[1]), head[2], bool(head[3]))  # fmt: skip

    def absorb(self, later: Events) -> None:
        """Append the events of the part of the log that follows this one's."""
        remap = [self.id_of(*name) for name in later.names]
        self._join_runs(later, remap)
        if self.keep:
            self.who += array("i", map(remap.__getitem__, later.who))
            self.when += later.when
            self.what += later.what
        self.hours.update(later.hours)
        if later.first >= 0:
            self.first = min(self.first, later.first) if self.first >= 0 else later.first
            self.last = max(self.last, later.last)
        for mine, theirs in ((self.notifications, later.notifications),
                             (self.flapping, later.flapping)):  # fmt: skip
            for j, count in theirs.items():
                mine[remap[j]] += count

    def _join_runs(self, later: Events, remap: list[int]) -> None:
        """Every run of ``later`` after this one's; the common case (no problem open here, the
        head already seen) by adding, the others by ``join``."""
        runs, window = self.runs, self.window
        for j, i in enumerate(remap):
            mine, theirs = runs[i], later.runs[j]
            counts = list(map(add, mine[_COUNTS:], theirs[_COUNTS:]))
            if mine[2] < 0 and mine[4] >= 0:
                mine[:4] = [mine[0] + theirs[0], mine[1] + theirs[1], theirs[2], theirs[3]]
            else:
                mine[:_COUNTS] = list(join(self.run(i), later.run(j), window))
            mine[_COUNTS:] = counts

    def _count_hours(self, times: list[int]) -> None:
        """Alerts per hour, and the first and last, from the sorted times of a few thousand
        alerts (that mostly fall within a few hours: one bisection per hour, not per alert)."""
        if not times:
            return
        hours, start, end = self.hours, 0, len(times)
        while start < end:
            hour = times[start] // HOUR
            stop = bisect_left(times, (hour + 1) * HOUR, start)
            hours[hour] += stop - start
            start = stop
        self.first = min(self.first, times[0]) if self.first >= 0 else times[0]
        self.last = max(self.last, times[-1])

    def first_last(self) -> tuple[int, int]:
        """The first and last time of an alert (-1, -1: none)."""
        return self.first, self.last

    def times_of(self, wanted: Iterable[int]) -> dict[int, list[int]]:
        """The alert times of a few ids (a pass over every event: for a few only)."""
        times: dict[int, list[int]] = {i: [] for i in wanted}
        where = compress(range(len(self.who)), map(times.__contains__, self.who))
        for k in where:
            if self.what[k]:
                times[self.who[k]].append(self.when[k])
        return times

    def tallies(self) -> list[ServiceTally]:
        """Every service and host, in the order first seen."""
        return [self._tally(i, host, service) for i, (host, service) in enumerate(self.names)]

    def _tally(self, i: int, host: str, service: str) -> ServiceTally:
        run = self.runs[i]
        alerts = sum(run[_COUNTS + 1 :])
        hard = sum(run[_COUNTS + 1 :: 2])  # HARD and SOFT alternate, HARD first
        by_state = map(add, run[_COUNTS + 1 :: 2], run[_COUNTS + 2 :: 2])
        states = {state: n for state, n in zip(_STATES, by_state, strict=True) if n}
        return ServiceTally(host, service, alerts, hard, alerts - hard, self.notifications[i],
                            self.flapping[i], run[0], run[1], states, run[2],
                            bool(run[3]) and run[2] >= 0)  # fmt: skip
