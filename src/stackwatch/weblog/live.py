"""``weblog follow``: detection on logs as they are written, and blocking with the Blocker.

One loop: poll the followed files, feed the complete lines to the detector's Driver (the same
schedule as ``weblog detect`` and the weblog-flood check), judge the window ending now, update
the blocks, save offsets and blocks in the state directory. Bounded by ``duration`` (or until
interrupted); every step is short, so a flood is blocked within seconds.
"""

from __future__ import annotations

import heapq
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO

from stackwatch.core.follow import stopped_by_signals
from stackwatch.core.host import Host
from stackwatch.core.record import dataclass, field
from stackwatch.core.state import StateStore
from stackwatch.weblog.apply import Blocker
from stackwatch.weblog.detect import DetectOptions, Detector, Driver, Evidence, Parser, Record
from stackwatch.weblog.follow import Follower
from stackwatch.weblog.formats import LogFormat
from stackwatch.weblog.reader import BLOCK

STATE_NAME = "weblog-follow"
PRIME_STEP = 1 << 20
PRIME_SECONDS = 600.0  # history read at start, when a log has no saved offset
PRIME_BYTES = 64 << 20  # at most, shared by the logs (at least 1 MiB each)
SAVE_EVERY = 1.0  # seconds between saves of offsets and blocks

# What signal.signal() returns and accepts.


@dataclass
class FollowStats:
    lines: int = 0
    matched: int = 0
    polls: int = 0
    primed: int = 0  # history read at start to warm the baselines (not in ``lines``)
    late: int = 0  # lines too old to judge against the current window
    floods: dict[str, Evidence] = field(default_factory=dict)  # latest evidence per host

    @property
    def skipped(self) -> int:
        return self.lines - self.matched


@dataclass
class _Loop:
    """What one follow run holds: the files, the parser, the driver, the blocks."""

    follower: Follower
    parser: Parser
    driver: Driver
    store: StateStore
    blocker: Blocker | None
    report: Callable[[str], None]
    stats: FollowStats = field(default_factory=FollowStats)

    def warm(self, seconds: float, budget: int) -> None:
        """Judge the last ``seconds`` of the logs without saved offsets before following."""
        if seconds <= 0:
            return
        prime(self.follower, self.parser, self.driver, self.stats, time.time() - seconds, budget)
        if self.stats.primed:
            self.report(f"baselines warmed with {self.stats.primed} requests of the last "
                        f"{seconds / 60:g} min")  # fmt: skip

    def run(self, duration: float | None, interval: float, stop: threading.Event) -> None:
        started = time.monotonic()
        saved = 0.0
        while not stop.is_set():
            self.step()
            if time.monotonic() - saved >= SAVE_EVERY:
                self.save()
                saved = time.monotonic()
            if duration is not None and time.monotonic() - started >= duration:
                break
            time.sleep(interval)

    def step(self) -> None:
        """One poll: new lines in, the window ending now judged, the blocks brought in line."""
        for block in self.follower.poll():
            self.driver.feed(self.parser.records(block, self.stats))
        self.stats.late = self.driver.dropped
        self._tell(self.follower.events)
        now = time.time()
        floods = self.driver.judge(now)
        for ev in floods:
            if ev.host not in self.stats.floods:
                self.report(
                    f"flood: Referer site {ev.host} {ev.rate:.1f} req/s from {ev.ips} IPs "
                    f"({ev.repeat:.1f} requests per IP), top path "
                    f"{ev.paths[0][0] if ev.paths else '-'}"
                )
            self.stats.floods[ev.host] = ev
        if self.blocker is not None:
            self.blocker.update([ev.host for ev in floods], now)
            self._tell(self.blocker.log)
        self.stats.polls += 1

    def _tell(self, lines: list[str]) -> None:
        for line in lines:
            self.report(line)
        lines.clear()

    def save(self) -> None:
        data: dict[str, Any] = {"files": self.follower.state()}
        if self.blocker is not None:
            data["blocks"] = self.blocker.state()
        self.store.save(STATE_NAME, data)


