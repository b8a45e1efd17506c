"""Putting block rules in place: atomic write, validation, reload, rollback, and ban time.

The rules file is replaced in one step (temporary name, fsync, rename). The server's own
configuration test (``apachectl -t``, ``nginx -t``) runs before any reload; when it fails, the
previous file is put back and nothing is reloaded, so a bad rule never takes the site down. Each
block lasts ``ban_time`` seconds after the flood was last seen, then it is lifted. The rules file is
read and written through the ``Host`` (``path`` is an absolute machine path).

Only a file stackwatch wrote itself is ever replaced: one that does not exist yet, or one whose
first line is the rules' MARKER. Someone's own file under that name is refused, before the first
write and again before each one. A symbolic link stays a link: the file it points to is written.
"""

from __future__ import annotations

import contextlib
import math
import shlex
from collections.abc import Iterable
from typing import Any

from stackwatch.core.host import Host, HostError
from stackwatch.core.record import dataclass, field
from stackwatch.weblog.rules import MARKER, UnsafeHost, normalize_host, render_rules

DEFAULT_VALIDATE = {"apache": "apachectl -t", "nginx": "nginx -t"}
DEFAULT_RELOAD = {"apache": "apachectl graceful", "nginx": "nginx -s reload"}
RETRY_AFTER = 30.0  # seconds before trying again a block whose validation failed
HISTORY = 500  # blocks remembered (applied, lifted) for the pictures of `detect --plot`


class ApplyError(Exception):
    """The rules could not be put in place; the previous file is back."""


def parse_target(value: str) -> tuple[str, str]:
    """ "apache:/etc/apache2/conf-enabled/stackwatch.conf" -> ("apache", path)."""
    server, sep, path = value.partition(":")
    if not sep or server not in ("apache", "nginx") or not path:
        raise ValueError(f"--apply expects apache:PATH or nginx:PATH, got {value!r}")
    return server, path


def split_command(value: str) -> list[str]:
    """A command the operator typed (never built from log data), split like a shell would."""
    try:
        argv = shlex.split(value)
    except ValueError as exc:
        raise ValueError(f"cannot read command {value!r}: {exc}") from None
    if not argv:
        raise ValueError("empty command")
    return argv


def owned_target(host: Host, path: str) -> tuple[str, bytes | None]:
    """The file to write for ``path`` (the target of a symbolic link, so the link stays) and
    its current bytes (None: not there yet). ApplyError when it holds something stackwatch did
    not write (no MARKER first line) or cannot be read."""
    try:
        target = host.realpath(path) if host.is_link(path) else path
        previous = host.read_bytes_optional(target)
    except (HostError, OSError) as exc:
        raise ApplyError(f"cannot read {path}: {exc}") from None
    if previous is not None and not _is_ours(previous):
        shown = path if target == path else f"{path} (-> {target})"
        raise ApplyError(
            f"{shown} exists and was not written by stackwatch (its first line is not "
            f"{MARKER!r}); not replaced: choose another file or remove it"
        )
    return target, previous


def _is_ours(data: bytes) -> bool:
    return data.split(b"\n", 1)[0].rstrip(b"\r") == MARKER.encode()


