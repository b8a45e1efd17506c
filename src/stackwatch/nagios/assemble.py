"""Putting a new conf.d in place so that a running Nagios can never be broken by it.

    conf.d                 the live tree (a real directory; Nagios's main config reads it)
    .conf.d.new            the tree being built: copies of common/<class>, a link to the part
    .conf.d.previous       the tree before the last swap, for --rollback
    .conf.d.state          JSON: the digest of what Nagios was last given, and the previous one
    .conf.d.lock           one assemble at a time

The new tree is checked with the real ``nagios -v``; only then is it exchanged with the live one
in one step (renameat2 RENAME_EXCHANGE: both names exist at every instant) and Nagios reloaded.
A tree Nagios refuses is deleted and nothing else is touched. The digest covers what the link
leads to as well, so a change in the repository's environment part is noticed and validated
even though the link itself does not change.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager

from stackwatch.core.exits import FAILED, OK
from stackwatch.core.host import Host, HostError, LockHeld
from stackwatch.core.record import dataclass
from stackwatch.nagios.repo import ENVIRONMENT_LINK, Plan
from stackwatch.nagios.settings import NagiosSettings
from stackwatch.nagios.validate import Verdict


class AssembleError(Exception):
    """The tree could not be built or swapped; nothing live was changed unless it says so."""


class Busy(AssembleError):
    """Another assemble holds the lock."""


@dataclass(frozen=True)
class Places:
    live: str

    def _beside(self, suffix: str) -> str:
        head, name = os.path.split(os.path.normpath(self.live))
        return os.path.join(head, f".{name}.{suffix}")

    @property
    def new(self) -> str:
        return self._beside("new")

    @property
    def previous(self) -> str:
        return self._beside("previous")

    @property
    def state(self) -> str:
        return self._beside("state")

    @property
    def lock(self) -> str:
        return self._beside("lock")


@contextmanager
def locked(host: Host, places: Places) -> Iterator[None]:
    """Hold the assemble lock of this conf.d (Busy when another run has it)."""
    host.make_dir(os.path.dirname(places.lock) or ".", 0o755, parents=True)
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(host.exclusive_lock(places.lock))
        except LockHeld:
            raise Busy(f"another assemble of {places.live} is running") from None
        yield


def build(host: Host, plan: Plan, places: Places) -> None:
    """The new tree at places.new: copies from the class folder, the link to the part."""
    remove_tree(host, places.new)
    try:
        host.make_dir(places.new, 0o755)
        for directory in plan.directories:
            host.make_dir(os.path.join(places.new, directory), 0o755)
        for inside, source in plan.copies:
            mode = host.stat(source).st_mode & 0o777  # a resource.cfg with passwords stays private
            host.write_atomic(os.path.join(places.new, inside), host.read_bytes(source), mode)
        host.symlink(plan.link_target, os.path.join(places.new, ENVIRONMENT_LINK))
    except HostError as exc:
        remove_tree(host, places.new)
        raise AssembleError(f"cannot build {places.new}: {exc}") from None
    if ENVIRONMENT_LINK in {inside.split("/")[0] for inside, _ in plan.copies}:
        remove_tree(host, places.new)
        raise AssembleError(
            f"{plan.class_dir}/{ENVIRONMENT_LINK}: the name of the environment link is taken"
        )


def digest(host: Host, tree: str) -> str:
    """What Nagios would read from ``tree``: every file's path and content, links followed."""
    from stackwatch.nagios.objects import cfg_files

    sha = hashlib.sha256()
    for path in cfg_files(host, tree):
        sha.update(os.path.relpath(path, tree).encode() + b"\0")
        sha.update(host.read_bytes(path) + b"\0")
    return sha.hexdigest()


def read_state(host: Host, places: Places) -> dict[str, str]:
    text = host.read_optional(places.state)
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}


def write_state(host: Host, places: Places, applied: str, previous: str) -> None:
    state = json.dumps({"applied": applied, "previous": previous}) + "\n"
    host.write_atomic(places.state, state, 0o644)


def swap_in(host: Host, places: Places) -> bool:
    """Exchange places.new with the live tree in one step; the old tree becomes previous.
    False where there was no live tree (the first run)."""
    if not (host.exists(places.live) or host.is_link(places.live)):
        host.rename(places.new, places.live)
        return False
    remove_tree(host, places.previous)  # before the exchange: a failure here changes nothing live
    host.exchange(places.new, places.live)
    host.rename(places.new, places.previous)
    return True


