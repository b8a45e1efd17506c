"""Referer floods: referring sites whose traffic jumps far above their own baseline and the site's
normal traffic, from many clients that come back again and again to dynamic pages.

The two shapes this tells apart:
- a hidden-iframe flood: every visitor of the SEO page loads the victim's search or forum page,
  again and again, and nothing else: many requests per client IP, almost all to dynamic URLs;
- a legitimate spike (a link on a popular news site): many visitors once each, who then load the
  page's assets with the site's *own* Referer: about one request per IP under the news Referer.
Search engines and the site's own hosts are never flagged. Referer hosts are judged by site
(sites.py: ``www.evil.example`` and ``evil.example`` are one site, ``evil.example``), so a flood
spread over many subdomains is seen whole; each finding lists the hosts inside its site.

Time is cut into one-second buckets; ``advance(now)`` judges the trailing window. One ``Driver``
feeds a ``Detector`` and judges it on one schedule (at each new second of log time, and at the
clock's time when asked) for ``weblog detect`` (whole files), ``weblog follow`` (live) and the
weblog-flood check (the end of each log).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from itertools import chain
from operator import itemgetter
from typing import Protocol

from stackwatch.core.host import Host
from stackwatch.core.record import dataclass, field
from stackwatch.weblog.fastcount import vouched
from stackwatch.weblog.formats import LogFormat, parse_time, referrer_host, request_path
from stackwatch.weblog.reader import BLOCK, ScanStats, newlines, read_blocks, streams
from stackwatch.weblog.sites import registrable_domain

SEARCH_ENGINES = (
    "google",
    "bing",
    "duckduckgo",
    "yahoo",
    "baidu",
    "yandex",
    "ecosia",
    "qwant",
    "naver",
    "seznam",
    "sogou",
    "startpage",
    "ask",
    "aol",
    "msn",
    "search.brave",
    "kagi",
    "mojeek",
)
STATIC_EXTENSIONS = (
    ".css",
    ".js",
    ".mjs",
    ".map",
    ".png",
    ".jpg",
    ".jpeg",
    ".gif",
    ".ico",
    ".svg",
    ".webp",
    ".avif",
    ".bmp",
    ".woff",
    ".woff2",
    ".ttf",
    ".otf",
    ".eot",
    ".mp4",
    ".webm",
    ".mp3",
    ".ogg",
    ".pdf",
    ".zip",
    ".gz",
    ".txt",
    ".xml",
)
MIN_MERGE_BLOCK = 256 << 10  # block size per log when many are merged (memory stays bounded)
_SECOND_LEVEL = ("co", "com", "net", "org", "ac", "gov", "edu", "ne", "or")


@dataclass(frozen=True)
class DetectOptions:
    window: float = 10.0  # seconds judged together
    min_rate: float = 5.0  # requests per second from one referring site
    spike_factor: float = 10.0  # times that site's own baseline rate
    site_share: float = 0.05  # and at least this share of the whole site's baseline rate
    min_ips: int = 5  # distinct client IPs in the window
    min_repeat: float = 3.0  # requests per client IP in the window
    min_dynamic_share: float = 0.8  # share of requests to non-static paths
    baseline: float = 3600.0  # seconds of history for the baselines
    min_history: float = 30.0  # seconds of traffic seen before anything is judged
    search_engines: tuple[str, ...] = ()  # more names, added to the built-in list
    static_extensions: tuple[str, ...] = ()  # more extensions, added to the built-in list
    reorder: float = (
        300.0  # seconds within which requests are put back in time order (0: as written)
    )


def is_search_engine(host: str, extra: Iterable[str] = ()) -> bool:
    """google.com, www.google.co.uk, search.brave.com...; never google.attacker.com."""
    labels = host.split(".")
    if len(labels) < 2:
        return False
    names = set(SEARCH_ENGINES) | {e.lower() for e in extra}
    if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL and len(labels[-1]) == 2:
        registered = labels[:-2]
    else:
        registered = labels[:-1]
    if registered and registered[-1] in names:
        return True
    return len(registered) >= 2 and ".".join(registered[-2:]) in names


def is_own_host(host: str, sites: Iterable[str]) -> bool:
    """The site itself or one of its subdomains (www., static.)."""
    for site in sites:
        site = site.lower().rstrip(".")
        if site.startswith("www."):
            site = site[4:]
        if host == site or host.endswith("." + site):
            return True
    return False


def is_static(path: bytes, extensions: tuple[bytes, ...]) -> bool:
    return path.lower().endswith(extensions)


@dataclass
class _HostBucket:
    count: int = 0
    dynamic: int = 0
    first: float = 0.0
    last: float = 0.0
    ips: Counter[bytes] = field(default_factory=Counter)
    paths: Counter[bytes] = field(default_factory=Counter)
    hosts: Counter[str] = field(default_factory=Counter)  # the site's hosts seen

    def merge(self, other: _HostBucket) -> None:
        """Add the requests of ``other`` (the same site, later in the log) to these."""
        self.count += other.count
        self.dynamic += other.dynamic
        self.first = min(self.first, other.first)
        self.last = max(self.last, other.last)
        self.ips.update(other.ips)
        self.paths.update(other.paths)
        self.hosts.update(other.hosts)


@dataclass
class _Second:
    total: int = 0
    hosts: dict[str, _HostBucket] = field(default_factory=dict)


@dataclass(frozen=True)
class Evidence:
    """One judged window of one referring site."""

    host: str
    rate: float
    requests: int
    ips: int
    repeat: float
    dynamic_share: float
    baseline_rate: float
    site_baseline_rate: float
    flood: bool
    first: float
    last: float
    paths: tuple[tuple[str, int], ...]


@dataclass
class Finding:
    """A Referer flood: one referring site (its registrable domain, ``host``) over the time it
    was flagged, with the Referer hosts inside that site."""

    host: str
    first_seen: float
    last_seen: float
    peak_rate: float
    requests: int = 0
    ip_set: set[bytes] = field(default_factory=set)
    paths: Counter[str] = field(default_factory=Counter)
    seconds: list[tuple[int, int]] = field(default_factory=list)  # (second, requests) in flood
    hosts: Counter[str] = field(default_factory=Counter)  # Referer hosts inside the site

    @property
    def ips(self) -> int:
        return len(self.ip_set)

    def as_dict(self) -> dict[str, object]:
        duration = max(self.last_seen - self.first_seen, 1.0)
        return {
            "referrer_host": self.host,
            "referrer_site": self.host,
            "hosts": [[h, n] for h, n in self.hosts.most_common(20)],
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "requests": self.requests,
            "peak_rate": round(self.peak_rate, 2),
            "mean_rate": round(self.requests / duration, 2),
            "distinct_ips": self.ips,
            "top_paths": [[p, n] for p, n in self.paths.most_common(5)],
        }


class Detector:
    """Feed requests in (roughly) time order with ``add``; ``advance`` judges the window."""

    def __init__(self, sites: Iterable[str], options: DetectOptions | None = None) -> None:
        self.options = options or DetectOptions()
        self.sites = tuple(s.lower() for s in sites)
        self.window = max(1, round(self.options.window))
        self._static = tuple(
            e.lower().encode() for e in STATIC_EXTENSIONS + self.options.static_extensions
        )
        self._seconds: dict[int, _Second] = {}
        # Requests per referring host in the held seconds, and the hosts with enough of them to
        # reach min_rate: only those are judged in full (merging IP and path counters is dear).
        self._held: dict[str, int] = {}
        self._hot: set[str] = set()
        self._hot_count = self.options.min_rate * self.window
        self._history: deque[tuple[int, int, dict[str, int]]] = deque()  # (second, total, hosts)
        self._hist_total = 0
        self._hist_hosts: Counter[str] = Counter()
        self._first_second: int | None = None
        self._latest = 0
        self._sites: dict[str, str | None] = {}
        self._path_cache: dict[bytes, tuple[str, bool]] = {}
        self.flagged: dict[str, Evidence] = {}  # hosts flagged by the latest advance()
        self.findings: dict[str, list[Finding]] = {}
        self._counted: dict[str, int] = {}  # last second already added to the finding
        self.late = 0  # requests older than the window, counted in its oldest second

    # Feeding -------------------------------------------------------------------------------------

    def ignored(self, host: str) -> bool:
        return is_own_host(host, self.sites) or is_search_engine(host, self.options.search_engines)

    def site(self, host: str) -> str | None:
        """The referring site a host's requests count for; None for the site's own hosts and
        search engines (never judged)."""
        known = self._sites.get(host, "")
        if known == "":
            known = None if self.ignored(host) else registrable_domain(host)
            if len(self._sites) > 100_000:
                self._sites.clear()
            self._sites[host] = known
        return known

    def _path(self, path: bytes) -> tuple[str, bool]:
        known = self._path_cache.get(path)
        if known is None:
            known = (path.decode("utf-8", errors="replace"), not is_static(path, self._static))
            if len(self._path_cache) > 100_000:
                self._path_cache.clear()
            self._path_cache[path] = known
        return known

    def add(self, when: float, ip: bytes, path: bytes, host: str | None) -> None:
        second = int(when)
        if self._first_second is None:
            self._first_second = second
            self._latest = second
        if second > self._latest:
            self._latest = second
        oldest = self._latest - self.window + 1
        if second < oldest:
            second = oldest  # a late line (logs are written at the end of a request)
            self.late += 1
        bucket = self._seconds.get(second)
        if bucket is None:
            bucket = self._seconds[second] = _Second()
        bucket.total += 1
        if host is None:
            return
        site = self.site(host)
        if site is None:
            return
        hb = bucket.hosts.get(site)
        if hb is None:
            hb = bucket.hosts[site] = _HostBucket(first=when, last=when)
        held = self._held[site] = self._held.get(site, 0) + 1
        if held >= self._hot_count:
            self._hot.add(site)
        hb.count += 1
        hb.hosts[host] += 1
        hb.last = max(hb.last, when)
        hb.first = min(hb.first, when)
        _text, dynamic = self._path(path)
        if dynamic:
            hb.dynamic += 1
        hb.ips[ip] += 1
        hb.paths[path] += 1

    def add_second(self, second: int, total: int, hosts: dict[str, _HostBucket]) -> None:
        """The requests of one second at once, as ``add`` takes them one by one: ``total`` of
        them, and the buckets of the referring sites that are judged, by site (see ``site``)."""
        if self._first_second is None:
            self._first_second = second
            self._latest = second
        self._latest = max(self._latest, second)
        oldest = self._latest - self.window + 1
        if second < oldest:
            second = oldest  # late, as in add
            self.late += total
        bucket = self._seconds.get(second)
        if bucket is None:
            bucket = self._seconds[second] = _Second()
        bucket.total += total
        for host, hb in hosts.items():
            mine = bucket.hosts.get(host)
            if mine is None:
                bucket.hosts[host] = hb
            else:
                mine.merge(hb)
            held = self._held[host] = self._held.get(host, 0) + hb.count
            if held >= self._hot_count:
                self._hot.add(host)

    @property
    def static_extensions(self) -> tuple[bytes, ...]:
        """The path endings of static files, in lower case (see ``is_static``)."""
        return self._static

    # Judging -------------------------------------------------------------------------------------

    @property
    def latest(self) -> int:
        """The newest second seen or judged."""
        return self._latest

    def _retire(self, before: int) -> None:
        """Move seconds older than ``before`` out of the window into the baseline history."""
        for second in sorted(s for s in self._seconds if s < before):
            bucket = self._seconds.pop(second)
            self._release(bucket)
            hosts = {h: b.count for h, b in bucket.hosts.items() if h not in self.flagged}
            self._history.append((second, bucket.total, hosts))
            self._hist_total += bucket.total
            self._hist_hosts.update(hosts)
        limit = before - int(self.options.baseline)
        while self._history and self._history[0][0] < limit:
            _, total, hosts = self._history.popleft()
            self._hist_total -= total
            self._hist_hosts.subtract(hosts)
            for h in hosts:
                if self._hist_hosts[h] <= 0:
                    del self._hist_hosts[h]

    def _release(self, bucket: _Second) -> None:
        """A second leaves the window: its requests no longer count towards a host's rate."""
        for host, hb in bucket.hosts.items():
            held = self._held[host] - hb.count
            if held > 0:
                self._held[host] = held
            else:
                del self._held[host]
            if held <= 0 or held < self._hot_count:
                self._hot.discard(host)

    def advance(self, now: float | None = None) -> list[Evidence]:
        """Judge the window ending at ``now`` (default: the latest request seen). Returns the
        evidence of the referring sites flagged as floods, highest rate first."""
        if self._first_second is None:
            return []
        end = int(now) if now is not None else self._latest
        self._latest = max(self._latest, end)
        start = end - self.window + 1
        self._retire(start)
        floods: list[Evidence] = []
        if end - self._first_second + 1 >= self.options.min_history:
            span = min(float(self.options.baseline), float(start - self._first_second))
            site_rate = self._hist_total / span if span >= self.window else 0.0
            for host in self._hot:
                hb = self._merged(host, end)
                ev = self._judge(host, hb, span, site_rate)
                if ev.flood:
                    floods.append(ev)
                    self._record(ev, hb, end)
        self.flagged = {ev.host: ev for ev in floods}
        floods.sort(key=lambda e: (-e.rate, e.host))
        return floods

    def _merged(self, host: str, end: int) -> _HostBucket:
        """One host's requests over the window's seconds up to ``end``."""
        into: _HostBucket | None = None
        for second, bucket in self._seconds.items():
            hb = bucket.hosts.get(host)
            if hb is None or second > end:
                continue
            if into is None:
                into = _HostBucket(first=hb.first, last=hb.last)
            into.count += hb.count
            into.dynamic += hb.dynamic
            into.first = min(into.first, hb.first)
            into.last = max(into.last, hb.last)
            into.ips.update(hb.ips)
            into.paths.update(hb.paths)
        return into if into is not None else _HostBucket()

    def _judge(self, host: str, hb: _HostBucket, span: float, site_rate: float) -> Evidence:
        """The evidence of one referring host over the window, and whether it is a flood."""
        o = self.options
        rate = hb.count / self.window
        own = self._hist_hosts.get(host, 0) / span if span >= self.window else 0.0
        ips = len(hb.ips)
        repeat = hb.count / ips if ips else 0.0
        dynamic_share = hb.dynamic / hb.count if hb.count else 0.0
        flood = (
            rate >= o.min_rate
            and rate >= o.spike_factor * own
            and rate >= o.site_share * site_rate
            and ips >= o.min_ips
            and repeat >= o.min_repeat
            and dynamic_share >= o.min_dynamic_share
        )
        paths = tuple((p.decode("utf-8", errors="replace"), n) for p, n in hb.paths.most_common(5))
        return Evidence(
            host, rate, hb.count, ips, repeat, dynamic_share, own, site_rate, flood,
            hb.first, hb.last, paths,
        )  # fmt: skip

    def _record(self, ev: Evidence, hb: _HostBucket, end: int) -> None:
        findings = self.findings.setdefault(ev.host, [])
        current = findings[-1] if findings else None
        if current is None or ev.first - current.last_seen > self.window:
            current = Finding(ev.host, ev.first, ev.last, ev.rate)
            findings.append(current)
            self._counted[ev.host] = int(ev.first) - 1
        current.last_seen = max(current.last_seen, ev.last)
        current.first_seen = min(current.first_seen, ev.first)
        current.peak_rate = max(current.peak_rate, ev.rate)
        done = self._counted.get(ev.host, end - self.window)
        for second in sorted(self._seconds):
            if done < second <= end:
                bucket = self._seconds[second].hosts.get(ev.host)
                if bucket is None:
                    continue
                current.requests += bucket.count
                current.seconds.append((second, bucket.count))
                current.hosts.update(bucket.hosts)
                if len(current.ip_set) < 1_000_000:
                    current.ip_set.update(bucket.ips)
                for path, n in bucket.paths.items():
                    current.paths[path.decode("utf-8", errors="replace")] += n
        self._counted[ev.host] = end

    def all_findings(self) -> list[Finding]:
        out = [f for fs in self.findings.values() for f in fs]
        out.sort(key=lambda f: (f.first_seen, f.host))
        return out


