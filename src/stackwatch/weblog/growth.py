"""Which access logs grow fastest: bytes and lines per second over an interval, across hundreds of
vhost logs at once. A log rotated during the interval counts what the new file holds. Files are
read through a ``Host`` (absolute machine paths)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from stackwatch.core.host import Host, HostError
from stackwatch.core.record import dataclass
from stackwatch.weblog.reader import expand, newlines

MAX_COUNT = 64 << 20  # newlines are counted in at most this many new bytes per file


@dataclass(frozen=True)
class Growth:
    path: str
    bytes_per_s: float
    lines_per_s: float
    size: int
    rotated: bool = False
    error: str | None = None


def _stat(host: Host, path: str) -> tuple[int, int, int] | None:
    try:
        st = host.stat_optional(path)
    except HostError:
        return None
    return (st.st_dev, st.st_ino, st.st_size) if st is not None else None


def _count_lines(host: Host, path: str, start: int, end: int) -> int:
    count = 0
    try:
        with host.open_binary(path) as handle:
            handle.seek(start)
            left = min(end - start, MAX_COUNT)
            while left > 0:
                data = handle.read(min(left, 1 << 20))
                if not data:
                    break
                count += newlines(data)
                left -= len(data)
    except (HostError, OSError):
        return 0
    if end - start > MAX_COUNT:  # estimate the rest from the part counted
        count = int(count * (end - start) / MAX_COUNT)
    return count


def measure(
    paths: Iterable[str],
    interval: float,
    sleep: Callable[[float], None] = time.sleep,
    host: Host | None = None,
) -> list[Growth]:
    """Sample every file, wait ``interval`` seconds, sample again; fastest growing first."""
    host = host or Host()
    files = [p for p in expand(paths, host) if p != "-"]
    before = {p: _stat(host, p) for p in files}
    started = time.monotonic()
    sleep(interval)
    elapsed = max(time.monotonic() - started, 1e-6)
    out = [_growth(host, path, before[path], elapsed) for path in files]
    out.sort(key=lambda g: (-g.bytes_per_s, g.path))
    return out


def _growth(host: Host, path: str, first: tuple[int, int, int] | None, elapsed: float) -> Growth:
    """One log's growth since ``first`` (its device, inode and size before the interval)."""
    second = _stat(host, path)
    if second is None:
        return Growth(path, 0.0, 0.0, 0, error="cannot read")
    if first is None or first[:2] != second[:2] or second[2] < first[2]:
        start, rotated = 0, first is not None
    else:
        start, rotated = first[2], False
    grown = second[2] - start
    lines = _count_lines(host, path, start, second[2]) if grown else 0
    return Growth(path, grown / elapsed, lines / elapsed, second[2], rotated)
