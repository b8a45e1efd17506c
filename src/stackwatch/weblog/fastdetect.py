"""``weblog detect`` over whole logs at C speed: requests counted per second, not one by one.

The detector judges seconds, and within a second the order of requests does not matter; so a
block of lines becomes, per second, its number of requests and, per referring site that is
judged at all (not "-", not a search engine, not the site itself), its requests, dynamic ones,
client IPs, paths and Referer hosts. The work per line is done by C code: one regular expression
over the block (the fast path where it vouches, see fastcount.py), counting of time stamps, the
set of Referers and the picking of the lines whose Referer is judged (``itertools.compress``);
only the distinct (time, IP, request, Referer) of judged lines are visited in Python, each once.

The seconds are then put in time order within the reorder horizon and fed to the Driver exactly
as ``detect.in_order`` feeds records: a second is handed on once the newest time seen is the
horizon past it; the requests of a second older than one already handed on are "late", and the
Driver counts them so (in the window's oldest second, or dropped), as it does each record. The
findings are those of the record path (test_weblog_fastdetect.py compares both on hostile logs).
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import compress, islice
from operator import itemgetter
from typing import NamedTuple, TypeVar

from stackwatch.core.host import Host, HostError
from stackwatch.core.record import dataclass, field
from stackwatch.weblog import progress
from stackwatch.weblog.detect import (
    DetectOptions,
    Detector,
    Driver,
    Timeline,
    _HostBucket,
    is_static,
)
from stackwatch.weblog.formats import LogFormat, parse_time, referrer_host, request_path
from stackwatch.weblog.reader import (
    BLOCK,
    LogReadError,
    ScanStats,
    block_bounds,
    file_blocks,
    map_file,
    mapped_block,
    newlines,
)

_TIME = itemgetter(0)
_CACHE_MAX = 200_000  # distinct values remembered (times, Referers, requests); then forgotten
PARALLEL_MIN = 64 << 20  # a smaller file is picked here: not worth starting processes for
TASK_BLOCKS = 2  # blocks a worker picks per task
_Item = TypeVar("_Item")


@dataclass
class SecondCounts:
    """The requests of one second: how many, and per judged referring host its bucket."""

    total: int = 0
    hosts: dict[str, _HostBucket] = field(default_factory=dict)

    def merge(self, other: SecondCounts) -> None:
        """Add the requests of ``other`` (later in the log) to these."""
        self.total += other.total
        for host, bucket in other.hosts.items():
            mine = self.hosts.get(host)
            if mine is None:
                self.hosts[host] = bucket
            else:
                mine.merge(bucket)


class Picked(NamedTuple):
    """What a block holds for the detector, in plain values (cheap to send between processes)."""

    lines: int
    size: int  # bytes
    matched: int  # lines with a readable time
    newest: float  # the newest time, -inf when none
    totals: list[tuple[int, int]]  # (second, requests) in the order seconds first appear
    judged: list[tuple[float, str, str, bytes, bytes, bool, int]]
    # ^ (time, referring site, its host, client IP, path, dynamic, requests) of judged lines


def gather(picked: Picked) -> dict[int, SecondCounts]:
    """The requests per second of a picked block, with their host buckets."""
    seconds = {second: SecondCounts(total) for second, total in picked.totals}
    for stamp, site, host, ip, path, dynamic, n in picked.judged:
        sites = seconds[int(stamp)].hosts
        bucket = sites.get(site)
        if bucket is None:
            bucket = sites[site] = _HostBucket(first=stamp, last=stamp)
        bucket.count += n
        bucket.hosts[host] = bucket.hosts.get(host, 0) + n
        if dynamic:
            bucket.dynamic += n
        bucket.ips[ip] = bucket.ips.get(ip, 0) + n
        bucket.paths[path] = bucket.paths.get(path, 0) + n
    return seconds


class BlockCounter:
    """Blocks of log lines to what the detector needs of them (see the module docstring)."""

    def __init__(self, fmt: LogFormat, detector: Detector) -> None:
        fields = ("time", "ip", "request", "referrer")
        careful, fast = fmt.matcher(fields), fmt.fast_matcher(fields)
        # The patterns' own findall, its tuples in the format's order (reordering them would
        # cost a third of the time of the match).
        self._find_careful, self._find_fast = careful.pattern.findall, fast.pattern.findall
        self._fields = itemgetter(*map(careful.order.index, fields))
        self._get_time = itemgetter(careful.order.index("time"))
        self._get_referrer = itemgetter(careful.order.index("referrer"))
        self._site = detector.site
        self._static = detector.static_extensions
        self._stamps: dict[bytes, float | None] = {}
        # Referer -> (its site, its host), None when not judged
        self._judged: dict[bytes, tuple[str, str] | None] = {}
        self._paths: dict[bytes, tuple[bytes, bool]] = {}  # request -> (path, dynamic)

    def pick(self, block: bytes) -> Picked:
        """The requests of a block of whole lines, per second and judged line."""
        lines = newlines(block)
        found = None if b"\\" in block else self._find_fast(block)
        if found is None or len(found) != lines:
            found = self._find_careful(block)  # (see fastcount.vouched)
        matched = len(found)
        totals: dict[int, int] = {}
        readable: dict[bytes, float] = {}
        for when, n in Counter(map(self._get_time, found)).items():
            stamp = self._stamp(when)
            if stamp is None:
                matched -= n  # a line without a readable time is not a request
                continue
            readable[when] = stamp
            totals[int(stamp)] = totals.get(int(stamp), 0) + n
        newest = max(readable.values(), default=float("-inf"))
        judged = self._picked(found, readable)
        return Picked(lines, len(block), matched, newest, list(totals.items()), judged)

    def count(self, block: bytes, stats: ScanStats) -> tuple[dict[int, SecondCounts], float]:
        """The block's requests per second and the newest time in it (-inf when none)."""
        picked = self.pick(block)
        stats.lines += picked.lines
        stats.matched += picked.matched
        return gather(picked), picked.newest

    def _stamp(self, when: bytes) -> float | None:
        stamps = self._stamps
        if when not in stamps:
            if len(stamps) > _CACHE_MAX:
                stamps.clear()
            stamps[when] = parse_time(when)
        return stamps[when]

    def _picked(
        self, found: list[tuple[bytes, ...]], readable: dict[bytes, float]
    ) -> list[tuple[float, str, str, bytes, bytes, bool, int]]:
        """The distinct lines whose Referer is judged, each with how many times it came."""
        judged = self._judged_referrers(set(map(self._get_referrer, found)))
        if not judged:
            return []
        wanted = map(judged.__contains__, map(self._get_referrer, found))
        hosts = self._judged
        out = []
        for (when, ip, request, referrer), n in Counter(
            map(self._fields, compress(found, wanted))
        ).items():
            stamp = readable.get(when)
            judged_as = hosts[referrer]
            if stamp is not None and judged_as is not None:
                path, dynamic = self._path(request)
                out.append((stamp, *judged_as, ip, path, dynamic, n))
        return out

    def _judged_referrers(self, referrers: set[bytes]) -> set[bytes]:
        """The block's Referers whose host the detector judges."""
        known = self._judged
        new = referrers.difference(known)
        if len(known) + len(new) > _CACHE_MAX:
            known.clear()
            new = referrers
        for referrer in new:
            host = referrer_host(referrer)
            site = None if host is None else self._site(host)
            known[referrer] = None if site is None or host is None else (site, host)
        return {r for r in referrers if known[r] is not None}

    def _path(self, request: bytes) -> tuple[bytes, bool]:
        known = self._paths.get(request)
        if known is None:
            if len(self._paths) > _CACHE_MAX:
                self._paths.clear()
            path = request_path(request)
            known = self._paths[request] = (path, not is_static(path, self._static))
        return known