@dataclass
class Blocker:
    """The set of blocked referring hosts, each with its expiry, and the file that says so."""

    server: str
    path: str
    validate: list[str]
    reload: list[str] | None
    ban_time: float
    host: Host = field(default_factory=Host)
    blocked: dict[str, float] = field(default_factory=dict)  # host -> expiry (epoch)
    failed: dict[str, float] = field(default_factory=dict)  # host -> retry time
    unblockable: set[str] = field(default_factory=set)  # flooding hosts no rule can name
    log: list[str] = field(default_factory=list)
    # [host, applied, lifted or None], oldest first: when each block was in place
    history: list[list[Any]] = field(default_factory=list)

    @classmethod
    def from_state(cls, state: dict[str, Any], **kwargs: Any) -> Blocker:
        blocker = cls(**kwargs)
        blocker.restore(state)
        return blocker

    def restore(self, state: dict[str, Any]) -> None:
        """Take the blocks a previous run saved (``state()``); hosts that are not plain names
        and expiries that are not numbers are left out."""
        self.blocked = {}
        self.history = [[b.host, b.applied, b.lifted] for b in block_spans(state)]
        saved = state.get("blocked") if isinstance(state, dict) else None
        if not isinstance(saved, dict):
            return
        for host, expiry in saved.items():
            with contextlib.suppress(UnsafeHost, AttributeError):
                if isinstance(expiry, int | float):
                    self.blocked[normalize_host(host)] = float(expiry)

    def state(self) -> dict[str, Any]:
        return {"blocked": dict(self.blocked), "history": self.history[-HISTORY:]}

    def _remember(self, added: Iterable[str], removed: Iterable[str], now: float) -> None:
        """Note when blocks went in place and when they were lifted (the history)."""
        for host in removed:
            for span in reversed(self.history):
                if span[0] == host and span[2] is None:
                    span[2] = now
                    break
        self.history.extend([host, now, None] for host in added)
        del self.history[:-HISTORY]

    def update(self, flooding: Iterable[str], now: float) -> bool:
        """Block new flooding hosts, extend the ban of those still flooding, lift expired bans.
        Returns True when the rules file changed."""
        wanted = self._wanted(flooding, now)
        added = sorted(set(wanted) - set(self.blocked))
        removed = set(self.blocked) - set(wanted)
        if not added and not removed:
            self.blocked = wanted
            return False
        try:
            self.write(wanted)
        except ApplyError as exc:
            self.log.append(str(exc))
            self._keep_previous(wanted, added, removed, now)
            return False
        for host in added:
            self.log.append(
                f"blocked Referer site {host} and its subdomains for {self.ban_time:g} s"
            )
        self._remember(added, removed, now)
        self.blocked = wanted
        return True

    def _wanted(self, flooding: Iterable[str], now: float) -> dict[str, float]:
        """The blocks there should be: the current ones, the flooding hosts' bans extended
        (a host whose rules failed waits RETRY_AFTER), expired bans lifted."""
        wanted = dict(self.blocked)
        for raw in flooding:
            try:
                host = normalize_host(raw)
            except UnsafeHost as exc:
                if raw not in self.unblockable:  # said once, not at every poll
                    self.unblockable.add(raw)
                    self.log.append(f"not blocked (no rule can name it): {exc}")
                continue
            if host not in wanted and self.failed.get(host, 0.0) > now:
                continue
            wanted[host] = now + self.ban_time
        for host, expiry in list(wanted.items()):
            if expiry <= now:
                del wanted[host]
                self.log.append(f"lifted block of Referer site {host} (ban time over)")
        return wanted

    def _keep_previous(
        self, wanted: dict[str, float], added: list[str], removed: set[str], now: float
    ) -> None:
        """The rules could not change: new hosts are tried again later, and the old rules
        (still in place) stay until they can go."""
        for host in added:
            self.failed[host] = now + RETRY_AFTER
        for host in removed:
            wanted[host] = self.blocked[host]
        self.blocked = {h: e for h, e in wanted.items() if h not in added}

    def write(self, hosts: Iterable[str]) -> None:
        """Write the rules, validate the server configuration, reload; roll back on failure."""
        text = render_rules(hosts, self.server)
        target, previous = owned_target(self.host, self.path)
        try:
            self.host.write_atomic(target, text, 0o644)
        except HostError as exc:
            raise ApplyError(str(exc)) from None
        try:
            self.host.run(self.validate, timeout=30)
        except HostError as exc:
            self._restore(target, previous)
            raise ApplyError(
                f"configuration test failed ({exc}); previous {self.path} restored, "
                "nothing reloaded"
            ) from None
        if self.reload:
            try:
                self.host.run(self.reload, timeout=30)
            except HostError as exc:
                raise ApplyError(f"reload failed: {exc}") from None

    def _restore(self, target: str, previous: bytes | None) -> None:
        with contextlib.suppress(HostError):
            if previous is None:
                self.host.remove_file(target)
            else:
                self.host.write_atomic(target, previous, 0o644)


@dataclass(frozen=True)
class BlockSpan:
    """A block ``follow --apply`` put in place: from ``applied`` until ``lifted`` (None: still
    in place when the state was saved)."""

    host: str
    applied: float
    lifted: float | None


def block_spans(state: Any) -> list[BlockSpan]:
    """The blocks in a saved Blocker state (``state()``), oldest first; malformed entries (the
    state file is the operator's to edit) and hosts no rule names are left out."""
    saved = state.get("history") if isinstance(state, dict) else None
    spans: list[BlockSpan] = []
    for entry in saved if isinstance(saved, list) else []:
        with contextlib.suppress(UnsafeHost, ValueError, TypeError, AttributeError):
            host, applied, lifted = entry
            start, end = _stamp(applied), None if lifted is None else _stamp(lifted)
            spans.append(BlockSpan(normalize_host(host), start, end))
    return spans[-HISTORY:]


def _stamp(value: Any) -> float:
    """An epoch time from the state file, or ValueError."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"not a time: {value!r}")
    return float(value)
