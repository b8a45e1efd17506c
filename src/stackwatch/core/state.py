"""Small JSON state between runs (counters for rates), one file per check, written atomically.

A state file that cannot be read (corrupt, truncated by a crash of another tool, wrong shape) is
discarded with a warning: the next run starts over, it never crashes the check.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from stackwatch.core.files import write_atomic

DEFAULT_STATE_DIR = "/var/lib/stackwatch"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class StateStore:
    """A directory of ``NAME.json`` files. Warnings collect in ``warnings`` for the caller."""

    def __init__(self, directory: str | os.PathLike[str] = DEFAULT_STATE_DIR) -> None:
        self.directory = Path(directory)
        self.warnings: list[str] = []

    def _file(self, name: str) -> Path:
        if not _SAFE_NAME.match(name):
            raise ValueError(f"invalid state name {name!r}")
        return self.directory / f"{name}.json"

    def load(self, name: str) -> dict[str, Any]:
        """The saved state, or {} where there is none or it cannot be used."""
        path = self._file(name)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            self.warnings.append(f"state {path} unreadable ({exc.strerror}); starting over")
            return {}
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            self.warnings.append(f"state {path} is corrupt; discarded, starting over")
            return {}
        if not isinstance(data, dict):
            self.warnings.append(f"state {path} has the wrong shape; discarded, starting over")
            return {}
        return data

    def save(self, name: str, data: dict[str, Any]) -> bool:
        """Write the state atomically; False, with a warning, where it cannot be written."""
        path = self._file(name)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            write_atomic(path, json.dumps(data, separators=(",", ":"), sort_keys=True), 0o600)
        except OSError as exc:
            self.warnings.append(f"cannot save state {path}: {exc.strerror or exc}")
            return False
        return True
