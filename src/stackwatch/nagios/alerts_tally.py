"""nagios.log read into counts: the facts the alert report is made of.

``read_logs`` reads the files through the Host (archives ``.gz`` too, a cut archive read as far
as it goes), in the order of their first timestamp. ``Tally`` reads every line and hands the
alerts and acknowledgements of every service and host to ``alerts_events.Events`` (which counts
them and follows problems and recoveries), with the notifications and flapping of each.

Speed: the log is read as bytes by one compiled pattern (``_SCAN``) that takes every line in
order, a block of lines at a time. The common lines (a well-formed SERVICE or HOST ALERT, a
SERVICE NOTIFICATION that is not an acknowledgement, flapping, CURRENT/INITIAL SERVICE STATE,
lines without a kind) are vouched for by the pattern itself, which accepts exactly what logparse
accepts for them and nothing else; every other line (an acknowledgement, another kind, an odd or
hostile line) is handed whole to logparse. The vouched-for alerts of a block go to Events as
columns built by C code (no Python per line); the rare other lines that matter to a problem (an
acknowledgement, an alert only logparse reads) cut the block where they stand, so the order of
every service's events is the log's. A large log may be cut into parts at line ends and counted
by several processes, joined in order (Events.absorb: exactly what one pass counts).
"""

from __future__ import annotations