class InOrder:
    """Seconds handed to the Driver in time order within ``horizon`` seconds (the per-second
    form of ``detect.in_order`` followed by ``Driver.feed``). A second older than one already
    handed on is handed on again with its late requests, first of its batch as in_order sorts
    them: the Driver counts them late (or drops them) as it does each record."""

    def __init__(self, driver: Driver, horizon: float, timeline: Timeline | None) -> None:
        self._driver = driver
        self._horizon = horizon
        self._timeline = timeline
        self._held: dict[int, SecondCounts] = {}
        self._newest = float("-inf")

    def add(self, seconds: dict[int, SecondCounts], newest: float) -> None:
        for second, counts in seconds.items():
            held = self._held.get(second)
            if held is None:
                self._held[second] = counts
            else:
                held.merge(counts)
        self._newest = max(self._newest, newest)
        self._release(self._newest - self._horizon)

    def finish(self) -> None:
        self._release(float("inf"))

    def _release(self, limit: float) -> None:
        for second in sorted(s for s in self._held if s <= limit):
            counts = self._held.pop(second)
            if self._timeline is not None:
                _count_second(self._timeline, second, counts.total)
            self._driver.feed_second(second, counts.total, counts.hosts)


def _count_second(timeline: Timeline, second: int, total: int) -> None:
    """The site's requests per second for the plot; late ones in the newest second, as
    ``detect._timed`` counts them."""
    if timeline.seconds and timeline.seconds[-1] >= second:
        timeline.totals[-1] += total
    else:
        timeline.seconds.append(second)
        timeline.totals.append(total)


