"""Following logs across rotation without losing or re-reading a line (fail2ban's way): the
access logs of ``weblog follow`` and the nagios.log of ``nagios alerts --follow``.

Each file is identified by device, inode and the hash of its first line:
- a new inode under the name: the file was renamed away (logrotate ``create``); the old file is
  read to its end through the descriptor still open, then the new one from its start;
- the same inode, shorter than our offset or with another first line: it was truncated
  (``copytruncate``); the lines we had not read yet are taken from the rotated copy (a sibling
  whose first line is ours), then the file is read from its start;
- a line without its newline yet is held back until it is complete.
Offsets live in the state directory, so a restart resumes where the last run stopped; a file
seen for the first time is read from its end (``from_start`` reads it whole), and ``prime()``
hands the caller the recent history just before that end to warm its baselines with.
Globs are expanded again every ``rescan`` seconds: a log created later (a new vhost) is read from
its beginning; rotated names (access.log.1, -20240101, .gz: the reader's one rule) and files
already followed under another name are left alone. Files are opened, listed and globbed through
a ``Host`` (absolute machine paths); the open descriptors are then read with ``pread``.

Descriptors are bounded: at most ``max_open`` files are held open (by default half the open-file
limit). When more are followed, the ones that grew least recently are closed after a poll
("parked", their offsets kept as a restart keeps them) and only looked at with ``stat``; one that
changes is opened again and resumes exactly as after a restart (a rotation while parked included).
More than MAX_FILES logs, or a log that cannot be opened, is named in ``events``: never dropped
silently.
"""

from __future__ import annotations

import contextlib
import os
import resource
import stat
import threading
import time
from collections.abc import Iterable, Iterator
from types import FrameType
from typing import Any, BinaryIO

from stackwatch.core.host import Host, HostError
from stackwatch.core.interrupts import handling
from stackwatch.core.record import dataclass
from stackwatch.core.rotation import rotated_name

MAX_READ = 32 << 20  # per file and poll, so a huge backlog is read in steps
HEAD_BYTES = 4096
MAX_FILES = 20_000  # followed at once; more are named in events and left
RESERVED_FDS = 64  # descriptors kept for everything else (state files, the reload command)


