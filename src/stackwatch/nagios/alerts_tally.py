"""nagios.log read into counts: the facts the alert report is made of.

``read_logs`` reads the files through the Host (archives ``.gz`` too, a cut archive read as far
as it goes), in the order of their first timestamp. ``Tally`` records, for every service and
host, the sequence of its alerts and acknowledgements (time and a one-byte code each) and counts
its notifications and flapping; ``ServiceTally.counts`` turns a sequence into alerts, HARD/SOFT,
states and problems, where order matters:

A *problem* starts with an alert that is not OK (UP for a host) while the service was OK (or
unknown to the log so far) and ends with the alert that says OK. A problem that ended within the
recovery window with nobody acknowledging it *recovered by itself*.

Speed: the log is read as bytes by one compiled pattern (``_SCAN``) that takes every line in
order. The common lines (a well-formed SERVICE ALERT, SERVICE NOTIFICATION that is not an
acknowledgement, CURRENT/INITIAL SERVICE STATE) are vouched for by the pattern itself, which
accepts exactly what logparse accepts for them and nothing else; every other line (a host line,
an acknowledgement, an odd or hostile line) is handed whole to logparse. Since every line is
taken in order, what the fast lines and the parsed lines record interleaves exactly as in the
log. A large log may be cut into parts at line ends and counted by several processes: a part's
sequences are appended to the previous part's, so the join is exactly one pass.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Callable, Iterable
from functools import partial

from stackwatch.core.host import Host, HostError
from stackwatch.core.record import dataclass, field
from stackwatch.nagios.logparse import (
    ACKNOWLEDGEMENT,
    HOST_ALERT,
    HOST_FLAPPING,
    HOST_NOTIFICATION,
    HOST_STATES,
    SERVICE_ALERT,
    SERVICE_FLAPPING,
    SERVICE_NOTIFICATION,
    SERVICE_STATES,
    Entry,
    Malformed,
    parse_line,
)

MAX_EXAMPLES = 10  # malformed lines quoted with their file and line number
SCAN_BLOCK = 256 << 10  # bytes of log matched at a time


class AlertsError(Exception):
    """A log that cannot be read at all (missing, unreadable): one line naming the file."""


@dataclass(frozen=True)
class LogText:
    path: str
    data: bytes
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
    return LogText(path, data, _first_time(data), cut)


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


_STAMP = re.compile(rb"^\[(\d{1,12})\] ", re.M)


def _first_time(data: bytes) -> int:
    match = _STAMP.search(data, 0, 1 << 16)
    return int(match.group(1)) if match else -1


# --- one service's sequence --------------------------------------------------------------------

# What an event of a sequence was: an acknowledgement, or an alert's (state, state type).
EVENTS: tuple[tuple[str, str], ...] = (
    ("ACK", ""),
    *((state, kind) for state in sorted(SERVICE_STATES | HOST_STATES) for kind in ("HARD", "SOFT")),
)
ACK = 0
_CODE = {event: code for code, event in enumerate(EVENTS)}
_BYTE_CODE = {
    (f"{state};{kind}" if kind else state).encode(): code for (state, kind), code in _CODE.items()
}
_GOOD = frozenset(code for (state, _), code in _CODE.items() if state in ("OK", "UP"))
_HARD = frozenset(code for (_, kind), code in _CODE.items() if kind == "HARD")
Found = tuple[bytes, ...]  # the groups of one line matched by _SCAN


@dataclass(frozen=True)
class Counts:
    """What one sequence says: computed once per length of the sequence."""

    events: int
    alerts: int
    hard: int
    soft: int
    problems: int
    recovered_soon: int  # problems that ended within the window, unacknowledged
    states: dict[str, int]
    times: list[int]  # of its alerts, for its own timeline
    open_since: int  # start of the problem in progress at the end (-1: none)
    acknowledged: bool  # ... and whether someone acknowledged it


@dataclass(slots=True, eq=False)
class ServiceTally:
    """What the log says about one service (or, with service "", one host), in log order."""

    host: str
    service: str
    window: float
    notifications: int = 0
    flapping: int = 0  # times it started flapping
    stamps: list[int] = field(default_factory=list)  # the time of each event ...
    marks: bytearray = field(default_factory=bytearray)  # ... and what it was (EVENTS)
    cached: Counts | None = None

    def alert(self, when: int, state: str, state_type: str) -> None:
        self.stamps.append(when)
        self.marks.append(_CODE[(state, state_type)])

    def acknowledge(self, when: int) -> None:
        self.stamps.append(when)
        self.marks.append(ACK)

    def absorb(self, later: ServiceTally) -> None:
        """Append the same service's tally of the part of the log that follows this one's."""
        self.notifications += later.notifications
        self.flapping += later.flapping
        self.stamps += later.stamps
        self.marks += later.marks

    def counts(self) -> Counts:
        if self.cached is None or self.cached.events != len(self.marks):
            self.cached = _counts(self.stamps, self.marks, self.window)
        return self.cached

    @property
    def alerts(self) -> int:
        return self.counts().alerts

    @property
    def hard(self) -> int:
        return self.counts().hard

    @property
    def soft(self) -> int:
        return self.counts().soft

    @property
    def problems(self) -> int:
        return self.counts().problems

    @property
    def recovered_soon(self) -> int:
        return self.counts().recovered_soon

    @property
    def states(self) -> dict[str, int]:
        return self.counts().states

    @property
    def times(self) -> list[int]:
        return self.counts().times

    @property
    def open_since(self) -> int:
        return self.counts().open_since

    @property
    def acknowledged(self) -> bool:
        return self.counts().acknowledged


def _counts(stamps: list[int], marks: bytearray, window: float) -> Counts:
    per_code = {code: marks.count(code) for code in set(marks)}
    acks = per_code.pop(ACK, 0)
    alerts = len(marks) - acks
    hard = sum(n for code, n in per_code.items() if code in _HARD)
    times = [t for t, m in zip(stamps, marks, strict=True) if m != ACK] if acks else stamps[:]
    problems, recovered, open_since, acked = _problems(stamps, marks, window)
    return Counts(
        events=len(marks),
        alerts=alerts,
        hard=hard,
        soft=alerts - hard,
        problems=problems,
        recovered_soon=recovered,
        states=_states(per_code),
        times=times,
        open_since=open_since,
        acknowledged=acked,
    )


def _states(per_code: dict[int, int]) -> dict[str, int]:
    """Alerts by state, HARD and SOFT together."""
    states: dict[str, int] = {}
    for code, count in per_code.items():
        state = EVENTS[code][0]
        states[state] = states.get(state, 0) + count
    return states


def _problems(stamps: list[int], marks: bytearray, window: float) -> tuple[int, int, int, bool]:
    """(problems, recovered by themselves, start of the one still open or -1, acknowledged)."""
    problems = recovered = 0
    open_since, acked, good = -1, False, _GOOD
    for when, mark in zip(stamps, marks, strict=True):
        if mark == ACK:
            acked = True
        elif mark not in good:
            if open_since < 0:
                open_since, acked = when, False
                problems += 1
        elif open_since >= 0:
            recovered += when - open_since <= window and not acked
            open_since, acked = -1, False
    return problems, recovered, open_since, acked


# --- every line --------------------------------------------------------------------------------

_STATE = rb"(?:OK|WARNING|CRITICAL|UNKNOWN);(?:HARD|SOFT)"
_SCAN = re.compile(
    rb"\n(?:"
    # 1-3: a SERVICE ALERT logparse accepts: time, host;service, state;type
    rb"\[(\d{1,12})\] SERVICE ALERT: ([^;\n]+;[^;\n]+);(" + _STATE + rb");\d{1,5};"
    # 4: a SERVICE NOTIFICATION with a plain state (not an acknowledgement): host;service
    rb"|\[\d{1,12}\] SERVICE NOTIFICATION: [^;\n]*;([^;\n]+;[^;\n]+);[A-Z]+;[^;\n]*;"
    # 5: a service that starts flapping: host;service
    rb"|\[\d{1,12}\] SERVICE FLAPPING ALERT: ([^;\n]+;[^;\n]+);STARTED;"
    # 6: lines logparse accepts that count for nothing but a line: current states, flapping
    # that stops, lines without a "kind: " (Auto-save of retention data...)
    rb"|(\[\d{1,12}\] (?:(?:CURRENT|INITIAL) SERVICE STATE: [^;\n]+;[^;\n]+;"
    + _STATE
    + rb";\d{1,5};|SERVICE FLAPPING ALERT: [^;\n]+;[^;\n]+;(?:STOPPED|DISABLED);"
    rb"|(?:[^:\n]|:(?! ))*+(?![^\n])))"
    # 7-9: a HOST ALERT logparse accepts: time, host, state;type
    rb"|\[(\d{1,12})\] HOST ALERT: ([^;\n]+);((?:UP|DOWN|UNREACHABLE);(?:HARD|SOFT));\d{1,5};"
    rb"|([^\n]*))"  # 10: any other line, whole, for logparse
)


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
    # b"host;service" -> its tally's stamps.append and marks.append (the scan's shortcut)
    columns: dict[bytes, tuple[Callable[[int], None], Callable[[int], None]]] = field(
        default_factory=dict, repr=False, compare=False
    )
    tallies: dict[bytes, ServiceTally] = field(default_factory=dict, repr=False, compare=False)

    def add_log(self, log: LogText) -> None:
        if log.cut:
            self.cut_files.append(log.path)
        self.add_data(log.data, log.path)

    def absorb(self, later: Tally) -> None:
        """Add the tally of the part of the log that follows this one's."""
        self.lines += later.lines
        self.malformed += later.malformed
        self.examples = (self.examples + later.examples)[:MAX_EXAMPLES]
        self.cut_files += later.cut_files
        for key, tally in later.services.items():
            self._service(*key).absorb(tally)
        for name, tally in later.hosts.items():
            self._host(name).absorb(tally)

    def add_text(self, text: str, path: str, first_line: int = 1) -> None:
        """Text as the bytes of a log file (a lone surrogate reads back as U+FFFD, as it would
        from a file)."""
        self.add_data(text.encode("utf-8", "surrogatepass"), path, first_line)

    def add_data(self, data: bytes, path: str, first_line: int = 1) -> None:
        """Count every line of a piece of a log (in time order, after the pieces before it)."""
        if not data:
            return
        last = len(data) - 1 if data.endswith(b"\n") else len(data)
        self.lines += data.count(b"\n", 0, last) + 1
        newline = data.find(b"\n", 0, last)
        self.add_line(_text(data[: newline if newline >= 0 else last]), path, first_line)
        number = first_line + 1
        while 0 <= newline < last:  # in blocks: the pattern's tuples are read while in cache
            end = data.find(b"\n", min(newline + SCAN_BLOCK, last), last)
            end = last if end < 0 else end
            found = _SCAN.findall(data, newline, end)
            self._scan(found, path, number)
            number += len(found)
            newline = end if end < last else -1

    def _scan(self, found: list[Found], path: str, first_line: int) -> None:
        """Lines in order: the common ones counted here (what logparse would say of them),
        every other one read by logparse."""
        columns, code_of, keyed, rarer = self.columns, _BYTE_CODE, self._keyed, self._rarer
        for number, item in enumerate(found, first_line):
            key = item[1]
            if key:
                stamps, marks = columns.get(key) or keyed(key)
                stamps(int(item[0]))
                marks(code_of[item[2]])
            elif not item[5]:  # (a line that counts for nothing else has group 6)
                rarer(item, path, number)

    def _rarer(self, item: Found, path: str, number: int) -> None:
        if item[3]:
            self._tally_of(item[3]).notifications += 1
        elif item[4]:
            self._tally_of(item[4]).flapping += 1
        elif item[7]:
            self._host(_text(item[7])).alert(int(item[6]), *_text(item[8]).split(";"))
        else:
            self.add_line(_text(item[9]), path, number)

    def _tally_of(self, key: bytes) -> ServiceTally:
        tally = self.tallies.get(key)
        if tally is None:
            host, _, service = key.partition(b";")
            tally = self.tallies[key] = self._service(_text(host), _text(service))
        return tally

    def _keyed(self, key: bytes) -> tuple[Callable[[int], None], Callable[[int], None]]:
        tally = self._tally_of(key)
        appenders = self.columns[key] = (tally.stamps.append, tally.marks.append)
        return appenders

    def add_line(self, line: str, path: str, number: int) -> None:
        """One line read by logparse, whatever it is."""
        parsed = parse_line(line)
        if type(parsed) is Entry:
            self._entry(parsed)
        elif type(parsed) is Malformed:
            self.malformed += 1
            if len(self.examples) < MAX_EXAMPLES:
                self.examples.append((path, number, parsed.reason))

    def _entry(self, entry: Entry) -> None:
        kind = entry.kind
        if kind in (SERVICE_ALERT, HOST_ALERT):
            self._of(entry).alert(entry.time, entry.state, entry.state_type)
        elif kind in (SERVICE_NOTIFICATION, HOST_NOTIFICATION):
            tally = self._of(entry)
            tally.notifications += 1
            if entry.detail == "ACKNOWLEDGEMENT":
                tally.acknowledge(entry.time)
        elif kind in (SERVICE_FLAPPING, HOST_FLAPPING):
            if entry.detail == "STARTED":
                self._of(entry).flapping += 1
        elif kind == ACKNOWLEDGEMENT:
            self._of(entry).acknowledge(entry.time)

    def _service(self, host: str, service: str) -> ServiceTally:
        key = (host, service)
        tally = self.services.get(key)
        if tally is None:
            tally = self.services[key] = ServiceTally(host, service, self.recovery_window)
        return tally

    def _host(self, host: str) -> ServiceTally:
        tally = self.hosts.get(host)
        if tally is None:
            tally = self.hosts[host] = ServiceTally(host, "", self.recovery_window)
        return tally

    def _of(self, entry: Entry) -> ServiceTally:
        return self._service(entry.host, entry.service) if entry.service else self._host(entry.host)


