"""Counting field values fast, with the careful parser's answer on every line.

The fast path runs ``LogFormat.fast_matcher`` (quoted fields without escapes, each match taking
its line's newline) over a piece of a block. It vouches for a piece only when the piece holds no
backslash and every line matched (matches == newlines): then the careful pattern, whose escape
branches cannot be taken without a backslash, explores the same choices in the same order and
finds the same values. Any other piece is read by the careful matcher, so a hostile line costs
the speed of its piece, never a different count.

Big plain files are split into byte ranges cut at line ends and counted by one process per core
(fork: the workers inherit the compiled patterns); gzip files and stdin are read in one stream.
"""

from __future__ import annotations

import heapq
import itertools
import operator
import os
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import compress
from typing import Any, BinaryIO

from stackwatch.core.host import ForkedCall, Host, HostError
from stackwatch.core.record import dataclass
from stackwatch.weblog import progress, reader
from stackwatch.weblog.formats import LogFormat, Matcher
from stackwatch.weblog.reader import (
    LogReadError,
    ScanStats,
    block_bounds,
    expand,
    file_blocks,
    map_file,
    mapped_blocks,
    newlines,
)

BLOCK = reader.BLOCK  # the reader's block, so over-long lines are found as it finds them
PIECE = 256 << 10  # a block the fast path cannot vouch for is retried in pieces of this size
PARALLEL_MIN = 64 << 20  # a smaller file is not worth starting processes for


@dataclass(frozen=True)
class _Job:
    """What a worker counts: one byte range of one plain file."""

    path: str
    start: int
    end: int
    fmt: LogFormat
    fields: tuple[str, ...]
    host: Host


def count_values(
    paths: Iterable[str],
    fmt: LogFormat,
    fields: tuple[str, ...],
    stats: ScanStats,
    host: Host | None = None,
    *,
    workers: int | None = None,
) -> Counter[Any]:
    """Count the matches of ``fields`` (a bytes value, or a tuple for several fields) over every
    line of the logs: the same Counter the careful matcher's ``findall`` would give."""
    return tally_values(paths, fmt, fields, stats, host, workers=workers).counter()


def tally_values(
    paths: Iterable[str],
    fmt: LogFormat,
    fields: tuple[str, ...],
    stats: ScanStats,
    host: Host | None = None,
    *,
    workers: int | None = None,
) -> Tally:
    """``count_values``'s counts, left in the parts that counted them (see Tally)."""
    host = host or Host()
    workers = workers if workers is not None else (os.cpu_count() or 1)
    tally = Tally()
    for path in expand(paths, host):
        stats.files.append(path)
        ranges = _ranges(path, host, workers)
        if len(ranges) > 1:
            _count_parallel(path, ranges, fmt, fields, tally, stats, host)
        else:
            counted: Counter[Any] = Counter()
            _count_blocks(file_blocks(path, stats, host), fmt, fields, counted, stats)
            tally.add(counted)
    return tally


