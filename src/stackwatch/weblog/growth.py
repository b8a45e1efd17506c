"""Which access logs grow fastest: bytes and lines per second over an interval, across hundreds of
vhost logs at once. A log rotated during the interval counts what the new file holds."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from stackwatch.weblog.reader import expand

MAX_COUNT = 64 << 20  # newlines are counted in at most this many new bytes per file


@dataclass(frozen=True)
class Growth:
    path: str
    bytes_per_s: float
    lines_per_s: float
    size: int
    rotated: bool = False
    error: str | None = None


def _stat(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size


def _count_lines(path: str, start: int, end: int) -> int:
    count = 0
    try:
        with open(path, "rb") as handle:
            handle.seek(start)
            left = min(end - start, MAX_COUNT)
            while left > 0:
                data = handle.read(min(left, 1 << 20))
                if not data:
                    break
                count += data.count(b"\n")
                left -= len(data)
    except OSError:
        return 0
    if end - start > MAX_COUNT:  # estimate the rest from the part counted
        count = int(count * (end - start) / MAX_COUNT)
    return count


def measure(
    paths: Iterable[str], interval: float, sleep: Callable[[float], None] = time.sleep
) -> list[Growth]:
    """Sample every file, wait ``interval`` seconds, sample again; fastest growing first."""
    files = [p for p in expand(paths) if p != "-"]
    before = {p: _stat(p) for p in files}
    started = time.monotonic()
    sleep(interval)
    elapsed = max(time.monotonic() - started, 1e-6)
    out: list[Growth] = []
    for path in files:
        first, second = before[path], _stat(path)
        if second is None:
            out.append(Growth(path, 0.0, 0.0, 0, error="cannot read"))
            continue
        if first is None or first[:2] != second[:2] or second[2] < first[2]:
            start, rotated = 0, first is not None
        else:
            start, rotated = first[2], False
        grown = second[2] - start
        lines = _count_lines(path, start, second[2]) if grown else 0
        out.append(Growth(path, grown / elapsed, lines / elapsed, second[2], rotated))
    out.sort(key=lambda g: (-g.bytes_per_s, g.path))
    return out
