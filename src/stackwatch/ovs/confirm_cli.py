"""The command-line side of ``ovs apply --confirm``, ``ovs confirm``, ``ovs rollback`` and the
watchdog process (``ovs watchdog``, hidden: only apply --confirm starts it).

``apply --confirm SECONDS`` saves the live layout, starts the watchdog, applies the new layout,
then, on a terminal, counts down: Enter keeps the new layout (as ``ovs confirm`` does from another
session). Without a terminal (a script, Ansible) it returns at once and leaves the watchdog in
charge: the script checks it can still reach the host, then runs ``ovs confirm``.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import typer

from stackwatch.core.exits import BUSY, FAILED, INTERRUPTED, OK, fail
from stackwatch.core.host import Host, HostError, LockHeld
from stackwatch.core.state import DEFAULT_STATE_DIR
from stackwatch.ovs.confirm import (
    APPLY_LOCK,
    LOCK,
    LOG,
    PENDING,
    ROLLBACK_TRIES,
    SAVED,
    Busy,
    ConfirmError,
    ConfirmState,
    Kind,
    Pending,
    Watch,
    clock_time,
    confirm_pending,
    describe,
    refuse_if_waiting,
    rollback_now,
    saved_layout,
    start_watchdog,
    wait_for_watchdog,
)
from stackwatch.ovs.layout import Layout
from stackwatch.ovs.settings import OvsSettings
from stackwatch.render.safe import printable

if TYPE_CHECKING:
    from stackwatch.ovs.apply import Devices
    from stackwatch.ovs.ovsdb import OvsdbClient


def say(line: str) -> None:
    typer.echo(printable(line))


def _command(state: ConfirmState, name: str) -> str:
    """The command an operator types for this state directory."""
    extra = "" if state.directory == DEFAULT_STATE_DIR else f" --state-dir {state.directory}"
    return f"stackwatch ovs {name}{extra}"


# apply --confirm ---------------------------------------------------------------------------------


def apply_confirmed(
    settings: OvsSettings, wanted: Layout, prune: bool, seconds: float, state_dir: str
) -> int:
    """Save, start the watchdog, apply, wait: the exit code."""
    state = ConfirmState(state_dir)
    try:
        with state.host.exclusive_lock(state.path(APPLY_LOCK)):
            pending = _begin(state, settings, wanted, prune, seconds)
    except LockHeld as exc:
        fail(f"another ovs apply --confirm is starting (pid {exc.holder})", BUSY)
    except Busy as exc:
        fail(str(exc), BUSY)
    except (ConfirmError, HostError) as exc:
        fail(str(exc), FAILED)
    if pending is None:
        return OK
    return _wait(state, pending)


def _begin(
    state: ConfirmState, settings: OvsSettings, wanted: Layout, prune: bool, seconds: float
) -> Pending | None:
    from stackwatch.ovs.apply import Devices, plan_against
    from stackwatch.ovs.live import read_live
    from stackwatch.ovs.ovsdb import OvsdbClient

    refuse_if_waiting(state)
    devices = Devices(Host(), settings.netns, settings.timeout)
    try:
        client = OvsdbClient(settings.db, settings.timeout).connect()
    except HostError as exc:
        raise ConfirmError(str(exc)) from None
    with client:
        try:
            if plan_against(client, wanted, prune, devices).empty:
                say(f"no changes: the switch matches {wanted.source}")
                return None
            text, notes = saved_layout(read_live(client), lambda p: _addresses(devices, p), wanted)
            state.save_layout(text)
        except HostError as exc:
            raise ConfirmError(f"nothing changed: {exc}") from None
        for note in notes:
            say(f"  note: {note}")
        pending = _watched(state, settings, wanted, seconds)
        _apply(state, client, wanted, prune, devices, pending)
    return pending


def _addresses(devices: Devices, port: str) -> tuple[str, ...] | None:
    from stackwatch.ovs.address import read_device

    found = read_device(devices.host, port, devices.netns)
    return found.addresses if found else None


def watchdog_argv(state: ConfirmState) -> list[str]:
    """This stackwatch, run as the watchdog of ``state``'s directory."""
    return [
        sys.executable,
        "-m",
        "stackwatch.cli",
        "ovs",
        "watchdog",
        "--state-dir",
        state.directory,
    ]