class Tally:
    """Counts of values in the order each was first seen, kept as the parts that counted them
    (a file, a byte range of one; in the logs' order) until asked: merging the two halves of
    a log that hold a million client IPs each into one Counter took longer than counting them,
    and the rows of a top need no merged Counter."""

    def __init__(self) -> None:
        self.parts: list[tuple[list[Any], list[int]]] = []  # (values, their counts)
        self._first: Counter[Any] | None = None  # the first part as it was counted

    def add(self, counted: Counter[Any]) -> None:
        if not self.parts:
            self._first = counted
        self.parts.append((list(counted), list(counted.values())))

    def add_packed(self, values: list[Any], counts: list[int]) -> None:
        self.parts.append((values, counts))

    def total(self) -> int:
        return sum(map(sum, (counts for _, counts in self.parts)))

    def counter(self) -> Counter[Any]:
        """All parts in one Counter, values in the order they were first seen."""
        merged: Counter[Any] = Counter()
        for values, counts in self.parts:
            _merge(merged, values, counts)
        return merged

    def plain(self) -> bool:
        """Every value bytes in ASCII without a backslash (checked at C speed)."""
        for values, _ in self.parts:
            if values and not isinstance(values[0], bytes):
                return False
            joined = b"".join(values)
            if not joined.isascii() or b"\\" in joined:
                return False
        return True

    def most_common(self, limit: int | None) -> list[tuple[Any, int]]:
        """What ``counter().most_common(limit)`` gives, ties in the same order, without the
        merged Counter: the last part's values are looked up in one made of the others."""
        if len(self.parts) < 2:
            first, firsts = self.parts[0] if self.parts else ([], [])
            return _largest(first, firsts, limit)
        head = self._head()
        last, counts = self.parts[-1]
        inside = list(map(head.__contains__, last))
        common = dict(zip(compress(last, inside), compress(counts, inside), strict=True))
        fresh = list(map(operator.not_, inside))
        values = itertools.chain(head, compress(last, fresh))
        totals = list(map(operator.add, head.values(), map(common.get, head, itertools.repeat(0))))
        totals += compress(counts, fresh)
        return _largest(values, totals, limit)

    def _head(self) -> Counter[Any]:
        """The parts but the last in one Counter (the first as counted, when it is alone)."""
        if len(self.parts) == 2 and self._first is not None:
            return self._first
        head: Counter[Any] = Counter()
        for values, counts in self.parts[:-1]:
            _merge(head, values, counts)
        return head


def _largest(values: Iterable[Any], totals: list[int], limit: int | None) -> list[tuple[Any, int]]:
    """The ``limit`` (value, total) pairs of largest totals, ties in the given order, as
    ``Counter.most_common`` orders them. Only the pairs at or above the ``limit``-th largest
    total are sorted: among two million client IPs, a few hundred."""
    if limit is None:
        rows = zip(values, totals, strict=True)
        return sorted(rows, key=operator.itemgetter(1), reverse=True)
    if not totals or limit < 1:
        return []
    least = heapq.nlargest(limit, totals)[-1]
    keep = list(map(operator.ge, totals, itertools.repeat(least)))
    rows = zip(compress(values, keep), compress(totals, keep), strict=True)
    return heapq.nlargest(limit, rows, key=operator.itemgetter(1))


def count_block(
    data: bytes | bytearray,
    quick: Matcher,
    careful: Matcher,
    into: Counter[Any],
    lines: int | None = None,
) -> int:
    """Count the matches in a block of whole lines (``lines`` of them, when known) into
    ``into``, in the careful matcher's order; return how many matched. The first line is read
    by the careful matcher (the quick one needs the newline before a line), the others by the
    quick one where it can vouch for them."""
    first = data.find(b"\n") + 1
    found = careful.findall(data, 0, first - 1)  # (the comment above _pieces)
    into.update(found)
    if first == len(data):
        return len(found)
    rest = data.count(b"\n", first) if lines is None else lines - 1
    return len(found) + _count_lines(data, first, len(data), rest, quick, careful, into)


def vouched(data: bytes, lines: int, fast: Matcher) -> list[Any] | None:
    """The fast matcher's matches in a block of ``lines`` whole lines when it vouches for every
    line (no backslash, every line matched): then they are the careful matcher's. Else None."""
    if b"\\" in data:
        return None
    found = fast.findall(data)
    return found if len(found) == lines else None


def quick_values(
    data: bytes | bytearray, start: int, end: int, lines: int, quick: Matcher
) -> list[Any] | None:
    """The quick matcher's values for the ``lines`` whole lines of ``data[start:end]`` (a line
    ends before ``start``) when it vouches for every one of them, else None. It vouches when
    the range holds no backslash (so no escape the careful matcher would read differently)
    and it matched as many times as there are lines: each match begins at a newline and
    swallows any other newline it runs over, so one match per line means that every match
    stayed on its own line, where it is the careful matcher's (see formats.quick_matcher)."""
    if data.find(b"\\", start, end) >= 0:
        return None
    found = quick.findall(data, start - 1, end - 1)  # from the newline before the first line
    return found if len(found) == lines else None


