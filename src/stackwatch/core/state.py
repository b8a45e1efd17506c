"""Small JSON state between runs (counters for rates), one file per check, written atomically.

A state file that cannot be read (corrupt, truncated by a crash of another tool, wrong shape,
numbers that are not finite) is discarded with a warning: the next run starts over, it never
crashes the check. Where the state directory is not writable (Nagios and NRPE run plugins as the
unprivileged ``nagios`` user), the state is kept in a directory of that user's own, and the
checks say so in their output: rates must work from the second run whoever runs them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping

from stackwatch.core.host import Host, HostError

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs a Nagios call more than a check: for the type checker only
    from typing import Any

DEFAULT_STATE_DIR = "/var/lib/stackwatch"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


MAX_STATE_BYTES = 1 << 20  # a check's state is a few counters; anything larger is not ours


class StateStore:
    """A directory of ``NAME.json`` files. Warnings collect in ``warnings`` for the caller, and
    per state name in ``problems`` so that each check can say what it could not keep."""

    def __init__(
        self, directory: str | os.PathLike[str] = DEFAULT_STATE_DIR, *, fallback: bool = False
    ) -> None:
        self.host = Host()
        self.directory = os.path.abspath(directory)
        self.warnings: list[str] = []
        self.problems: dict[str, list[str]] = {}  # per name: what was discarded or not kept
        self.unsaved: set[str] = set()  # names whose state could not be written
        self.note: str | None = None  # where the state is kept, when not where it was asked
        self.used: set[str] = set()  # the names loaded or saved
        if fallback:
            self._fall_back_if_unwritable()

    def _fall_back_if_unwritable(self) -> None:
        if self.host.is_writable_dir(self.directory):
            return
        own = user_state_dir()
        if own is not None and own != self.directory and self.host.is_writable_dir(own):
            self.note = f"state kept in {own} ({self.directory} is not writable by this user)"
            self.directory = own

    def _warn(self, name: str, text: str) -> None:
        self.warnings.append(text)
        self.problems.setdefault(name, []).append(text)

    def _file(self, name: str) -> str:
        if not _SAFE_NAME.match(name):
            raise ValueError(f"invalid state name {name!r}")
        return os.path.join(self.directory, f"{name}.json")

    def load(self, name: str) -> dict[str, Any]:
        """The saved state, or {} where there is none or it cannot be used."""
        path = self._file(name)
        self.used.add(name)
        try:
            raw = self.host.read_small(path, MAX_STATE_BYTES)
        except HostError as exc:
            self._warn(name, f"state {path} unreadable ({exc}); discarded, starting over")
            return {}
        if raw is None:
            return {}
        try:
            data = json.loads(raw, parse_constant=_refuse_constant)
        except (ValueError, UnicodeDecodeError, RecursionError):
            self._warn(name, f"state {path} is corrupt; discarded, starting over")
            return {}
        if not isinstance(data, dict):
            self._warn(name, f"state {path} has the wrong shape; discarded, starting over")
            return {}
        return data

    def save(self, name: str, data: dict[str, Any]) -> bool:
        """Write the state atomically; False, with a warning, where it cannot be written."""
        path = self._file(name)
        self.used.add(name)
        try:
            self.host.make_dir(self.directory, parents=True)
            text = json.dumps(data, separators=(",", ":"), sort_keys=True)
            self.host.write_atomic(path, text, 0o600)
        except HostError as exc:
            self._warn(name, f"cannot save state {path}: {exc}")
            self.unsaved.add(name)
            return False
        return True


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number a counter can hold")


def user_state_dir(environ: Mapping[str, str] | None = None) -> str | None:
    """This user's own state directory: $XDG_STATE_HOME/stackwatch, ~/.local/state/stackwatch,
    or (no home, as for some service users) a private directory under /tmp named by uid."""
    env = os.environ if environ is None else environ
    if env.get("XDG_STATE_HOME", "").startswith("/"):
        return os.path.join(env["XDG_STATE_HOME"], "stackwatch")
    home = env.get("HOME") or os.path.expanduser("~")
    if home.startswith("/") and home != "/" and os.access(home, os.W_OK):
        return os.path.join(home, ".local", "state", "stackwatch")
    private = f"/tmp/stackwatch-{os.getuid()}"
    try:
        info = os.lstat(private)
    except FileNotFoundError:
        return private
    except OSError:
        return None
    # never a directory someone else made (or a symlink) to catch our state
    return private if info.st_uid == os.getuid() and (info.st_mode & 0o077) == 0 else None