def default_max_open() -> int:
    """Half of what the open-file limit leaves after RESERVED_FDS, at least 8."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 16
    return max(8, (soft - RESERVED_FDS) // 2)


def _head_hash(handle: BinaryIO) -> str:
    """Hash of the first complete line; "" while the file has none."""
    try:
        data = os.pread(handle.fileno(), HEAD_BYTES, 0)
    except OSError:
        return ""
    import hashlib  # here: loading OpenSSL costs ~10 ms, and `weblog top` imports this module

    cut = data.find(b"\n")
    if cut < 0:
        return "" if len(data) < HEAD_BYTES else hashlib.sha1(data).hexdigest()
    return hashlib.sha1(data[: cut + 1]).hexdigest()


@dataclass
class _Cursor:
    path: str
    handle: BinaryIO | None = None
    dev: int = 0
    inode: int = 0
    offset: int = 0
    head: str = ""
    fresh: bool = False  # appeared while following: read from its beginning
    grown: float = 0.0  # monotonic time it was opened or last gave lines
    parked: tuple[int, int, int] | None = None  # closed while idle: (size, mtime_ns, inode)

    def as_state(self) -> dict[str, Any]:
        return {"dev": self.dev, "inode": self.inode, "offset": self.offset, "head": self.head}


class Follower:
    """``poll()`` returns the complete lines appended since the last poll, as blocks of bytes."""

    def __init__(
        self,
        paths: Iterable[str],
        state: dict[str, Any] | None = None,
        from_start: bool = False,
        retire_after: float = 60.0,
        patterns: Iterable[str] = (),
        rescan: float = 10.0,
        host: Host | None = None,
        max_open: int | None = None,
        archive_dirs: Iterable[str] = (),
    ) -> None:
        self.host = host or Host()
        # other directories a rotated file may be moved to under any name (Nagios's
        # log_archive_path): looked in when the rest of a file is not found beside it
        self.archive_dirs = list(dict.fromkeys(archive_dirs))
        self.events: list[str] = []  # rotations seen, logs not followed, for the operator
        self._refused: set[str] = set()  # logs named in events as not followed
        wanted = list(dict.fromkeys(paths))
        self.cursors = [_Cursor(p) for p in wanted[:MAX_FILES]]
        for path in wanted[MAX_FILES:]:
            self._refuse(path, f"not followed, already {MAX_FILES} logs")
        self.max_open = max(1, max_open if max_open is not None else default_max_open())
        self._saved = dict(state or {})
        self.from_start = from_start
        self.retire_after = retire_after
        self._retired: list[tuple[_Cursor, float]] = []  # renamed files still read, last growth
        self.patterns = list(dict.fromkeys(patterns))
        self.rescan = rescan
        self._scanned = time.monotonic()
        self._open_total = 0  # descriptors held: followed files and renamed ones still read
        # (dev, inode) -> first-line hash of every file followed: one renamed away (to a name a
        # glob matches) is not read again; a new file on a reused inode has another first line.
        self._seen: dict[tuple[int, int], str] = {}

    def prime(self, budget: int) -> list[tuple[BinaryIO, int, int]]:
        """Open the files that have no saved offsets at the end of their last complete line and
        return the byte ranges just before it, ``(handle, start, end)``: the recent history a
        caller reads to warm its baselines. ``budget`` bytes are shared evenly by the files (at
        least 1 MiB each); ``start`` may fall inside a line. Nothing when reading from the start.
        """
        if self.from_start:
            return []
        todo: list[_Cursor] = []
        for cursor in self.cursors:
            saved = self._saved.get(cursor.path)
            if cursor.handle is not None or (isinstance(saved, dict) and _valid_saved(saved)):
                continue
            st = self._open(cursor)
            if st is None:
                continue
            assert cursor.handle is not None
            cursor.offset = _end_of_complete(cursor.handle, st)
            cursor.head = _head_hash(cursor.handle)
            if len(todo) >= self.max_open:
                self._park(cursor)  # its end is known; its history is left unread
            elif os.pread(cursor.handle.fileno(), 2, 0) != b"\x1f\x8b":  # not a gzip file
                todo.append(cursor)
        share = max(1 << 20, budget // max(1, len(todo)))
        return [(c.handle, max(0, c.offset - share), c.offset) for c in todo if c.handle]

    # New logs --------------------------------------------------------------------------------

    def _rescan(self) -> None:
        """Follow the files the globs match now and did not before, from their beginning."""
        self._remember_followed()
        known = {c.path for c in self.cursors}
        for path in self._new_logs(known):
            if len(self.cursors) >= MAX_FILES:
                self._refuse(path, f"not followed, already {MAX_FILES} logs")
                continue
            self.cursors.append(_Cursor(path, fresh=True))
            known.add(path)
            self.events.append(f"{path}: new log, read from its start")

    def _remember_followed(self) -> None:
        if len(self._seen) > 100_000:
            self._seen.clear()
        for c in self.cursors + [old for old, _ in self._retired]:
            if c.handle is not None or c.parked is not None:
                self._seen[(c.dev, c.inode)] = c.head

    def _new_logs(self, known: set[str]) -> Iterator[str]:
        """Regular files the patterns match that are neither followed (by name or, renamed, by
        inode and first line) nor rotated copies. ``known`` grows as the caller takes them."""
        for pattern in self.patterns:
            for path in self._glob(pattern):
                if path in known or path in self._refused or rotated_name(path).rotated:
                    continue
                st = self._stat(path)
                if st is None or not stat.S_ISREG(st.st_mode) or self._followed(path, st):
                    continue
                yield path

    def _glob(self, pattern: str) -> list[str]:
        try:
            return self.host.glob(pattern)
        except (HostError, ValueError):
            return []

    def _stat(self, path: str) -> os.stat_result | None:
        try:
            return self.host.stat_optional(path)
        except HostError:
            return None

    def _followed(self, path: str, st: os.stat_result) -> bool:
        head = self._seen.get((st.st_dev, st.st_ino))
        if head is None:
            return False
        if not head:
            return True  # it was empty when seen: take it for the same file
        try:
            with self.host.open_binary(path) as handle:
                return _head_hash(handle) == head
        except HostError:
            return True

    # Polling ---------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        out = dict(self._saved)
        for c in self.cursors:
            if c.handle is not None:
                out[c.path] = c.as_state()
        return out

    def close(self) -> None:
        for old, _ in self._retired:
            self._close(old)
        self._retired.clear()
        for c in self.cursors:
            self._close(c)

    def poll(self) -> list[bytes]:
        if self.patterns and time.monotonic() - self._scanned >= self.rescan:
            self._scanned = time.monotonic()
            self._rescan()
        out: list[bytes] = self._poll_retired()
        for cursor in self.cursors:
            was_open = cursor.handle is not None
            out.extend(self._poll_one(cursor))
            if not was_open and cursor.handle is not None and self._open_total > self.max_open:
                self._park(cursor)  # opened for what changed; no room to keep it open
        self._park_idle()
        return [b for b in out if b]

    # Bounded descriptors ---------------------------------------------------------------------

    def _refuse(self, path: str, why: str) -> None:
        """Name a log that is not followed, once."""
        if path not in self._refused:
            self._refused.add(path)
            self.events.append(f"{path}: {why}")

    def _park_idle(self) -> None:
        """Close the files that grew least recently until at most ``max_open`` are open."""
        excess = self._open_total - self.max_open
        if excess <= 0:
            return
        open_now = [c for c in self.cursors if c.handle is not None]
        open_now.sort(key=lambda c: c.grown)
        for cursor in open_now[:excess]:
            self._park(cursor)

    def _park(self, cursor: _Cursor) -> None:
        """Close the file, keeping where we are as a restart would keep it."""
        assert cursor.handle is not None
        st = os.fstat(cursor.handle.fileno())
        self._saved[cursor.path] = cursor.as_state()
        cursor.parked = (st.st_size, st.st_mtime_ns, st.st_ino)
        self._close(cursor)

    def _close(self, cursor: _Cursor) -> None:
        if cursor.handle is not None:
            cursor.handle.close()
            cursor.handle = None
            self._open_total -= 1

    def _still_idle(self, cursor: _Cursor) -> bool:
        """A parked file read to its end whose name still shows the same size, time and inode."""
        st = self._stat(cursor.path)
        if st is None:
            return True
        same = (st.st_size, st.st_mtime_ns, st.st_ino) == cursor.parked
        return same and cursor.offset >= st.st_size

    def _poll_retired(self) -> list[bytes]:
        """Lines still written to renamed files; a file quiet for ``retire_after`` seconds is
        read to its very end (a last line without newline included) and closed."""
        out: list[bytes] = []
        kept: list[tuple[_Cursor, float]] = []
        now = time.monotonic()
        for old, grown in self._retired:
            assert old.handle is not None
            block = self._read_complete(old.handle, old)
            if block:
                out.append(block)
                kept.append((old, now))
            elif now - grown >= self.retire_after:
                out.append(self._read_complete(old.handle, old, final=True))
                self._close(old)
            else:
                kept.append((old, grown))
        self._retired = kept
        return out

    # One file --------------------------------------------------------------------------------

    def _read_complete(self, handle: BinaryIO, cursor: _Cursor, final: bool = False) -> bytes:
        """Read from the cursor's offset; advance over complete lines only (all, when final)."""
        data = os.pread(handle.fileno(), MAX_READ, cursor.offset)
        if not data:
            return b""
        if final and len(data) < MAX_READ:
            cursor.offset += len(data)
            return data if data.endswith(b"\n") else data + b"\n"
        cut = data.rfind(b"\n")
        if cut < 0:
            return b""
        cursor.offset += cut + 1
        return data[: cut + 1]

    def _open(self, cursor: _Cursor) -> os.stat_result | None:
        """Open the file under the cursor's name (kept open: it follows renames)."""
        try:
            handle = self.host.open_binary(cursor.path)
        except HostError as exc:
            if self.host.exists(cursor.path):  # absent is normal (rotation); anything else is told
                self._refuse(cursor.path, f"cannot open, not followed for now: {exc}")
            return None
        self._refused.discard(cursor.path)
        st = os.fstat(handle.fileno())
        cursor.handle, cursor.dev, cursor.inode = handle, st.st_dev, st.st_ino
        cursor.grown = time.monotonic()
        self._open_total += 1
        return st

    def _poll_one(self, cursor: _Cursor) -> list[bytes]:
        out: list[bytes] = []
        if cursor.handle is None:
            if cursor.parked is not None and self._still_idle(cursor):
                return out
            if not self._start(cursor, out):
                return out
            cursor.parked = None
        st = self._stat(cursor.path)
        if st is not None and (st.st_dev, st.st_ino) != (cursor.dev, cursor.inode):
            if not self._replaced(cursor, out):
                return out
        else:
            self._check_truncated(cursor, out)
        assert cursor.handle is not None
        block = self._read_complete(cursor.handle, cursor)
        if block:
            out.append(block)
            cursor.grown = time.monotonic()
            if not cursor.head:
                cursor.head = _head_hash(cursor.handle)
        return out

    def _start(self, cursor: _Cursor, out: list[bytes]) -> bool:
        """Open a file not open yet and place its offset: where the saved state says (after the
        rest of the old file, when it was rotated or truncated while we were stopped), else at
        its end (a tail -f start) or, for a new log or ``from_start``, at its beginning."""
        saved = self._saved.get(cursor.path)
        st = self._open(cursor)
        if st is None:
            return False
        assert cursor.handle is not None
        head = _head_hash(cursor.handle)
        if isinstance(saved, dict) and _valid_saved(saved):
            if _resumes(saved, st, head):
                cursor.offset = saved["offset"]
            else:
                out.extend(self._from_rotated_copy(cursor, saved))
                cursor.offset = 0
        else:
            start = self.from_start or cursor.fresh
            cursor.offset = 0 if start else _end_of_complete(cursor.handle, st)
        cursor.head = head
        return True

    def _replaced(self, cursor: _Cursor, out: list[bytes]) -> bool:
        """The name holds a new file (renamed away and replaced): read what the old file holds,
        and keep reading it for a while (Apache writes to it until its graceful restart), then
        start the new one from its beginning. False while the new file cannot be opened."""
        assert cursor.handle is not None
        while block := self._read_complete(cursor.handle, cursor):
            out.append(block)
        old = _Cursor(
            cursor.path, cursor.handle, cursor.dev, cursor.inode, cursor.offset, cursor.head
        )
        self._seen[(old.dev, old.inode)] = old.head
        self._retired.append((old, time.monotonic()))
        cursor.handle = None
        self.events.append(f"{cursor.path}: rotated (new file)")
        if self._open(cursor) is None:
            return False
        assert cursor.handle is not None
        cursor.offset = 0
        cursor.head = _head_hash(cursor.handle)
        return True

    def _check_truncated(self, cursor: _Cursor, out: list[bytes]) -> None:
        """The same file, shorter than our offset or with another first line: truncated
        (copytruncate); the unread rest comes from the rotated copy, then read from the start."""
        assert cursor.handle is not None
        size = os.fstat(cursor.handle.fileno()).st_size
        head = _head_hash(cursor.handle)
        if size < cursor.offset or (cursor.head and head and head != cursor.head):
            self.events.append(f"{cursor.path}: truncated (copytruncate)")
            out.extend(self._from_rotated_copy(cursor, cursor.as_state()))
            cursor.offset = 0
            cursor.head = head
        elif not cursor.head:
            cursor.head = head

    def _from_rotated_copy(self, cursor: _Cursor, saved: dict[str, Any]) -> list[bytes]:
        """The unread rest of our previous file, found among the siblings of its name by inode
        (renamed) or by first-line hash (copied, then truncated)."""
        directory, name = os.path.split(cursor.path)
        try:
            entries = self.host.listdir(directory)
        except HostError:
            return []
        siblings = [
            os.path.join(directory, entry)
            for entry in entries
            if entry != name and entry.startswith(name) and not rotated_name(entry).compressed
        ]
        for path in [*siblings, *self._archived(saved)]:
            blocks = self._rest_of_copy(path, saved)
            if blocks is not None:
                self.events.append(f"{cursor.path}: read the rest of {path}")
                return blocks
        return []

    def _archived(self, saved: dict[str, Any]) -> Iterator[str]:
        """Files of the archive directories that are our previous file by inode (renamed
        there, as Nagios rotates), whatever their name; compressed ones cannot be."""
        for directory in self.archive_dirs:
            if not os.path.isabs(directory):
                continue  # relative to what? a machine path is absolute
            try:
                entries = self.host.listdir(directory)
            except HostError:
                continue
            for entry in entries:
                path = os.path.join(directory, entry)
                st = None if rotated_name(entry).compressed else self.host.stat_optional(path)
                if st is not None and (st.st_dev, st.st_ino) == (saved["dev"], saved["inode"]):
                    yield path

    def _rest_of_copy(self, path: str, saved: dict[str, Any]) -> list[bytes] | None:
        """What ``path`` holds after the saved offset, when it is our previous file; else None."""
        try:
            with self.host.open_binary(path) as handle:
                st = os.fstat(handle.fileno())
                same_inode = (st.st_dev, st.st_ino) == (saved["dev"], saved["inode"])
                same_head = bool(saved["head"]) and _head_hash(handle) == saved["head"]
                if not (same_inode or same_head) or st.st_size < saved["offset"]:
                    return None
                copy = _Cursor(path, offset=int(saved["offset"]))
                blocks = []
                while block := self._read_complete(handle, copy, final=True):
                    blocks.append(block)
                return blocks
        except (HostError, OSError):
            return None


