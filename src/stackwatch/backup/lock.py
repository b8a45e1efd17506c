"""One run per job at a time: an flock on LOCK_DIR/backup-JOB.lock (core/host.py), released by
the kernel when the process ends (a killed run leaves no stale lock)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from stackwatch.core.host import Host, HostError, LockHeld


class LockBusy(Exception):
    pass


@contextlib.contextmanager
def job_lock(lock_dir: str, job: str, host: Host | None = None) -> Iterator[None]:
    path = os.path.join(os.path.abspath(lock_dir), f"backup-{job}.lock")
    with contextlib.ExitStack() as held:
        try:
            held.enter_context((host or Host()).exclusive_lock(path))
        except LockHeld as exc:
            raise LockBusy(
                f"job {job} is already running (pid {exc.holder}, lock {path})"
            ) from None
        except HostError as exc:  # the lock directory or file itself: the caller says so
            raise OSError(str(exc)) from None
        yield