@dataclass(frozen=True)
class Timeline:
    """Requests per second of the whole site, for the plot."""

    seconds: list[int]
    totals: list[int]


Record = tuple[float, bytes, bytes, str | None]  # time, client IP, path, referring host
_TIME = itemgetter(0)


class _Counts(Protocol):
    lines: int
    matched: int


class Parser:
    """Blocks of log lines to records: (time, client IP, path, referring host) of each readable
    request; lines without a readable time count as unmatched."""

    def __init__(self, fmt: LogFormat) -> None:
        fields = ("time", "ip", "request", "referrer")
        self.matcher = fmt.matcher(fields)
        self._fast = fmt.fast_matcher(fields)
        self._hosts: dict[bytes, str | None] = {}
        self._paths: dict[bytes, bytes] = {}
        self._stamps: dict[bytes, float | None] = {}

    def parse(self, block: bytes, stats: _Counts | None = None) -> list[Record]:
        return list(self.records(block, stats))

    def _found(self, block: bytes, stats: _Counts | None) -> list[tuple[bytes, ...]]:
        """The block's matches: the fast matcher's when it vouches for every line."""
        lines = newlines(block)
        found = vouched(block, lines, self._fast) or self.matcher.findall(block)
        if stats is not None:
            stats.lines += lines
            stats.matched += len(found)
        return found

    def records(self, block: bytes, stats: _Counts | None = None) -> Iterator[Record]:
        found = self._found(block, stats)
        hosts, paths, stamps = self._hosts, self._paths, self._stamps
        for when, ip, request, referrer in found:
            stamp = stamps.get(when, 0.0)
            if stamp == 0.0:  # not seen (a log at the epoch itself is merely parsed again)
                if len(stamps) > 100_000:
                    stamps.clear()
                stamp = stamps[when] = parse_time(when)
            if stamp is None:
                if stats is not None:
                    stats.matched -= 1
                continue
            host = hosts.get(referrer, "")
            if host == "":
                if len(hosts) > 200_000:
                    hosts.clear()
                host = hosts[referrer] = referrer_host(referrer)
            path = paths.get(request)
            if path is None:
                if len(paths) > 200_000:
                    paths.clear()
                path = paths[request] = request_path(request)
            yield stamp, ip, path, host


