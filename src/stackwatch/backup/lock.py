"""One run per job at a time: an flock on LOCK_DIR/backup-JOB.lock, released by the kernel when
the process ends (a killed run leaves no stale lock)."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


class LockBusy(Exception):
    pass


@contextlib.contextmanager
def job_lock(lock_dir: str, job: str) -> Iterator[None]:
    directory = Path(lock_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"backup-{job}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise LockBusy(f"job {job} is already running (pid {holder}, lock {path})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)
