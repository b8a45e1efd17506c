"""Progress of a long read on the terminal: lines read, lines per second and the share of the
bytes, on one line of stderr rewritten in place, erased at the end.

Shown only when stderr is a terminal and the read has taken more than a second (a pipe or a
log file never sees it). The readers (fastcount, fastdetect) call ``advance`` once per block;
the command (cli.py) says where a report goes with ``on_terminal``, so the functions that count
keep their signatures.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TextIO

from stackwatch.core.host import Host, HostError
from stackwatch.weblog.reader import expand

DELAY = 1.0  # seconds before the first report: a quick read shows nothing
EVERY = 0.25  # seconds between reports


class Progress:
    """Lines and bytes read so far, reported on ``stream`` at most every EVERY seconds."""

    def __init__(self, total: int | None, stream: TextIO, clock: float | None = None) -> None:
        self.total = total  # bytes to read, None when unknown (gzip, stdin)
        self.stream = stream
        self.lines = 0
        self.done = 0
        self._start = time.monotonic() if clock is None else clock
        self._next = self._start + DELAY
        self.shown = False

    def advance(self, lines: int, size: int, now: float | None = None) -> None:
        self.lines += lines
        self.done += size
        now = time.monotonic() if now is None else now
        if now >= self._next:
            self._next = now + EVERY
            self._show(now)

    def line(self, now: float) -> str:
        """The report: lines, lines per second, and the share of the bytes when known."""
        rate = self.lines / max(now - self._start, 1e-9)
        text = f"{self.lines:,} lines read, {rate:,.0f} lines/s"
        if self.total:
            text += f", {min(self.done / self.total, 1.0):.0%} of {self.total / 1e6:,.0f} MB"
        return text

    def _show(self, now: float) -> None:
        self.stream.write(f"\r{self.line(now)}\x1b[K")
        self.stream.flush()
        self.shown = True

    def finish(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


_current: Progress | None = None


def advance(lines: int, size: int) -> None:
    """A block read: counted on the terminal's report, if one is shown."""
    if _current is not None:
        _current.advance(lines, size)


@contextmanager
def on_terminal(paths: Iterable[str], host: Host | None = None) -> Iterator[None]:
    """Report the progress of reading ``paths`` (expanded names) while the block runs, when
    stderr is a terminal."""
    global _current
    if not sys.stderr.isatty():
        yield
        return
    host = host or Host()
    _current = Progress(_plain_size(expand(paths, host), host), sys.stderr)
    try:
        yield
    finally:
        _current.finish()
        _current = None


def _plain_size(paths: Iterable[str], host: Host) -> int | None:
    """The bytes of the logs, or None when some are not plain files (stdin, gzip): their
    bytes read are not their size."""
    total = 0
    for path in paths:
        if path == "-":
            return None
        try:
            with host.open_binary(path) as handle:
                if handle.read(2) == b"\x1f\x8b":
                    return None
            total += host.stat(path).st_size
        except HostError:
            return None
    return total