def _next_block(stream: Iterator[list[Record]]) -> list[Record] | None:
    return next((block for block in stream if block), None)


def merge_by_time(streams: Iterable[Iterator[list[Record]]]) -> Iterator[list[Record]]:
    """One time-ordered stream of record blocks out of several, each in time order (a k-way
    merge by blocks). Each step hands on every buffered record up to the earliest of the
    streams' latest buffered times, which no stream can still undercut, sorted by time; the
    stream that set that limit is used up, so every step makes progress."""
    pending: list[tuple[list[Record], Iterator[list[Record]]]] = []
    for stream in streams:
        block = _next_block(stream)
        if block:
            pending.append((block, stream))
    while pending:
        horizon = min(block[-1][0] for block, _ in pending)
        parts: list[list[Record]] = []
        kept: list[tuple[list[Record], Iterator[list[Record]]]] = []
        for block, stream in pending:
            if block[-1][0] <= horizon:
                parts.append(block)
                following = _next_block(stream)
                if following:
                    kept.append((following, stream))
                continue
            cut = bisect_right(block, horizon, key=_TIME)
            if cut:
                parts.append(block[:cut])
                block = block[cut:]
            kept.append((block, stream))
        pending = kept
        yield parts[0] if len(parts) == 1 else sorted(chain.from_iterable(parts), key=_TIME)


