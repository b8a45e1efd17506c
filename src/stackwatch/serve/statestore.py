"""The checks' state in the resident process: kept in memory between scrapes, read from the state
directory once, written back every few minutes and at stop, so that rates survive a restart.

A ``stackwatch check`` writes its state file after every run (with an fsync, since the process ends
there); a scrape every few seconds must not. A state that cannot be written is logged by the
service: the rates go on from memory, only a restart would start them over.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from stackwatch.core.host import HostError
from stackwatch.core.state import StateStore


class MemoryStateStore(StateStore):
    """A StateStore whose ``save`` keeps the state in memory; ``flush`` writes what changed."""

    def __init__(self, directory: str | os.PathLike[str], *, fallback: bool = False) -> None:
        super().__init__(directory, fallback=fallback)
        self._memory: dict[str, dict[str, Any]] = {}
        self._dirty: set[str] = set()
        self._lock = threading.Lock()

    def begin(self, name: str) -> None:
        """A new run of check ``name``: what an earlier run could not keep is no longer news."""
        with self._lock:
            self.problems.pop(name, None)
            self.unsaved.discard(name)
            self.warnings.clear()

    def load(self, name: str) -> dict[str, Any]:
        with self._lock:
            if name in self._memory:
                self.used.add(name)
                return self._memory[name]
        data = super().load(name)  # from the directory, once (a damaged file is said once)
        with self._lock:
            return self._memory.setdefault(name, data)

    def save(self, name: str, data: dict[str, Any]) -> bool:
        self._file(name)  # refuses a name that is not a plain file name
        with self._lock:
            self._memory[name] = data
            self._dirty.add(name)
            self.used.add(name)
        return True

    def flush(self) -> list[str]:
        """Write every state changed since the last flush; one message per state not written
        (it stays in memory, and is tried again next time)."""
        with self._lock:
            changed = {name: self._memory[name] for name in self._dirty}
            self._dirty.clear()
        errors = []
        for name, data in sorted(changed.items()):
            path = self._file(name)
            try:
                self.host.make_dir(self.directory, parents=True)
                text = json.dumps(data, separators=(",", ":"), sort_keys=True)
                self.host.write_atomic(path, text, 0o600)
            except (HostError, TypeError, ValueError) as exc:
                with self._lock:
                    self._dirty.add(name)
                errors.append(f"cannot save state {path}: {getattr(exc, 'strerror', None) or exc}")
        return errors