def _text(data: bytes) -> str:
    """Bytes of the log as logparse reads them (cut at ASCII ``;`` or newline, a piece decodes
    to the same characters as it does within the whole line)."""
    return data.decode("utf-8", "replace")


# --- several processes -------------------------------------------------------------------------

PARALLEL_BYTES = 16 << 20  # below this, starting processes costs more than it saves
_WORK: list[tuple[str, bytes, int]] = []  # (path, data, first line): the parts, shared by fork


def tally_logs(logs: list[LogText], window: float, workers: int = 1) -> Tally:
    """Every log counted, oldest first. With ``workers`` above 1 (0: one per CPU), a large input
    is cut into parts at line ends, counted by that many processes and joined in order
    (Tally.absorb gives exactly what one pass counts)."""
    workers = workers or len(os.sched_getaffinity(0))
    total = sum(len(log.data) for log in logs)
    if workers < 2 or total < PARALLEL_BYTES:
        tally = Tally(window)
        for log in logs:
            tally.add_log(log)
        return tally
    _WORK[:] = [
        part for log in logs for part in _parts(log, max(1, workers * len(log.data) // total))
    ]
    try:
        with Host().worker_pool(workers) as pool:
            tallies = list(pool.map(partial(_tally_part, window), range(len(_WORK))))
    finally:
        _WORK.clear()
    merged = Tally(window, cut_files=[log.path for log in logs if log.cut])
    for part in tallies:
        merged.absorb(part)
    return merged


def _parts(log: LogText, count: int) -> list[tuple[str, bytes, int]]:
    """The data of one log in ``count`` parts cut after a newline, with their first line."""
    data, parts, start, line = log.data, [], 0, 1
    for i in range(1, count + 1):
        end = len(data) if i == count else data.find(b"\n", len(data) * i // count) + 1
        if end <= start:
            continue
        parts.append((log.path, data[start:end], line))
        line += data.count(b"\n", start, end)
        start = end
    return parts


def _tally_part(window: float, index: int) -> Tally:
    path, data, first_line = _WORK[index]
    tally = Tally(window)
    tally.add_data(data, path, first_line)
    tally.columns.clear()  # bound methods do not travel; the parent joins by names
    tally.tallies.clear()
    return tally