import os
import re
import zlib
from array import array
from collections import Counter
from collections.abc import Callable, Iterable
from itertools import compress, count
from operator import add, itemgetter, not_
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from stackwatch.core.host import ForkedCall, Host, HostError
from stackwatch.core.record import dataclass
from stackwatch.nagios.alerts_events import (
    ACK,
    BYTE_CODE,
    CODE,
    CODES,
    Events,
    ServiceRow,
    span_days,
)
from stackwatch.nagios.logparse import (
    ACKNOWLEDGEMENT,
    HOST_ALERT,
    HOST_FLAPPING,
    HOST_NOTIFICATION,
    SERVICE_ALERT,
    SERVICE_FLAPPING,
    SERVICE_NOTIFICATION,
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
    data: bytes  # the whole text; b"" for a plain file left open, to be read in parts
    first_time: int  # the first timestamp in the file (-1: none), for ordering archives
    cut: bool  # a compressed archive that ends early (still being written, or damaged)
    handle: BinaryIO | None = None  # that open file (tally_logs reads and closes it)
    size: int = 0  # ... and its size when opened: what is counted of it


def read_logs(host: Host, paths: Iterable[str], parts_from: int | None = None) -> list[LogText]:
    """Every log, oldest first (archives before the live nagios.log): read whole or, a plain
    file of ``parts_from`` bytes or more, left open for the processes that count it, each
    reading its own part (tally_logs)."""
    logs: list[LogText] = []
    try:
        for path in paths:
            logs.append(read_log(host, path, parts_from))
    except AlertsError:
        close_logs(logs)
        raise
    return sorted(logs, key=lambda log: (log.first_time < 0, log.first_time))


def close_logs(logs: Iterable[LogText]) -> None:
    """Close the files ``read_logs`` left open."""
    for log in logs:
        if log.handle is not None:
            log.handle.close()


def read_log(host: Host, path: str, parts_from: int | None = None) -> LogText:
    try:
        if parts_from is not None and not path.endswith(".gz"):
            opened = _opened(host, path, parts_from)
            if opened is not None:
                return opened
        data = host.read_bytes(path)
    except HostError as exc:
        raise AlertsError(str(exc)) from None
    cut = False
    if path.endswith(".gz") or data[:2] == b"\x1f\x8b":
        data, cut = _gunzip(data)
    return LogText(path, data, _first_time(data), cut)


def _opened(host: Host, path: str, parts_from: int) -> LogText | None:
    """A plain file of ``parts_from`` bytes or more, open, its first 64 KiB read (None for
    anything else: read whole)."""
    handle = host.open_binary(path)
    try:
        size = os.fstat(handle.fileno()).st_size
        head = os.pread(handle.fileno(), 1 << 16, 0)
    except OSError as exc:
        handle.close()
        raise HostError(f"cannot read {path}: {exc.strerror or exc}") from None
    if size < parts_from or head.startswith(b"\x1f\x8b"):
        handle.close()
        return None
    return LogText(path, b"", _first_time(head), False, handle, size)


def _read_range(fd: int, start: int, end: int) -> bytes:
    """Bytes ``start`` to ``end`` of an open file (fewer if it was cut short meanwhile)."""
    pieces, at = [], start
    while at < end:
        piece = os.pread(fd, min(end - at, 1 << 30), at)
        if not piece:
            break
        pieces.append(piece)
        at += len(piece)
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


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


# --- every line --------------------------------------------------------------------------------

# Possessive (``++``) wherever giving back a character cannot lead to a match (what follows is
# a character the repeat excludes): the same lines match, with less work for the engine.
_STATE = rb"(?:OK|WARNING|CRITICAL|UNKNOWN);(?:HARD|SOFT)"
_SCAN = re.compile(
    rb"\n(?:\[(\d{1,12}+)\] (?:"  # 1: the time of every line the pattern vouches for
    # 2-4: a SERVICE ALERT or HOST ALERT logparse accepts: who (b"SERVICE ALERT: host;service"
    # or b"HOST ALERT: host"; 3 is matched, empty, for a host), its state;type
    rb"(SERVICE ALERT: [^;\n]++;[^;\n]++|HOST ALERT: ()[^;\n]++);"
    rb"((?(3)(?:UP|DOWN|UNREACHABLE)|(?:OK|WARNING|CRITICAL|UNKNOWN));(?:HARD|SOFT));\d{1,5}+;"
    # 5: a SERVICE NOTIFICATION with a plain state (not an acknowledgement): host;service
    rb"|SERVICE NOTIFICATION: [^;\n]*+;([^;\n]++;[^;\n]++);[A-Z]++;[^;\n]*+;"
    # 6: a service that starts flapping: host;service
    rb"|SERVICE FLAPPING ALERT: ([^;\n]++;[^;\n]++);STARTED;"
    # lines logparse accepts that count for nothing but a line: current states, flapping
    # that stops, lines without a "kind: " (Auto-save of retention data...): runs without a
    # colon, each colon not followed by a space
    rb"|(?:CURRENT|INITIAL) SERVICE STATE: [^;\n]++;[^;\n]++;" + _STATE + rb";\d{1,5}+;"
    rb"|SERVICE FLAPPING ALERT: [^;\n]++;[^;\n]++;(?:STOPPED|DISABLED);"
    rb"|[^:\n]*+(?::(?! )[^:\n]*+)*+(?![^\n]))"
    rb"|([^\n]*))"  # 7: any other line, whole, for logparse (no time: group 1 is empty)
)
_TIME, _WHO, _, _STATE_TYPE, _NOTIFIED, _FLAPPED, _OTHER = (itemgetter(i) for i in range(7))
Found = tuple[bytes, ...]  # the groups of one line matched by _SCAN


class _Learnt(dict[bytes, int]):
    """A dict whose missing keys ``learn`` gives a value to, kept: looked up by C code in the
    common case, no check for new names in every block."""

    def __init__(self, learn: Callable[[bytes], int]) -> None:
        super().__init__()
        self._learn = learn

    def __missing__(self, key: bytes) -> int:
        value = self[key] = self._learn(key)
        return value


class Tally:
    """Counts over every line read; feed it with ``add_log`` (oldest file first)."""

    def __init__(self, recovery_window: float, cut_files: list[str] | None = None) -> None:
        self.recovery_window = recovery_window
        self.lines = 0
        self.malformed = 0
        self.examples: list[tuple[str, int, str]] = []
        self.cut_files: list[str] = cut_files or []
        self.events = Events(recovery_window)
        self._key_ids = _Learnt(self._id_of_key)  # b"host;service" -> id (the scan's)
        # b"SERVICE ALERT: host;service" -> id * CODES, learnt on the first look-up
        self._alert_ids = _Learnt(self._learn_alert)
        self._notified: Counter[bytes] = Counter()  # ... -> notifications, until add_data ends
        self._flapped: Counter[bytes] = Counter()

    @property
    def services(self) -> dict[tuple[str, str], ServiceRow]:
        return {(t.host, t.service): t for t in self._rows() if t.service}

    @property
    def hosts(self) -> dict[str, ServiceRow]:
        return {t.host: t for t in self._rows() if not t.service}

    def _rows(self) -> list[ServiceRow]:
        return self.events.rows(span_days(*self.events.first_last()))

    def __getstate__(self) -> dict[str, Any]:
        """Sent to another process: the counts, not what only the scan needs."""
        scan = ("_key_ids", "_alert_ids", "_notified", "_flapped")
        return {name: value for name, value in self.__dict__.items() if name not in scan}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._key_ids = _Learnt(self._id_of_key)
        self._alert_ids = _Learnt(self._learn_alert)
        self._notified, self._flapped = Counter(), Counter()

    def add_log(self, log: LogText) -> None:
        if log.cut:
            self.cut_files.append(log.path)
        data = log.data if log.handle is None else _read_range(log.handle.fileno(), 0, log.size)
        self.add_data(data, log.path)

    def absorb(self, later: Tally) -> None:
        """Add the tally of the part of the log that follows this one's."""
        self.lines += later.lines
        self.malformed += later.malformed
        self.examples = (self.examples + later.examples)[:MAX_EXAMPLES]
        self.cut_files += later.cut_files
        self.events.absorb(later.events)

    def add_text(self, text: str, path: str, first_line: int = 1) -> None:
        """Text as the bytes of a log file (a lone surrogate reads back as U+FFFD, as it would
        from a file)."""
        self.add_data(text.encode("utf-8", "surrogatepass"), path, first_line)

    def add_data(
        self, data: bytes, path: str, first_line: int = 1, start: int = 0, end: int | None = None
    ) -> None:
        """Count every line of a piece of a log, ``data[start:end]`` (in time order, after the
        pieces before it)."""
        end = len(data) if end is None else end
        if start >= end:
            return
        last = end - 1 if data.endswith(b"\n", start, end) else end
        newline = data.find(b"\n", start, last)
        self.add_line(_text(data[start : newline if newline >= 0 else last]), path, first_line)
        number = first_line + 1
        while 0 <= newline < last:  # in blocks: the pattern's tuples are read while in cache
            end = data.find(b"\n", min(newline + SCAN_BLOCK, last), last)
            end = last if end < 0 else end
            found = _SCAN.findall(data, newline, end)  # one per line: each starts at its "\n"
            self._block(found, path, number)
            number += len(found)
            newline = end if end < last else -1
        self.lines += number - first_line
        self._counted_by_id()

    def _block(self, found: list[Found], path: str, first_line: int) -> None:
        """The lines of one block: the alerts in bulk, in order with the few other lines that
        say something about a problem (an acknowledgement, an alert logparse reads); what can
        be counted in any order (notifications, flapping) counted at once."""
        ordered: list[tuple[int, Entry]] = []
        for index in compress(count(), map(not_, map(_TIME, found))):
            entry = self._other(_OTHER(found[index]), path, first_line + index)
            if entry is not None:
                ordered.append((index, entry))
        self._notified.update(filter(None, map(_NOTIFIED, found)))
        self._flapped.update(filter(None, map(_FLAPPED, found)))
        start = 0
        for index, entry in ordered:
            self._alerts(found[start:index])
            self._entry(entry)
            start = index + 1
        self._alerts(found[start:] if start else found)

    def _alerts(self, found: list[Found]) -> None:
        """The service and host alerts of consecutive lines, as columns for Events.add."""
        alerts = list(filter(_STATE_TYPE, found))
        if alerts:
            ids = map(self._alert_ids.__getitem__, map(_WHO, alerts))
            codes = map(BYTE_CODE.__getitem__, map(_STATE_TYPE, alerts))
            self.events.add(array("q", map(add, ids, codes)), _times(list(map(_TIME, alerts))))

    def _learn_alert(self, alert: bytes) -> int:
        """``id * CODES`` of the host or service of a b"SERVICE ALERT: host;service" or
        b"HOST ALERT: host" the scan has not seen before (once each)."""
        return self._key_ids[alert.partition(b": ")[2]] * CODES

    def _id_of_key(self, key: bytes) -> int:
        """The id of a b"host;service" (or b"host") the scan has not seen before."""
        host, _, service = _text(key).partition(";")
        return self.events.id_of(host, service)

    def _counted_by_id(self) -> None:
        ids = self._key_ids
        for counted, into in ((self._notified, self.events.notifications),
                              (self._flapped, self.events.flapping)):  # fmt: skip
            for key, number in counted.items():
                into[ids[key]] += number
            counted.clear()

    def _other(self, line: bytes, path: str, number: int) -> Entry | None:
        """A line the pattern does not vouch for, read by logparse: counted now, or returned
        when what it says must come in order with the alerts around it."""
        parsed = parse_line(_text(line))
        if type(parsed) is Entry:
            if parsed.kind in _ORDERED or parsed.detail == "ACKNOWLEDGEMENT":
                return parsed
            self._entry(parsed)
        elif type(parsed) is Malformed:
            self._malformed(path, number, parsed.reason)
        return None

    def add_line(self, line: str, path: str, number: int) -> None:
        """One line read by logparse, whatever it is."""
        parsed = parse_line(line)
        if type(parsed) is Entry:
            self._entry(parsed)
        elif type(parsed) is Malformed:
            self._malformed(path, number, parsed.reason)

    def _malformed(self, path: str, number: int, reason: str) -> None:
        self.malformed += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append((path, number, reason))

    def _entry(self, entry: Entry) -> None:
        kind, events = entry.kind, self.events
        if kind in (SERVICE_ALERT, HOST_ALERT):
            events.add_one(self._id(entry), entry.time, CODE[(entry.state, entry.state_type)])
        elif kind in (SERVICE_NOTIFICATION, HOST_NOTIFICATION):
            events.notifications[self._id(entry)] += 1
            if entry.detail == "ACKNOWLEDGEMENT":
                events.add_one(self._id(entry), entry.time, ACK)
        elif kind in (SERVICE_FLAPPING, HOST_FLAPPING):
            if entry.detail == "STARTED":
                events.flapping[self._id(entry)] += 1
        elif kind == ACKNOWLEDGEMENT:
            events.add_one(self._id(entry), entry.time, ACK)

    def _id(self, entry: Entry) -> int:
        return self.events.id_of(entry.host, entry.service)


_ORDERED = frozenset((SERVICE_ALERT, HOST_ALERT, ACKNOWLEDGEMENT))


_POWERS = 10 ** np.arange(9, -1, -1, dtype=np.int64)


def _times(stamps: list[bytes]) -> array[int] | npt.NDArray[np.int64]:
    """The scan's times (decimal digits) as integers: ten digits each (every time from 2001 to
    2286) read by numpy at once, checked by where the spaces between them fall; others one by
    one."""
    joined = b" ".join(stamps) + b" "
    if len(joined) == 11 * len(stamps):
        digits = np.frombuffer(joined, dtype=np.uint8).reshape(-1, 11)
        if (digits[:, 10] == ord(" ")).all():
            found: npt.NDArray[np.int64] = (digits[:, :10] - ord("0")).astype(np.int64) @ _POWERS
            return found
    return array("q", map(int, stamps))


def _text(data: bytes) -> str:
    """Bytes of the log as logparse reads them (cut at ASCII ``;`` or newline, a piece decodes
    to the same characters as it does within the whole line)."""
    return data.decode("utf-8", "replace")


# --- several processes -------------------------------------------------------------------------

PARALLEL_BYTES = 16 << 20  # below this, starting processes costs more than it saves


def tally_logs(logs: list[LogText], window: float, workers: int = 1) -> Tally:
    """Every log counted, oldest first (the files left open closed). With ``workers`` above 1
    (0: one per CPU), a large input is cut into parts at line ends; this process counts the
    first part while forked children count the others, each reading its own part of a file left
    open, and the parts are joined in order (Tally.absorb gives exactly what one pass counts)."""
    try:
        return _tally_logs(logs, window, workers or len(os.sched_getaffinity(0)))
    finally:
        close_logs(logs)


def _tally_logs(logs: list[LogText], window: float, workers: int) -> Tally:
    total = sum(log.size or len(log.data) for log in logs)
    if workers < 2 or total < PARALLEL_BYTES:
        tally = Tally(window)
        for log in logs:
            tally.add_log(log)
        return tally
    parts = [
        part
        for log in logs
        for part in _parts(log, max(1, workers * (log.size or len(log.data)) // total))
    ]
    host = Host()
    children: list[ForkedCall] = []
    try:
        for part in parts[1:]:  # one at a time: a fork that fails stops those made before it
            children.append(host.fork_call(_tally_part, window, *part))
        merged = _tally_part(window, *parts[0])
        for child in children:
            merged.absorb(child.result())
    finally:
        for child in children:
            child.stop()
    merged.cut_files = [log.path for log in logs if log.cut]
    return merged


Source = bytes | int  # a log's text, or the descriptor of the open file to read it from
Part = tuple[str, Source, int, int]  # path, source, start, end


def _parts(log: LogText, count: int) -> list[Part]:
    """One log in ``count`` parts cut after a newline."""
    source: Source = log.data if log.handle is None else log.handle.fileno()
    size, parts, start = log.size or len(log.data), [], 0
    for i in range(1, count + 1):
        end = size if i == count else _line_start(source, size * i // count, size)
        if end > start:
            parts.append((log.path, source, start, end))
            start = end
    return parts


def _line_start(source: Source, at: int, size: int) -> int:
    """Where the first line starting after ``at`` starts (``size``: none)."""
    if isinstance(source, bytes):
        found = source.find(b"\n", at)
        return size if found < 0 else found + 1
    while at < size:
        found = _read_range(source, at, min(at + (1 << 16), size)).find(b"\n")
        if found >= 0:
            return at + found + 1
        at += 1 << 16
    return size


def _tally_part(window: float, path: str, source: Source, start: int, end: int) -> Tally:
    """One part counted (read here from an open file); the line numbers of its examples (if
    any) from the file's start."""
    tally = Tally(window)
    if isinstance(source, bytes):
        tally.add_data(source, path, 1, start, end)
    else:
        tally.add_data(_read_range(source, start, end), path)
    if tally.examples and start:
        before = _newlines_before(source, start)
        tally.examples = [(path, number + before, why) for path, number, why in tally.examples]
    return tally


def _newlines_before(source: Source, end: int) -> int:
    if isinstance(source, bytes):
        return source.count(b"\n", 0, end)
    step = 16 << 20
    return sum(
        _read_range(source, at, min(at + step, end)).count(b"\n") for at in range(0, end, step)
    )