def detect_stream(
    paths: list[str], fmt: LogFormat, driver: Driver, stats: ScanStats, host: Host,
    timeline: Timeline | None = None, block: int = BLOCK,
) -> None:  # fmt: skip
    """Feed the requests of one time-ordered stream of logs (a rotated set, oldest first) to
    ``driver`` (reorder > 0). A big plain file is picked by one process per core, block by block
    (the blocks ``read_blocks`` would give), while this one puts the seconds in order and runs
    the detector; other files are read here."""
    counter = BlockCounter(fmt, driver.detector)
    order = InOrder(driver, driver.detector.options.reorder, timeline)
    workers = os.cpu_count() or 1
    with contextlib.ExitStack() as stack:
        pool: ProcessPoolExecutor | None = None
        for path in paths:
            stats.files.append(path)
            picks: Iterator[Picked]
            kind = _big_file(path, host) if workers > 1 else None
            if kind is None:
                picks = map(counter.pick, file_blocks(path, stats, host, block))
            else:
                if pool is None:
                    pool = stack.enter_context(_pool(workers, fmt, driver.detector, host))
                picks = (
                    _picked_by_workers(pool, workers, path, host, stats, block)
                    if kind == "plain"
                    else _picked_from_stream(pool, workers, file_blocks(path, stats, host, block))
                )
            for picked in picks:
                stats.lines += picked.lines
                stats.matched += picked.matched
                order.add(gather(picked), picked.newest)
                progress.advance(picked.lines, picked.size)
    order.finish()


def _big_file(path: str, host: Host) -> str | None:
    """ "plain" or "gzip" for a file worth starting processes for (a plain one of PARALLEL_MIN
    bytes, a gzip one of an eighth of that: about as many lines), else None (stdin too)."""
    if path == "-":
        return None
    try:
        size = host.stat(path).st_size
        with host.open_binary(path) as handle:
            packed = handle.read(2) == b"\x1f\x8b"
    except (HostError, OSError):
        return None  # the reader says what is wrong, in its words
    if packed:
        return "gzip" if size >= PARALLEL_MIN // 8 else None
    return "plain" if size >= PARALLEL_MIN else None


@contextlib.contextmanager
def _pool(
    workers: int, fmt: LogFormat, detector: Detector, host: Host
) -> Iterator[ProcessPoolExecutor]:
    """Forked workers, each with its own BlockCounter (they inherit the compiled patterns)."""
    args = (fmt, detector.sites, detector.options, host)
    pool = host.worker_pool(workers, _start_worker, args)
    try:
        yield pool
    finally:
        pool.shutdown(cancel_futures=True)


_WORKER: tuple[BlockCounter, Host] | None = None  # a worker process's counter and host


def _start_worker(
    fmt: LogFormat, sites: tuple[str, ...], options: DetectOptions, host: Host
) -> None:
    global _WORKER
    _WORKER = BlockCounter(fmt, Detector(sites, options)), host


def _pick_blocks(path: str, bounds: list[tuple[int, int]]) -> list[Picked]:
    """A worker: pick the blocks at ``bounds`` of the file."""
    assert _WORKER is not None
    counter, host = _WORKER
    try:
        with host.open_binary(path) as handle:
            mapped = map_file(handle)
            if mapped is None:
                raise LogReadError(f"{path}: changed while read")
            with mapped:
                return [counter.pick(mapped_block(mapped, a, b)) for a, b in bounds]
    except HostError as exc:
        raise LogReadError(str(exc)) from None


def _picked_by_workers(
    pool: ProcessPoolExecutor, workers: int, path: str, host: Host, stats: ScanStats,
    block: int,
) -> Iterator[Picked]:  # fmt: skip
    """The picked blocks of a big plain file, in order, picked by the pool's workers: a few
    tasks at a time in flight, so memory stays bounded whatever the file's size."""
    try:
        handle = host.open_binary(path)
    except HostError as exc:
        raise LogReadError(str(exc)) from None
    with handle:
        mapped = map_file(handle)
        if mapped is None:
            raise LogReadError(f"cannot map {path}")  # (a big plain file maps)
        with mapped:
            bounds = block_bounds(mapped, stats, 0, len(mapped), block)
            pending: deque[Future[list[Picked]]] = deque()
            for task in _batched(bounds, TASK_BLOCKS):
                pending.append(pool.submit(_pick_blocks, path, task))
                if len(pending) > 2 * workers:
                    yield from pending.popleft().result()
            while pending:
                yield from pending.popleft().result()


def _pick_data(blocks: list[bytes]) -> list[Picked]:
    """A worker: pick blocks it was sent (of a gzip file this process reads)."""
    assert _WORKER is not None
    counter, _ = _WORKER
    return [counter.pick(data) for data in blocks]


def _picked_from_stream(
    pool: ProcessPoolExecutor, workers: int, blocks: Iterator[bytes]
) -> Iterator[Picked]:
    """The picked blocks of a stream (a gzip file, decompressed by gzip or pigz in a process of
    its own), in order, picked by the pool's workers: this process only reads the blocks and
    sends them, a few tasks in flight (memory stays bounded); the decompression, the picking
    and the detector share the cores."""
    pending: deque[Future[list[Picked]]] = deque()
    for task in _batched(blocks, TASK_BLOCKS):
        pending.append(pool.submit(_pick_data, task))
        if len(pending) > workers:  # (each task's blocks are copied to its worker)
            yield from pending.popleft().result()
    while pending:
        yield from pending.popleft().result()


def _batched(items: Iterator[_Item], size: int) -> Iterator[list[_Item]]:
    while batch := list(islice(items, size)):
        yield batch