class Driver:
    """The one schedule on which a Detector judges: ``weblog detect`` (whole files), ``weblog
    follow`` (live) and the weblog-flood check (the end of each log) all feed it.

    Records come in (roughly) in time order. When a new second of log time begins, the window
    that ended with the second before is judged, so a flood is flagged within a second of log
    time however fast the log is read. A record more than ``late`` seconds older than the newest
    one is counted in ``dropped`` and not judged: putting it into the current window would make a
    spike of old traffic (a backlog read after fresher history, logs concatenated out of order).
    ``judge(now)`` judges the window ending at the clock's time, as follow does on every poll.
    """

    LATE = 120

    def __init__(self, detector: Detector) -> None:
        self.detector = detector
        self.late = max(self.LATE, 2 * detector.window)
        self.dropped = 0
        self._newest: int | None = None  # the newest second fed

    def feed(self, records: Iterable[Record]) -> None:
        detector = self.detector
        add = detector.add
        newest = self._newest
        for stamp, ip, path, host in records:
            second = int(stamp)
            if newest is None or second > newest:
                if newest is not None:
                    detector.advance(second - 1)
                newest = self._newest = second
            elif second < newest - self.late:
                self.dropped += 1
                continue
            add(stamp, ip, path, host)

    def feed_second(self, second: int, total: int, hosts: dict[str, _HostBucket]) -> None:
        """The requests of one second at once (see ``Detector.add_second``), on the schedule
        ``feed`` keeps for each of them."""
        newest = self._newest
        if newest is None or second > newest:
            if newest is not None:
                self.detector.advance(second - 1)
            self._newest = second
        elif second < newest - self.late:
            self.dropped += total
            return
        self.detector.add_second(second, total, hosts)

    def judge(self, now: float | None = None) -> list[Evidence]:
        """The floods in the window ending at ``now``, or at the newest request when there is
        no ``now`` or the log runs ahead of the clock."""
        end = now if now is not None and now > self.detector.latest else None
        return self.detector.advance(end)

    @property
    def late_requests(self) -> int:
        """Requests logged a window or more late: counted in its oldest second, or not judged."""
        return self.detector.late + self.dropped


