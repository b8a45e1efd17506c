"""``weblog follow``: detection on logs as they are written, and blocking with the Blocker.

One loop: poll the followed files, feed the complete lines to the Detector, judge the trailing
window, update the blocks, save offsets and blocks in the state directory. Bounded by
``duration`` (or until interrupted); every step is short, so a flood is blocked within seconds.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, BinaryIO

from stackwatch.core.state import StateStore
from stackwatch.weblog.apply import Blocker
from stackwatch.weblog.detect import DetectOptions, Detector, Evidence, Parser, Record
from stackwatch.weblog.follow import Follower
from stackwatch.weblog.formats import LogFormat
from stackwatch.weblog.reader import BLOCK

STATE_NAME = "weblog-follow"
PRIME_STEP = 1 << 20
PRIME_SECONDS = 600.0  # history read at start, when a log has no saved offset
PRIME_BYTES = 64 << 20  # at most, shared by the logs (at least 1 MiB each)

# What signal.signal() returns and accepts.
_Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


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


class Feeder(Parser):
    """Turns blocks of log lines into Detector input, judging at each new second of log time.

    A line more than ``LATE`` seconds older than the newest one fed is counted but not judged:
    putting it into the current window would make a spike of old traffic (a backlog read after
    fresher history)."""

    LATE = 120

    def __init__(self, fmt: LogFormat, detector: Detector) -> None:
        super().__init__(fmt)
        self.detector = detector
        self._judged = 0
        self.late = max(self.LATE, 2 * detector.window)

    def add(self, records: Iterable[Record], stats: FollowStats) -> None:
        detector = self.detector
        for stamp, ip, path, host in records:
            second = int(stamp)
            if second > self._judged:
                if self._judged:
                    detector.advance(second - 1)
                self._judged = second
            elif second < self._judged - self.late:
                stats.late += 1
                continue
            detector.add(stamp, ip, path, host)

    def feed(self, block: bytes, stats: FollowStats) -> None:
        self.add(self.parse(block, stats), stats)


def prime(
    follower: Follower, feeder: Feeder, stats: FollowStats, since: float, budget: int
) -> None:
    """Warm the detector with the requests logged since ``since`` in the files that have no
    saved offsets (at most ``budget`` bytes read from their ends, see Follower.prime), in time
    order across the files; they are then followed from where this stopped."""
    ranges = follower.prime(budget)
    if not ranges or since <= 0:
        return
    streams = [_history(feeder, h, start, end, since, stats) for h, start, end in ranges]
    feeder.add(heapq.merge(*streams, key=_time_of), stats)


def _time_of(record: Record) -> float:
    return record[0]


def _history(
    feeder: Feeder, handle: BinaryIO, start: int, end: int, since: float, stats: FollowStats
) -> Iterator[Record]:
    """The records of ``handle`` logged since ``since``, from the whole lines in [start, end).

    Steps back from ``end`` 1 MiB at a time while the first whole line there is still recent,
    so a quiet log costs a few reads, not the whole budget."""
    fd = handle.fileno()
    pos = end
    while pos > start:
        pos = max(start, pos - PRIME_STEP)
        first = _first_line_time(feeder, fd, pos, end)
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
        records = [r for r in feeder.parse(data[: cut + 1]) if r[0] >= since]
        stats.primed += len(records)
        yield from records


def _first_line_time(feeder: Feeder, fd: int, pos: int, end: int) -> float | None:
    data = os.pread(fd, min(65536, end - pos), pos)
    if pos > 0:
        cut = data.find(b"\n")
        data = data[cut + 1 :] if cut >= 0 else b""
    cut = data.find(b"\n")
    if cut < 0:
        return None
    found = feeder.parse(data[: cut + 1])
    return found[0][0] if found else None


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
) -> FollowStats:
    """Follow until ``duration`` seconds have passed, or SIGTERM / SIGINT.

    The logs without saved offsets first warm the detector with their last ``prime_seconds`` of
    requests (``prime_bytes`` at most), so a flood already under way is judged at once; the
    ``patterns`` (globs) are expanded again every ``rescan`` seconds for new logs."""
    saved = store.load(STATE_NAME)
    offsets = saved.get("files") if isinstance(saved.get("files"), dict) else {}
    follower = Follower(paths, offsets, from_start=from_start, patterns=patterns, rescan=rescan)
    detector = Detector(sites, options)
    feeder = Feeder(fmt, detector)
    stats = FollowStats()
    if blocker is not None:
        previous = saved.get("blocks") if isinstance(saved.get("blocks"), dict) else {}
        kept = Blocker.from_state(previous or {}, server=blocker.server, path=blocker.path,
                                  validate=blocker.validate, reload=blocker.reload,
                                  ban_time=blocker.ban_time, host=blocker.host)  # fmt: skip
        blocker.blocked = kept.blocked
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    old_handlers: dict[signal.Signals, _Handler] = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(ValueError):  # not the main thread (tests)
            old_handlers[sig] = signal.signal(sig, stop)
    started = time.monotonic()
    last_save = 0.0
    report(
        f"following {len(follower.cursors)} logs"
        + (f", rules in {blocker.path}" if blocker else "")
    )
    try:
        if prime_seconds > 0:
            prime(follower, feeder, stats, time.time() - prime_seconds, prime_bytes)
            if stats.primed:
                report(f"baselines warmed with {stats.primed} requests of the last "
                       f"{prime_seconds / 60:g} min")  # fmt: skip
        while not stopping:
            for block in follower.poll():
                feeder.feed(block, stats)
            for event in follower.events:
                report(event)
            follower.events.clear()
            now = time.time()
            evidence = detector.advance(now if now > detector._latest else None)
            flooding = [e for e in evidence if e.flood]
            for ev in flooding:
                if ev.host not in stats.floods:
                    report(
                        f"flood: Referer host {ev.host} {ev.rate:.1f} req/s from {ev.ips} IPs "
                        f"({ev.repeat:.1f} requests per IP), top path "
                        f"{ev.paths[0][0] if ev.paths else '-'}"
                    )
                stats.floods[ev.host] = ev
            if blocker is not None:
                blocker.update([e.host for e in flooding], now)
                for line in blocker.log:
                    report(line)
                blocker.log.clear()
            stats.polls += 1
            if time.monotonic() - last_save >= 1.0:
                _save(store, follower, blocker)
                last_save = time.monotonic()
            if duration is not None and time.monotonic() - started >= duration:
                break
            time.sleep(interval)
    finally:
        _save(store, follower, blocker)
        follower.close()
        for old_sig, handler in old_handlers.items():
            if handler is not None:  # None: installed outside Python, cannot be put back
                signal.signal(old_sig, handler)
    return stats


def _save(store: StateStore, follower: Follower, blocker: Blocker | None) -> None:
    data: dict[str, Any] = {"files": follower.state()}
    if blocker is not None:
        data["blocks"] = blocker.state()
    store.save(STATE_NAME, data)