def _watched(state: ConfirmState, settings: OvsSettings, wanted: Layout, seconds: float) -> Pending:
    """The record written and its watchdog running: from here on, the saved layout comes back
    unless someone confirms."""
    now = time.time()
    pending = Pending(
        wanted.source,
        now,
        now + seconds,
        settings.db,
        settings.netns,
        settings.timeout,
        os.getpid(),
    )
    try:
        state.write_pending(pending)
        start_watchdog(state, watchdog_argv(state))
    except (HostError, ConfirmError) as exc:
        state.drop(PENDING)
        raise ConfirmError(f"nothing changed: {exc}") from None
    return pending


def _apply(
    state: ConfirmState,
    client: OvsdbClient,
    wanted: Layout,
    prune: bool,
    devices: Devices,
    pending: Pending,
) -> None:
    from stackwatch.ovs.address import AddressError
    from stackwatch.ovs.apply import apply_layout

    try:
        outcome = apply_layout(client, wanted, prune, devices)
    except AddressError as exc:  # after the transaction: the switch changed; the watchdog stays
        raise ConfirmError(
            f"{exc}; the saved layout is applied back at {clock_time(pending.deadline)} unless "
            f"{_command(state, 'confirm')} runs"
        ) from None
    except HostError as exc:  # the transaction was refused: nothing changed, nothing to watch
        if state.claim(PENDING, "ovs-confirm-cancelled.json"):
            state.drop("ovs-confirm-cancelled.json")
        raise ConfirmError(f"nothing changed: {exc}") from None
    for line in outcome.lines():
        say(line)
    for note in outcome.plan.notes:
        say(f"  note: {note}")
    if outcome.applied:
        say(f"applied {len(outcome.plan.changes)} changes in one transaction")
    if outcome.devices:
        say(f"set the address of {len(outcome.devices)} devices")


# waiting for the confirmation ---------------------------------------------------------------------


def _wait(state: ConfirmState, pending: Pending) -> int:
    say(
        f"keep this layout: {_command(state, 'confirm')} before {clock_time(pending.deadline)}"
        + (" (or Enter here)" if sys.stdin.isatty() else "")
        + f"; without it, the layout saved in {state.path(SAVED)} is applied back"
    )
    if not sys.stdin.isatty():
        return OK  # the watchdog is in charge
    try:
        return _countdown(state, pending, sys.stdout.isatty())
    except KeyboardInterrupt:
        typer.echo("")
        say(f"stopped waiting: {_in_charge(state, pending)}")
        return INTERRUPTED


def _in_charge(state: ConfirmState, pending: Pending) -> str:
    return (
        f"the watchdog applies the saved layout back at {clock_time(pending.deadline)} unless "
        f"{_command(state, 'confirm')} runs"
    )


class _HungUp(Exception):
    """The terminal closed (the SSH session died): nobody can press Enter any more."""


def _enter_pressed(timeout: float) -> bool:
    import select

    ready, _, _ = select.select([sys.stdin], [], [], timeout)
    if not ready:
        return False
    line = sys.stdin.readline()
    if not line:
        raise _HungUp
    return True


def _countdown(state: ConfirmState, pending: Pending, show: bool) -> int:
    """Count down on the terminal until Enter, a confirm from elsewhere, or the deadline."""
    shown = False
    try:
        while state.pending_exists() and (left := pending.deadline - time.time()) > 0:
            if show:
                typer.echo(f"\r{math.ceil(left):4d} s left to confirm (Enter) ", nl=False)
                shown = True
            if _enter_pressed(min(1.0, left)):
                _end_line(shown)
                return _confirm_here(state)
    except _HungUp:  # nobody to ask any more: the watchdog is in charge
        with contextlib.suppress(OSError):
            _end_line(shown)
            say(f"the terminal closed: {_in_charge(state, pending)}")
        return OK
    _end_line(shown)
    return _outcome(state, pending)


