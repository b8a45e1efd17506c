"""Reading access logs: plain and gzip files, rotated sets in order, stdin, in large blocks.

``blocks()`` yields blocks of whole lines (a few MB each) so that a format's matcher can scan a
block in one call. Lines longer than ``MAX_LINE`` are dropped and counted, so a file of binary junk
without newlines cannot take the memory of the machine. Files are opened and globs expanded
through a ``Host`` (machine paths, absolute); "-" is stdin.

The one rule for rotated names (``rotated_name``, in core/follow.py beside the follower):
``access.log.2.gz``, ``access.log.1``, ``access.log-20240101`` and compressed copies belong to
the rotated set of ``access.log``; the reader orders a set by it, the follower leaves such names
alone.
"""

from __future__ import annotations

import gzip
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO, cast

from stackwatch.core.follow import rotated_name as rotated_name
from stackwatch.core.host import Host, HostError
from stackwatch.core.record import dataclass, field
from stackwatch.weblog.formats import LogFormat

BLOCK = 4 << 20
MAX_LINE = 1 << 20  # a longer line is not a log line; it is skipped and counted


class LogReadError(Exception):
    """A log that cannot be opened or read; the message names it."""


@dataclass
class ScanStats:
    lines: int = 0
    matched: int = 0
    too_long: int = 0
    late: int = 0  # requests older than the window being judged (see Detector.add)
    files: list[str] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return self.lines - self.matched


def expand(paths: Iterable[str], host: Host | None = None) -> list[str]:
    """Globs expanded; rotated sets ordered oldest first (access.log.3.gz, .2, .1, access.log).

    "-" stands for stdin. A name that matches nothing is kept, so opening it fails with a clear
    message rather than silently reading nothing."""
    host = host or Host()
    out: list[str] = []
    for path in paths:
        if path == "-":
            out.append(path)
            continue
        matches = host.glob(path)
        out.extend(order_rotated(matches) if matches else [path])
    return list(dict.fromkeys(out))


def _rotation(path: str) -> tuple[str, int]:
    """(live file name, age): access.log.2.gz -> ("access.log", -2), access.log -> (.., 1)."""
    name = rotated_name(path)
    return name.base, name.age


def order_rotated(paths: Iterable[str]) -> list[str]:
    """Sort a rotated set oldest first: a higher rotation number is older; the live file last."""
    return sorted(paths, key=_rotation)


def streams(paths: Iterable[str], host: Host | None = None) -> list[list[str]]:
    """The logs as separate time-ordered streams: each rotated set is one stream, oldest file
    first (see ``expand``); different logs (two vhosts, access.log and ssl_access.log) and stdin
    are streams of their own, to be merged by time."""
    grouped: dict[str, list[str]] = {}
    for path in expand(paths, host):
        grouped.setdefault(rotated_name(path).base, []).append(path)
    return [order_rotated(group) if len(group) > 1 else group for group in grouped.values()]


@contextmanager
def _opened(path: str, host: Host) -> Iterator[BinaryIO]:
    """The log's bytes: stdin for "-", a gzip file decompressed (known by its magic bytes)."""
    if path == "-":
        yield sys.stdin.buffer
        return
    try:
        raw = host.open_binary(path)
    except HostError as exc:
        raise LogReadError(str(exc)) from None
    with raw:
        try:
            head = raw.read(2)
            raw.seek(0)
        except OSError as exc:
            raise LogReadError(f"cannot read {path}: {exc.strerror or exc}") from None
        if head != b"\x1f\x8b":
            yield raw
            return
        with gzip.GzipFile(fileobj=raw, mode="rb") as unpacked:
            yield cast(BinaryIO, unpacked)


def blocks_of(handle: BinaryIO, stats: ScanStats, name: str, block: int = BLOCK) -> Iterator[bytes]:
    """Blocks of whole lines; the last line of the stream gets its newline added."""
    carry = b""
    dropping = False  # inside an over-long line: discard until its newline
    while True:
        try:
            data = handle.read(block)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise LogReadError(f"{name}: {getattr(exc, 'strerror', None) or exc}") from None
        if not data:
            break
        if dropping:
            cut = data.find(b"\n")
            if cut < 0:
                continue
            data = data[cut + 1 :]
            dropping = False
        data = carry + data if carry else data
        cut = data.rfind(b"\n")
        if cut < 0:
            carry = data
        else:
            carry = data[cut + 1 :]
            yield data[: cut + 1]
        if len(carry) > MAX_LINE:
            stats.too_long += 1
            stats.lines += 1
            carry = b""
            dropping = True
    if carry:
        yield carry + b"\n"


def scan(
    paths: Iterable[str],
    fmt: LogFormat,
    fields: Iterable[str],
    stats: ScanStats | None = None,
    host: Host | None = None,
) -> Iterator[list[Any]]:
    """For each block of each log, the list of matches of ``fields`` (see LogFormat.matcher)."""
    stats = stats if stats is not None else ScanStats()
    matcher = fmt.matcher(fields)
    host = host or Host()
    for data in read_blocks(expand(paths, host), stats, host=host):
        found = matcher.findall(data)
        stats.lines += data.count(b"\n")
        stats.matched += len(found)
        yield found


def read_blocks(
    paths: Iterable[str], stats: ScanStats, block: int = BLOCK, host: Host | None = None
) -> Iterator[bytes]:
    """Blocks of whole lines of each log in turn (names as ``expand`` returns them); each file
    is opened when its turn comes and named in ``stats.files``."""
    host = host or Host()
    for path in paths:
        stats.files.append(path)
        with _opened(path, host) as handle:
            yield from blocks_of(handle, stats, path, block)
