"""``nagios alerts --follow``: the live nagios.log followed as Nagios writes it, and the
what/when/where counters of each poll's new lines sent to StatsD as they come.

The follower is core.follow's (the one ``weblog follow`` uses): Nagios's rotation (nagios.log
renamed into archives/ and a new one created) is read to the end of the old file through the
descriptor still open, then the new file from its start; a line still being written waits for
its newline; offsets are kept in the state directory, so a restart resumes where the last run
stopped (a log seen for the first time is read from its end, or whole with ``from_start``).
Offsets are saved after the counters they cover were sent: a crash in between sends those lines
again on restart rather than losing them.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable

from stackwatch.core.follow import Follower, stopped_by_signals
from stackwatch.core.host import Host, HostError
from stackwatch.core.record import dataclass
from stackwatch.core.state import StateStore
from stackwatch.nagios.alerts import Where, summarize
from stackwatch.nagios.alerts_statsd import StatsdError, send_counters
from stackwatch.nagios.alerts_tally import Tally

STATE_NAME = "nagios-alerts-follow"
SAVE_EVERY = 1.0  # seconds between saves of the offsets


@dataclass
class FollowStats:
    lines: int = 0
    malformed: int = 0
    datagrams: int = 0
    polls: int = 0
    send_errors: int = 0


@dataclass(frozen=True)
class Sink:
    """Where the counters go, and how they are named and judged."""

    address: str  # StatsD HOST:PORT
    prefix: str
    window: float
    where: Where


def follow_alerts(
    paths: list[str],
    sink: Sink,
    store: StateStore,
    *,
    duration: float | None = None,
    interval: float = 1.0,
    from_start: bool = False,
    report: Callable[[str], None] = print,
    host: Host | None = None,
    archives: Iterable[str] = (),
) -> FollowStats:
    """Follow until ``duration`` seconds have passed, or SIGTERM / SIGINT. ``archives``: where
    Nagios moves a rotated log (log_archive_path), besides ``archives/`` next to each log: a log
    rotated while stackwatch was stopped has the rest of its lines read there on restart."""
    saved = store.load(STATE_NAME).get("files")
    beside = [os.path.join(os.path.dirname(path), "archives") for path in paths]
    follower = Follower(
        paths,
        saved if isinstance(saved, dict) else {},
        from_start=from_start,
        host=host,
        archive_dirs=[*archives, *beside],
    )
    stats = FollowStats()
    started = last_save = time.monotonic()
    try:
        with stopped_by_signals() as stop:
            while not stop.is_set():
                _step(follower, sink, stats, report)
                if time.monotonic() - last_save >= SAVE_EVERY:
                    store.save(STATE_NAME, {"files": follower.state()})
                    last_save = time.monotonic()
                if duration is not None and time.monotonic() - started >= duration:
                    break
                stop.wait(interval)
            _step(follower, sink, stats, report)  # what was written until the stop
    finally:
        store.save(STATE_NAME, {"files": follower.state()})
        follower.close()
    return stats


_ARCHIVE_PATH = re.compile(r"^\s*log_archive_path\s*=\s*(\S.*?)\s*$", re.M)


def archive_path(host: Host, main_config: str) -> list[str]:
    """Nagios's log_archive_path from its main configuration; none where it cannot be read
    (``archives/`` beside the log is looked in anyway)."""
    try:
        text = host.read_text(main_config)
    except HostError:
        return []
    found = _ARCHIVE_PATH.findall(text)[-1:]
    # A relative path is relative to where Nagios was started: not knowable here, not used.
    return [path for path in found if os.path.isabs(path)]


def _step(
    follower: Follower, sink: Sink, stats: FollowStats, report: Callable[[str], None]
) -> None:
    """One poll: the new complete lines counted and their counters sent."""
    tally = Tally(sink.window)
    for block in follower.poll():
        tally.add_data(block, "nagios.log")
    for event in follower.events:
        report(event)
    follower.events.clear()
    stats.polls += 1
    if not tally.lines:
        return
    stats.lines += tally.lines
    stats.malformed += tally.malformed
    try:
        stats.datagrams += send_counters(summarize(tally, sink.where), sink.address, sink.prefix)
    except StatsdError as exc:
        stats.send_errors += 1
        report(f"counters of {tally.lines} lines not sent: {exc}")