def remove_tree(host: Host, path: str) -> None:
    if host.is_link(path):
        host.remove_file(path)
    elif host.is_dir(path):
        host.remove_tree(path)


class Refused(AssembleError):
    """nagios -v refused the tree: one line to say so, and Nagios's own lines to quote."""

    def __init__(self, message: str, quoted: tuple[str, ...]) -> None:
        super().__init__(message)
        self.quoted = quoted


# --- the two commands ------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    lines: tuple[str, ...]
    code: int


def assemble(
    host: Host, settings: NagiosSettings, places: Places, plan: Plan, check_only: bool
) -> Outcome:
    """Build, validate, swap, reload; ``check_only`` stops after validation.

    What Nagios was last given (reloaded) is recorded only once the reload succeeded: a tree
    swapped in whose reload failed is reloaded by the next run, without swapping it again (the
    previous tree stays the one before it)."""
    said = [plan.server.describe()]
    build(host, plan, places)
    try:
        verdict = _validate(host, settings, places, places.new, plan)
        if not verdict.ok:
            raise Refused(
                f"{settings.nagios} -v refused the new configuration; nothing was changed",
                verdict.errors,
            )
        said.append(_validated(settings, verdict))
        new_digest = digest(host, places.new)
        in_place = host.is_dir(places.live) and digest(host, places.live) == new_digest
        if check_only:
            return Outcome((*said, "--check: nothing changed"), OK)
        if in_place and read_state(host, places).get("applied") == new_digest:
            return Outcome((*said, f"{places.live} is up to date; nothing to do"), OK)
        if in_place:
            said.append(f"{places.live} holds it already; Nagios was not reloaded with it yet")
        else:
            said.append(_swapped(places, swap_in(host, places)))
    finally:
        remove_tree(host, places.new)
    return _reload(host, settings, places, new_digest, said)


def _swapped(places: Places, kept: bool) -> str:
    where = f" (the tree before it kept as {places.previous})" if kept else " (its first tree)"
    return f"installed {places.live}{where}"


def rollback(host: Host, settings: NagiosSettings, places: Places) -> Outcome:
    """Put the previous tree back, once Nagios accepts it."""
    if not host.is_dir(places.previous):
        raise AssembleError(f"no previous tree to roll back to ({places.previous} does not exist)")
    verdict = _validate(host, settings, places, places.previous, None)
    if not verdict.ok:
        raise Refused(
            f"{settings.nagios} -v refused the previous tree; nothing was changed",
            verdict.errors,
        )
    host.exchange(places.previous, places.live)
    said = [_validated(settings, verdict), f"rolled back {places.live} to the previous tree "
            f"(the one it replaced is now {places.previous})"]  # fmt: skip
    return _reload(host, settings, places, digest(host, places.live), said)


def _validate(
    host: Host, settings: NagiosSettings, places: Places, tree: str, plan: Plan | None
) -> Verdict:
    from stackwatch.nagios.validate import validate

    shown: list[tuple[str, str]] = []
    if plan is not None:
        shown = [
            (f"{tree}/{ENVIRONMENT_LINK}/", f"{plan.link_target}/"),
            (f"{tree}/", f"{plan.class_dir}/"),
        ]
    return validate(
        host, settings.nagios, settings.main_config, places.live, tree,
        settings.validate_timeout, shown,
    )  # fmt: skip


def _validated(settings: NagiosSettings, verdict: Verdict) -> str:
    said = f"{settings.nagios} -v accepted it in {verdict.seconds:.1f} s"
    return "\n  ".join((said, *verdict.warnings))


def _reload(
    host: Host, settings: NagiosSettings, places: Places, applied: str, said: list[str]
) -> Outcome:
    """Reload Nagios; record what it now runs only once it did."""
    previous = read_state(host, places).get("applied", "")
    if not settings.reload_command:
        write_state(host, places, applied, previous)
        return Outcome((*said, "no reload_command set: reload Nagios to use it"), OK)
    try:
        host.run(list(settings.reload_command), timeout=120)
    except HostError as exc:
        said.append(
            f"reloading Nagios failed: {exc} (the running Nagios keeps what it had; "
            "the next run reloads again)"
        )
        return Outcome(tuple(said), FAILED)
    write_state(host, places, applied, previous)
    return Outcome((*said, f"reloaded: {' '.join(settings.reload_command)}"), OK)
