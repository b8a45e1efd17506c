"""``weblog detect`` over whole logs at C speed: requests counted per second, not one by one.

The detector judges seconds, and within a second the order of requests does not matter; so a
block of lines becomes, per second, its number of requests and, per referring host that is
judged at all (not "-", not a search engine, not the site itself), its requests, dynamic ones,
client IPs and paths. The work per line is done by C code: one regular expression over the
block (the fast path where it vouches, see fastcount.py), counting of time stamps, the set of
Referers and the picking of the lines whose Referer is judged (``itertools.compress``); only the
distinct (time, IP, request, Referer) of judged lines are visited in Python, each once.

The seconds are then put in time order within the reorder horizon and fed to the Driver exactly
as ``detect.in_order`` feeds records: a second is handed on once the newest time seen is the
horizon past it; the requests of a second older than one already handed on are "late", and the
Driver counts them so (in the window's oldest second, or dropped), as it does each record. The
findings are those of the record path (test_weblog_fastdetect.py compares both on hostile logs).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import compress
from operator import itemgetter
from typing import NamedTuple

from stackwatch.weblog.detect import Detector, Driver, Timeline, _HostBucket, is_static
from stackwatch.weblog.formats import LogFormat, parse_time, referrer_host, request_path
from stackwatch.weblog.reader import ScanStats

_TIME = itemgetter(0)
_CACHE_MAX = 200_000  # distinct values remembered (times, Referers, requests); then forgotten


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
    matched: int  # lines with a readable time
    newest: float  # the newest time, -inf when none
    totals: list[tuple[int, int]]  # (second, requests) in the order seconds first appear
    judged: list[tuple[float, str, bytes, bytes, bool, int]]
    # ^ (time, referring host, client IP, path, dynamic, requests) of the judged lines


def gather(picked: Picked) -> dict[int, SecondCounts]:
    """The requests per second of a picked block, with their host buckets."""
    seconds = {second: SecondCounts(total) for second, total in picked.totals}
    for stamp, host, ip, path, dynamic, n in picked.judged:
        hosts = seconds[int(stamp)].hosts
        bucket = hosts.get(host)
        if bucket is None:
            bucket = hosts[host] = _HostBucket(first=stamp, last=stamp)
        bucket.count += n
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
        self._ignored = detector.ignored
        self._static = detector.static_extensions
        self._stamps: dict[bytes, float | None] = {}
        self._judged: dict[bytes, str | None] = {}  # Referer -> its host, None when not judged
        self._paths: dict[bytes, tuple[bytes, bool]] = {}  # request -> (path, dynamic)

    def pick(self, block: bytes) -> Picked:
        """The requests of a block of whole lines, per second and judged line."""
        lines = block.count(b"\n")
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
        return Picked(lines, matched, newest, list(totals.items()), self._picked(found, readable))

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
    ) -> list[tuple[float, str, bytes, bytes, bool, int]]:
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
            host = hosts[referrer]
            if stamp is not None and host is not None:
                path, dynamic = self._path(request)
                out.append((stamp, host, ip, path, dynamic, n))
        return out

    def _judged_referrers(self, referrers: set[bytes]) -> set[bytes]:
        """The block's Referers whose host the detector judges."""
        known = self._judged
        new = referrers.difference(known)
        if len(known) + len(new) > _CACHE_MAX:
            known.clear()
            new = referrers
        ignored = self._ignored
        for referrer in new:
            host = referrer_host(referrer)
            known[referrer] = None if host is None or ignored(host) else host
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


def detect_blocks(
    blocks: Iterable[bytes], fmt: LogFormat, driver: Driver, stats: ScanStats,
    timeline: Timeline | None = None,
) -> None:  # fmt: skip
    """Feed the requests of one time-ordered stream of blocks to ``driver`` (reorder > 0)."""
    counter = BlockCounter(fmt, driver.detector)
    order = InOrder(driver, driver.detector.options.reorder, timeline)
    for block in blocks:
        seconds, newest = counter.count(block, stats)
        order.add(seconds, newest)
    order.finish()