def _count_lines(
    data: bytes | bytearray, start: int, end: int, lines: int, quick: Matcher, careful: Matcher,
    into: Counter[Any], whole: bool = True,
) -> int:  # fmt: skip
    """Count the lines of ``data[start:end]``: quickly where the quick matcher vouches for them;
    else a whole block is tried again in pieces of PIECE bytes, and a piece it cannot vouch for
    is read by the careful matcher (a hostile line costs the speed of its piece)."""
    found = quick_values(data, start, end, lines, quick)
    if found is not None:
        into.update(found)
        return lines
    if not whole or end - start <= PIECE:
        found = careful.findall(data, start, end - 1)
        into.update(found)
        return len(found)
    return sum(
        _count_lines(data, a, b, data.count(b"\n", a, b), quick, careful, into, whole=False)
        for a, b in _pieces(data, start, end)
    )


# The careful matcher is given each range up to its last newline, not past it: at the end of what
# it reads its "^" matches once more, and a format whose pattern can match nothing (a lone "%h")
# would find a line there that is not one.


def _pieces(data: bytes | bytearray, start: int, end: int) -> Iterator[tuple[int, int]]:
    """``data[start:end]`` in pieces of about PIECE bytes, each ending at a line end."""
    while start < end:
        cut = data.find(b"\n", min(start + PIECE, end - 1), end)
        stop = end if cut < 0 else cut + 1
        yield start, stop
        start = stop


def _count_blocks(
    blocks: Iterable[bytes | bytearray], fmt: LogFormat, fields: tuple[str, ...],
    into: Counter[Any], stats: ScanStats, shown: int = 1,
) -> None:  # fmt: skip
    """Count every block; each counts ``shown`` times on the terminal's progress report (the
    ranges of a file are read at the same pace; 0 in a worker, which has no terminal)."""
    quick, careful = fmt.quick_matcher(fields), fmt.matcher(fields)
    for data in blocks:
        lines = newlines(data)
        stats.lines += lines
        stats.matched += count_block(data, quick, careful, into, lines)
        if shown:
            progress.advance(lines * shown, len(data) * shown)