def _resumes(saved: dict[str, Any], st: os.stat_result, head: str) -> bool:
    """The saved offsets still describe this file: same inode, same first line, not shorter."""
    return (saved["dev"], saved["inode"]) == (st.st_dev, st.st_ino) and (
        saved["head"] in ("", head) and st.st_size >= saved["offset"]
    )


def _valid_saved(saved: dict[str, Any]) -> bool:
    return (
        isinstance(saved.get("dev"), int)
        and isinstance(saved.get("inode"), int)
        and isinstance(saved.get("offset"), int)
        and saved["offset"] >= 0
        and isinstance(saved.get("head"), str)
    )


def _end_of_complete(handle: BinaryIO, st: os.stat_result) -> int:
    """The offset just after the last complete line (a tail -f start)."""
    if st.st_size == 0:
        return 0
    start = max(0, st.st_size - 65536)
    data = os.pread(handle.fileno(), st.st_size - start, start)
    cut = data.rfind(b"\n")
    return start + cut + 1 if cut >= 0 else start


@contextlib.contextmanager
def stopped_by_signals() -> Iterator[threading.Event]:
    """An event set by SIGTERM or SIGINT while the block runs (a follower ends its loop and
    saves its offsets); the old handlers come back."""
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    with handling(handler):
        yield stop