def _end_line(shown: bool) -> None:
    if shown:
        typer.echo("")


def _confirm_here(state: ConfirmState) -> int:
    try:
        say(confirm_pending(state, time.time()))
    except ConfirmError as exc:
        say(str(exc))
        return FAILED
    wait_for_watchdog(state, 3.0, time.sleep)
    return OK


def _outcome(state: ConfirmState, pending: Pending) -> int:
    """After the deadline (or a confirm elsewhere): wait for the watchdog, say how it ended."""
    wait_for_watchdog(state, pending.timeout * (ROLLBACK_TRIES + 2) + 10, time.sleep)
    status = state.status()
    if status.kind is not Kind.NONE:
        say(describe(status, state))
        return FAILED
    last = state.last_outcome() or "ended"
    if "not confirmed" in last or "confirmed" not in last:
        say(f"not confirmed: {last} (what the watchdog did: {state.path(LOG)})")
        return FAILED
    say(last)
    return OK


# confirm, rollback, the watchdog, and plain apply -------------------------------------------------


def confirm(state_dir: str) -> None:
    state = ConfirmState(state_dir)
    try:
        say(confirm_pending(state, time.time()))
    except (ConfirmError, HostError) as exc:
        fail(str(exc), FAILED)
    wait_for_watchdog(state, 3.0, time.sleep)


def rollback(state_dir: str) -> None:
    from stackwatch.ovs.confirm import apply_saved

    state = ConfirmState(state_dir)
    try:
        pending = rollback_now(state, say, apply_saved)
    except Busy as exc:
        fail(str(exc), BUSY)
    except (ConfirmError, HostError) as exc:
        fail(str(exc), FAILED)
    wait_for_watchdog(state, 3.0, time.sleep)
    say(f"rolled back: the layout saved before applying {pending.layout} is live again")


def run_watchdog(state_dir: str, log: Callable[[str], None] | None = None) -> int:
    """The watchdog process: hold the lock for as long as it watches; the exit code."""
    for sig in (signal.SIGHUP, signal.SIGINT):  # no terminal of its own: neither is for it
        signal.signal(sig, signal.SIG_IGN)
    state = ConfirmState(state_dir)
    write = log or _log
    for _ in range(100):  # a confirm or apply may be looking at the lock for an instant
        try:
            with state.host.exclusive_lock(state.path(LOCK)):
                return OK if Watch(state, say=write).run() else FAILED
        except LockHeld:
            time.sleep(0.02)
        except (ConfirmError, HostError) as exc:
            write(str(exc))
            return FAILED
    write("another watchdog holds the lock")
    return BUSY


def _log(line: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    sys.stdout.write(f"{stamp} [{os.getpid()}] {printable(line)}\n")
    sys.stdout.flush()


def refuse_while_waiting(state_dir: str) -> None:
    """A plain apply while an apply --confirm waits: refused (BUSY), since the watchdog would
    undo it at the deadline; a stale or failed one is only reported (the boot-time unit's apply
    must still run after a reboot in the middle of one)."""
    state = ConfirmState(state_dir)
    try:
        status = state.status()
    except HostError as exc:
        sys.stderr.write(f"stackwatch: cannot read {state.directory}: {printable(str(exc))}\n")
        return
    if status.kind is Kind.WAITING:
        fail(f"{describe(status, state)}; run {_command(state, 'confirm')} first, or wait", BUSY)
    if status.kind is Kind.ROLLING:
        fail(f"{describe(status, state)}; wait for it to finish", BUSY)
    if status.kind is not Kind.NONE:
        sys.stderr.write(f"stackwatch: warning: {printable(describe(status, state))}\n")