def _timed(records: Iterable[Record], timeline: Timeline) -> Iterator[Record]:
    """The records unchanged, each counted in the site's requests per second."""
    seconds, totals = timeline.seconds, timeline.totals
    for record in records:
        second = int(record[0])
        if seconds and seconds[-1] >= second:
            totals[-1] += 1
        else:
            seconds.append(second)
            totals.append(1)
        yield record


def _record_blocks(
    groups: list[list[str]], parser: Parser, stats: ScanStats, host: Host | None
) -> Iterable[list[Record]]:
    """Every request of the logs (``streams``), in blocks: a rotated set oldest file first,
    separate logs (not one rotated set) merged by time."""
    if len(groups) == 1:
        return (parser.parse(data, stats) for data in read_blocks(groups[0], stats, BLOCK, host))
    block = max(BLOCK // max(len(groups), 1), MIN_MERGE_BLOCK)
    feeds = [
        (parser.parse(data, stats) for data in read_blocks(g, stats, block, host)) for g in groups
    ]
    return merge_by_time(feeds)


def in_order(blocks: Iterable[list[Record]], horizon: float) -> Iterator[Record]:
    """The records in time order within ``horizon`` seconds: web servers stamp a request with
    its start but write it when it ends, and merged logs interleave, so a line may step back in
    time. Records are held until the newest one seen is ``horizon`` seconds past them, then
    handed on sorted (stably: equal times keep their order). Only a record older than some
    already handed on comes out of order: that is what "late" means."""
    held: list[Record] = []
    newest: float | None = None
    for block in blocks:
        if not block:
            continue
        held.extend(block)
        top = max(map(_TIME, block))
        newest = top if newest is None or top > newest else newest
        held.sort(key=_TIME)  # held is mostly in order: timsort merges its runs in linear time
        cut = bisect_right(held, newest - horizon, key=_TIME)
        if cut:
            yield from held[:cut]
            del held[:cut]
    held.sort(key=_TIME)
    yield from held


def detect_files(
    paths: Iterable[str],
    fmt: LogFormat,
    sites: Iterable[str],
    options: DetectOptions | None = None,
    timeline: Timeline | None = None,
    host: Host | None = None,
    *,
    fast: bool = True,
) -> tuple[list[Finding], ScanStats]:
    """Run the detector over whole logs (read through ``host``), on the Driver's schedule.
    One time-ordered stream is counted per second (fastdetect.py, unless ``fast`` is False);
    several are read record by record and merged.

    Separate logs (not one rotated set) are merged by time, so the detector sees the site's
    requests in the order they came whatever file each was written to."""
    driver = Driver(Detector(sites, options))
    stats = ScanStats()
    horizon = driver.detector.options.reorder
    groups = streams(paths, host)
    if horizon > 0 and len(groups) == 1 and fast:
        from stackwatch.weblog.fastdetect import detect_stream  # (it imports this module)

        detect_stream(groups[0], fmt, driver, stats, host or Host(), timeline, BLOCK)
    else:
        blocks = _record_blocks(groups, Parser(fmt), stats, host)
        found = in_order(blocks, horizon) if horizon > 0 else chain.from_iterable(blocks)
        driver.feed(_timed(found, timeline) if timeline is not None else found)
    driver.judge()
    stats.late = driver.late_requests
    return driver.detector.all_findings(), stats
