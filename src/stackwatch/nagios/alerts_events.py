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
from typing import Any, NamedTuple

from stackwatch.core.record import dataclass
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
CODE_BITS = 5  # (id << CODE_BITS) | code: one place per (service, event kind) in Events.counts
assert len(EVENTS) <= 1 << CODE_BITS
_NO_COUNTS = [0] * (1 << CODE_BITS)


@dataclass(frozen=True)
class Run:
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
        # events by id and kind: item (id << CODE_BITS) | code (a list the event loop adds to)
        self.counts: list[int] = []
        self.hours: Counter[int] = Counter()  # t // HOUR -> alerts
        self.first = self.last = -1  # the time of the first and last alert
        self.notifications: Counter[int] = Counter()  # id -> notifications
        self.flapping: Counter[int] = Counter()  # id -> times it started flapping
        # the runs, one item per id (lists: the event loop looks them up by index)
        self.problems: list[int] = []
        self.recovered: list[int] = []
        self.open_since: list[int] = []
        self.acked: list[bool] = []
        self.first_good: list[int] = []
        self.first_soon: list[bool] = []
        self.first_start: list[int] = []
        self.head_acked: list[bool] = []

    def __getstate__(self) -> dict[str, Any]:
        """Sent to another process: the counts as an array (one copy of its bytes), the names
        only (the ids are their positions)."""
        state = dict(self.__dict__)
        state["counts"], state["ids"] = array("q", self.counts), None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.counts = list(state["counts"])
        self.ids = {name: i for i, name in enumerate(self.names)}

    def id_of(self, host: str, service: str) -> int:
        found = self.ids.get((host, service))
        if found is None:
            found = self.ids[(host, service)] = len(self.names)
            self.names.append((host, service))
            for ints, empty in ((self.problems, 0), (self.recovered, 0), (self.open_since, -1),
                                (self.first_good, -1), (self.first_start, -1)):  # fmt: skip
                ints.append(empty)
            for flags in (self.acked, self.first_soon, self.head_acked):
                flags.append(False)
            self.counts += _NO_COUNTS
        return found

    def add(self, who: array[int], when: array[int], what: bytes) -> None:
        """Events of many lines at once, in log order (per id)."""
        if self.keep:
            self.who += who
            self.when += when
            self.what += what
        self._count_hours(sorted(compress(when, what)))  # alerts, not acknowledgements
        self._follow(who, when, what)

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

    def add_one(self, who: int, when: int, what: int) -> None:
        self.add(array("i", (who,)), array("q", (when,)), bytes((what,)))

    def _follow(self, who: Iterable[int], when: Iterable[int], what: Iterable[int]) -> None:
        """Problems and recoveries, event by event: the one loop that needs the order."""
        open_since, acked, problems, recovered = (
            self.open_since, self.acked, self.problems, self.recovered)  # fmt: skip
        first_good, first_soon, first_start, head_acked = (
            self.first_good, self.first_soon, self.first_start, self.head_acked)  # fmt: skip
        window, counts = self.window, self.counts
        for i, t, code in zip(who, when, what, strict=True):
            counts[(i << CODE_BITS) | code] += 1
            if code > LAST_GOOD:
                if open_since[i] < 0:
                    if first_good[i] < 0 and not problems[i]:
                        first_start[i] = t
                    open_since[i], acked[i] = t, False
                    problems[i] += 1
            elif code:
                start = open_since[i]
                soon = start >= 0 and t - start <= window and not acked[i]
                if start >= 0:
                    recovered[i] += soon
                    open_since[i], acked[i] = -1, False
                if first_good[i] < 0:
                    first_good[i], first_soon[i] = t, soon
            else:
                acked[i] = True
                if first_good[i] < 0:
                    head_acked[i] = True

    def run(self, i: int) -> Run:
        return Run(
            self.problems[i],
            self.recovered[i],
            self.open_since[i],
            self.acked[i] and self.open_since[i] >= 0,
            self.first_good[i],
            self.first_soon[i],
            self.first_start[i],
            self.head_acked[i],
        )

    def _set_run(self, i: int, run: Run) -> None:
        self.problems[i], self.recovered[i] = run.problems, run.recovered
        self.open_since[i], self.acked[i] = run.open_since, run.acked
        self.first_good[i], self.first_soon[i] = run.first_good, run.first_soon
        self.first_start[i], self.head_acked[i] = run.first_start, run.head_acked

    def absorb(self, later: Events) -> None:
        """Append the events of the part of the log that follows this one's."""
        remap = [self.id_of(*name) for name in later.names]
        self._join_runs(later, remap)
        if self.keep:
            self.who += array("i", map(remap.__getitem__, later.who))
            self.when += later.when
            self.what += later.what
        mask, counts = (1 << CODE_BITS) - 1, self.counts
        for code, count in later.codes().items():
            counts[(remap[code >> CODE_BITS] << CODE_BITS) | (code & mask)] += count
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
        open_since, first_good = self.open_since, self.first_good
        problems, recovered, acked = self.problems, self.recovered, self.acked
        for j, i in enumerate(remap):
            if open_since[i] < 0 and first_good[i] >= 0:
                problems[i] += later.problems[j]
                recovered[i] += later.recovered[j]
                open_since[i] = later.open_since[j]
                acked[i] = later.acked[j] and open_since[i] >= 0
            else:
                self._set_run(i, join(self.run(i), later.run(j), self.window))

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

    def codes(self) -> dict[int, int]:
        """The counts that are not 0: (id << CODE_BITS) | code -> events."""
        counts = self.counts
        return {code: counts[code] for code in compress(range(len(counts)), counts)}

    def tallies(self) -> list[ServiceTally]:
        """Every service and host, in the order first seen."""
        count = len(self.names)
        alerts, hard = [0] * count, [0] * count
        states: list[dict[str, int]] = [{} for _ in range(count)]
        mask = (1 << CODE_BITS) - 1
        for code, events in self.codes().items():
            i, kind = code >> CODE_BITS, code & mask
            if kind != ACK:
                alerts[i] += events
                hard[i] += events if kind in HARD else 0
                state = EVENTS[kind][0]
                states[i][state] = states[i].get(state, 0) + events
        notifications, flapping = self.notifications, self.flapping
        return [
            ServiceTally(
                host,
                service,
                alerts[i],
                hard[i],
                alerts[i] - hard[i],
                notifications[i],
                flapping[i],
                self.problems[i],
                self.recovered[i],
                states[i],
                self.open_since[i],
                self.acked[i] and self.open_since[i] >= 0,
            )
            for i, (host, service) in enumerate(self.names)
        ]