def _ranges(path: str, host: Host, workers: int) -> list[tuple[int, int]]:
    """Byte ranges for the workers, or [] when the file is read as one stream (stdin, gzip,
    small, one core)."""
    if path == "-" or workers < 2:
        return []
    try:
        size = host.stat(path).st_size
        with host.open_binary(path) as handle:
            if handle.read(2) == b"\x1f\x8b" or size < PARALLEL_MIN:
                return []
            cuts = [0]
            for n in range(1, workers):
                handle.seek(size * n // workers)
                handle.readline()
                cuts.append(max(handle.tell(), cuts[-1]))
    except (HostError, OSError):
        return []  # the stream reader says what is wrong, in its words
    cuts.append(size)
    return [(a, b) for a, b in itertools.pairwise(cuts) if b > a]


def _count_parallel(
    path: str, ranges: list[tuple[int, int]], fmt: LogFormat, fields: tuple[str, ...],
    tally: Tally, stats: ScanStats, host: Host,
) -> None:  # fmt: skip
    """The first range counted here while forked children count the others. A child is given
    its range as it is forked, not through a pool's queue: a pool's feeder threads need this
    process's lock on the interpreter, which the regex holds for a whole block at a time, and
    the children started late."""
    jobs = [_Job(path, a, b, fmt, fields, host) for a, b in ranges]
    children: list[ForkedCall] = []
    try:
        for job in jobs[1:]:
            children.append(host.fork_call(_packed_range, job))
        first, *numbers = _count_range(jobs[0], len(jobs))
        tally.add(first)
        results = [numbers]
        for child in children:
            try:
                packed, *numbers = child.result()
            except HostError:  # the child died (killed, out of memory) without an answer
                raise LogReadError(f"{path}: a counting process ended early") from None
            tally.add_packed(*_unpack(packed))
            results.append(numbers)
    finally:
        for child in children:
            child.stop()
    for lines, matched, too_long in results:
        stats.lines += lines
        stats.matched += matched
        stats.too_long += too_long


def _merge(into: Counter[Any], values: list[Any], counts: list[int]) -> None:
    """Add (values, counts) to ``into`` (values new to it in their order, as ``update`` adds
    them): the new ones at C speed, the common ones one by one."""
    inside = list(map(into.__contains__, values))
    fresh = list(map(operator.not_, inside))
    dict.update(into, zip(compress(values, fresh), compress(counts, fresh), strict=True))
    for value, count in zip(compress(values, inside), compress(counts, inside), strict=True):
        into[value] += count


# A child's counts go back packed: values of one field joined by newlines (no value holds one:
# no field pattern crosses a line end) and the counts as machine integers. Pickling a Counter
# of a million client IPs took longer than counting them.
Packed = tuple[bytes, bytes] | Counter[Any]


def _packed_range(job: _Job) -> tuple[Packed, int, int, int]:
    counted, lines, matched, too_long = _count_range(job)
    if len(job.fields) > 1:
        return counted, lines, matched, too_long  # tuples of values: pickled
    packed = (b"\n".join(counted), array("q", counted.values()).tobytes())
    return packed, lines, matched, too_long


def _unpack(packed: Packed) -> tuple[list[Any], list[int]]:
    if isinstance(packed, Counter):
        return list(packed), list(packed.values())
    joined, numbers = packed
    counts = array("q")
    counts.frombytes(numbers)
    return (joined.split(b"\n") if counts else []), counts.tolist()


def _count_range(job: _Job, shown: int = 0) -> tuple[Counter[Any], int, int, int]:
    """Count one byte range (it starts and ends at line ends)."""
    counted: Counter[Any] = Counter()
    stats = ScanStats()
    try:
        with job.host.open_binary(job.path) as handle:
            blocks = range_blocks(handle, stats, job.path, job.start, job.end)
            _count_blocks(blocks, job.fmt, job.fields, counted, stats, shown)
    except HostError as exc:
        raise LogReadError(str(exc)) from None
    return counted, stats.lines, stats.matched, stats.too_long


def range_blocks(
    handle: BinaryIO, stats: ScanStats, name: str, start: int, end: int
) -> Iterator[bytes | bytearray]:
    """Blocks of whole lines of a plain file from ``start`` to ``end`` (line ends), cut where
    ``reader.mapped_blocks`` cuts them (the memory map only finds the cuts) but read into one
    buffer, the same for every block (each is counted before the next is read; the values
    found in it are copies). A block read is one copy by the kernel into memory already
    touched, where a block sliced from the map costs a page fault per few pages and letting
    its pages go another pass, and a new block of bytes each time, fresh pages to clear."""
    mapped = map_file(handle)
    if mapped is None:
        yield from mapped_blocks(handle, stats, name, start, end, BLOCK)
        return
    buffer = bytearray()
    with mapped:
        for a, b in block_bounds(mapped, stats, start, end, BLOCK):
            _resize(buffer, b - a)
            with memoryview(buffer) as view:
                read = os.preadv(handle.fileno(), [view], a)
            _resize(buffer, read)  # (a file cut short while it is read)
            if not buffer.endswith(b"\n"):
                buffer.append(10)  # the file's last line, without its newline
            yield buffer


def _resize(buffer: bytearray, size: int) -> None:
    """``buffer`` made ``size`` bytes long, keeping its memory where it can."""
    if len(buffer) > size:
        del buffer[size:]
    elif len(buffer) < size:
        buffer.extend(bytes(size - len(buffer)))