def prime(
    follower: Follower,
    parser: Parser,
    driver: Driver,
    stats: FollowStats,
    since: float,
    budget: int,
) -> None:
    """Warm the detector with the requests logged since ``since`` in the files that have no
    saved offsets (at most ``budget`` bytes read from their ends, see Follower.prime), in time
    order across the files; they are then followed from where this stopped."""
    ranges = follower.prime(budget)
    if not ranges or since <= 0:
        return
    streams = [_history(parser, h, start, end, since, stats) for h, start, end in ranges]
    driver.feed(heapq.merge(*streams, key=_time_of))
    stats.late = driver.dropped


def _time_of(record: Record) -> float:
    return record[0]


def _history(
    parser: Parser, handle: BinaryIO, start: int, end: int, since: float, stats: FollowStats
) -> Iterator[Record]:
    """The records of ``handle`` logged since ``since``, from the whole lines in [start, end).

    Steps back from ``end`` 1 MiB at a time while the first whole line there is still recent,
    so a quiet log costs a few reads, not the whole budget."""
    fd = handle.fileno()
    pos = end
    while pos > start:
        pos = max(start, pos - PRIME_STEP)
        first = _first_line_time(parser, fd, pos, end)
        if first is not None and first < since:
            break
    if pos > 0:
        skip = os.pread(fd, 65536, pos - 1)
        cut = skip.find(b"\n")
        pos = pos + cut if cut >= 0 else end  # start after the newline that ends a cut line
    while pos < end:
        data = os.pread(fd, min(BLOCK, end - pos), pos)
        if not data:
            break
        cut = data.rfind(b"\n")
        if cut < 0:
            break
        pos += cut + 1
        records = [r for r in parser.parse(data[: cut + 1]) if r[0] >= since]
        stats.primed += len(records)
        yield from records


def _first_line_time(parser: Parser, fd: int, pos: int, end: int) -> float | None:
    data = os.pread(fd, min(65536, end - pos), pos)
    if pos > 0:
        cut = data.find(b"\n")
        data = data[cut + 1 :] if cut >= 0 else b""
    cut = data.find(b"\n")
    if cut < 0:
        return None
    found = parser.parse(data[: cut + 1])
    return found[0][0] if found else None


def _table(saved: dict[str, Any], key: str) -> dict[str, Any]:
    value = saved.get(key)
    return value if isinstance(value, dict) else {}


def follow(
    paths: Iterable[str],
    fmt: LogFormat,
    sites: Iterable[str],
    options: DetectOptions,
    store: StateStore,
    blocker: Blocker | None = None,
    *,
    duration: float | None = None,
    interval: float = 0.5,
    from_start: bool = False,
    report: Callable[[str], None] = print,
    patterns: Iterable[str] = (),
    rescan: float = 10.0,
    prime_seconds: float = PRIME_SECONDS,
    prime_bytes: int = PRIME_BYTES,
    host: Host | None = None,
) -> FollowStats:
    """Follow until ``duration`` seconds have passed, or SIGTERM / SIGINT.

    The logs without saved offsets first warm the detector with their last ``prime_seconds`` of
    requests (``prime_bytes`` at most), so a flood already under way is judged at once; the
    ``patterns`` (globs) are expanded again every ``rescan`` seconds for new logs."""
    saved = store.load(STATE_NAME)
    follower = Follower(paths, _table(saved, "files"), from_start=from_start, patterns=patterns,
                        rescan=rescan, host=host)  # fmt: skip
    if blocker is not None:
        blocker.restore(_table(saved, "blocks"))
    loop = _Loop(follower, Parser(fmt), Driver(Detector(sites, options)), store, blocker, report)
    with stopped_by_signals() as stop:
        report(
            f"following {len(follower.cursors)} logs"
            + (f", rules in {blocker.path}" if blocker else "")
        )
        try:
            loop.warm(prime_seconds, prime_bytes)
            loop.run(duration, interval, stop)
        finally:
            loop.save()
            follower.close()
    return loop.stats
