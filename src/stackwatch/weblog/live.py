"""``weblog follow``: detection on logs as they are written, and blocking with the Blocker.

One loop: poll the followed files, feed the complete lines to the Detector, judge the trailing
window, update the blocks, save offsets and blocks in the state directory. Bounded by
``duration`` (or until interrupted); every step is short, so a flood is blocked within seconds.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from stackwatch.core.state import StateStore
from stackwatch.weblog.apply import Blocker
from stackwatch.weblog.detect import DetectOptions, Detector, Evidence
from stackwatch.weblog.follow import Follower
from stackwatch.weblog.formats import LogFormat, parse_time, referrer_host, request_path

STATE_NAME = "weblog-follow"

# What signal.signal() returns and accepts.
_Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


@dataclass
class FollowStats:
    lines: int = 0
    matched: int = 0
    polls: int = 0
    floods: dict[str, Evidence] = field(default_factory=dict)  # latest evidence per host

    @property
    def skipped(self) -> int:
        return self.lines - self.matched


class Feeder:
    """Turns blocks of log lines into Detector input, judging at each new second of log time."""

    def __init__(self, fmt: LogFormat, detector: Detector) -> None:
        self.matcher = fmt.matcher(("time", "ip", "request", "referrer"))
        self.detector = detector
        self._hosts: dict[bytes, str | None] = {}
        self._paths: dict[bytes, bytes] = {}
        self._judged = 0

    def feed(self, block: bytes, stats: FollowStats) -> None:
        found = self.matcher.findall(block)
        stats.lines += block.count(b"\n")
        stats.matched += len(found)
        detector = self.detector
        hosts, paths = self._hosts, self._paths
        for when, ip, request, referrer in found:
            stamp = parse_time(when)
            if stamp is None:
                stats.matched -= 1
                continue
            if referrer not in hosts:
                if len(hosts) > 200_000:
                    hosts.clear()
                hosts[referrer] = referrer_host(referrer)
            path = paths.get(request)
            if path is None:
                if len(paths) > 200_000:
                    paths.clear()
                path = paths[request] = request_path(request)
            second = int(stamp)
            if second > self._judged:
                if self._judged:
                    detector.advance(second - 1)
                self._judged = second
            detector.add(stamp, ip, path, hosts[referrer])


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
) -> FollowStats:
    """Follow until ``duration`` seconds have passed, or SIGTERM / SIGINT."""
    saved = store.load(STATE_NAME)
    offsets = saved.get("files") if isinstance(saved.get("files"), dict) else {}
    follower = Follower(paths, offsets, from_start=from_start)
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
