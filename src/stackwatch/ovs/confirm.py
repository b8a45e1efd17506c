"""``ovs apply --confirm``: a new layout that goes away by itself unless someone confirms it
(netplan try, a router's commit confirmed).

Before the new layout is applied, the live one is saved (as ``ovs export`` writes it, with the
addresses internal ports' devices have), and a watchdog is started: a process of its own, in a
session of its own (``Host.start_detached``), so that neither the SSH session dying nor stackwatch
being killed takes it along. When the deadline passes without ``ovs confirm``, the watchdog
applies the saved layout back with ``--prune``, addresses included.

The state directory holds, all 0600:

- ``ovs-confirm.json``: the apply waiting for confirmation (its layout, deadline, where the
  switch is). Its presence is the waiting state; a second apply is refused while it is there.
- ``ovs-confirm-saved.yaml``: the layout before the apply; a layout file an operator can also
  apply by hand (``ovs apply --prune FILE``).
- ``ovs-confirm.lock``: held (flock) by the watchdog for as long as it lives. The kernel drops
  it when the watchdog dies, however it dies: a record without a holder is a stale one.
- ``ovs-confirm-rollback.json``: the record, taken by whoever rolls back; left behind where the
  rollback failed, which the next apply, confirm and verify report.
- ``ovs-confirm-last.json``: how the last one ended, for ``confirm`` to say after the fact.
- ``ovs-confirm.log``: what the watchdog did, with times.

Who wins at the deadline, confirm or the watchdog, is decided by one rename of the record: confirm
renames it to a name of its own, the watchdog to the rollback name; only one of the two renames of
one file can succeed, so a layout is never both confirmed and rolled back.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Any

from stackwatch.core import record
from stackwatch.core.host import Host, HostError
from stackwatch.core.record import dataclass
from stackwatch.ovs.layout import Layout, LayoutError, PortSpec, parse_layout

if TYPE_CHECKING:
    from stackwatch.ovs.live import LiveSwitch

PENDING = "ovs-confirm.json"
ROLLBACK = "ovs-confirm-rollback.json"
CONFIRMED = "ovs-confirm-confirmed.json"
SAVED = "ovs-confirm-saved.yaml"
LOCK = "ovs-confirm.lock"
APPLY_LOCK = "ovs-confirm-apply.lock"
LAST = "ovs-confirm-last.json"
LOG = "ovs-confirm.log"

MAX_RECORD = 64 << 10  # the record is a few lines; anything larger is not ours
MAX_SAVED = 16 << 20  # the saved layout: thousands of ports still fit
MAX_CONFIRM_SECONDS = 24 * 3600.0
ROLLBACK_TRIES = 10  # OVSDB may be restarting at the deadline: try again, one second apart
WATCHDOG_START = 15.0  # seconds for the watchdog to start and take its lock


class ConfirmError(Exception):
    """What stops an apply --confirm, a confirm or a rollback; str() says why, in one line."""


class Busy(ConfirmError):
    """Another apply --confirm waits for confirmation (or is starting): try again later."""


@dataclass(frozen=True)
class Pending:
    """An apply waiting for confirmation: what the watchdog needs to put the saved layout back."""

    layout: str  # the layout file that was applied
    started: float  # seconds since the epoch
    deadline: float  # seconds since the epoch: the saved layout is applied back after it
    db: str
    netns: str | None
    timeout: float  # seconds for each OVSDB exchange and for devices to appear
    apply_pid: int

    def to_json(self) -> dict[str, Any]:
        return record.asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> Pending:
        """The record as written by ``to_json``; ConfirmError for anything else."""
        if not isinstance(data, dict) or set(data) != {f.name for f in record.fields(cls)}:
            raise ConfirmError("not a pending apply record")
        texts = ("layout", "db")
        numbers = ("started", "deadline", "timeout")
        if not all(isinstance(data[k], str) for k in texts):
            raise ConfirmError("not a pending apply record: layout and db are text")
        if not all(_finite(data[k]) for k in numbers) or not data["timeout"] > 0:
            raise ConfirmError("not a pending apply record: times are numbers")
        if data["netns"] is not None and not isinstance(data["netns"], str):
            raise ConfirmError("not a pending apply record: netns is text")
        pid = data["apply_pid"]
        if not isinstance(pid, int) or isinstance(pid, bool):
            raise ConfirmError("not a pending apply record: apply_pid is a number")
        return cls(**data)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def clock_time(epoch: float) -> str:
    """A time of day an operator reads, in UTC (where the log and the record keep epochs)."""
    return time.strftime("%H:%M:%S UTC", time.gmtime(epoch))


# The state directory ----------------------------------------------------------------------------


class Kind(Enum):
    NONE = "none"  # nothing waits
    WAITING = "waiting"  # a record and its watchdog
    STALE = "stale"  # a record whose watchdog is gone: nothing will roll it back
    ROLLING = "rolling"  # the deadline passed; the watchdog is applying the saved layout
    FAILED = "failed"  # the rollback was taken but did not finish


@dataclass(frozen=True)
class Status:
    kind: Kind
    pending: Pending | None = None
    watchdog: str | None = None  # the pid holding the lock
    problem: str | None = None  # a record that cannot be read


class ConfirmState:
    """The files of apply --confirm in one directory, read and written through Host."""

    def __init__(self, directory: str, host: Host | None = None) -> None:
        self.directory = os.path.abspath(directory)
        self.host = host or Host()

    def path(self, name: str) -> str:
        return os.path.join(self.directory, name)

    def read_pending(self) -> Pending | None:
        """The record of the apply that waits; None where none does."""
        return self._read_record(PENDING)

    def _read_record(self, name: str) -> Pending | None:
        try:
            raw = self.host.read_small(self.path(name), MAX_RECORD)
        except HostError as exc:
            raise ConfirmError(f"{self.path(name)}: {exc}") from None
        if raw is None:
            return None
        try:
            return Pending.from_json(json.loads(raw))
        except (ValueError, UnicodeDecodeError, RecursionError, ConfirmError) as exc:
            raise ConfirmError(f"{self.path(name)} is unreadable ({exc})") from None

    def _write(self, name: str, data: dict[str, Any]) -> None:
        self.host.make_dir(self.directory, parents=True)
        self.host.write_atomic(self.path(name), json.dumps(data, sort_keys=True) + "\n", 0o600)

    def watchdog(self) -> str | None:
        """The pid of the living watchdog (the holder of its lock), None where none lives."""
        return self.host.lock_holder(self.path(LOCK))

    def status(self) -> Status:
        """What waits, and whether a watchdog still watches over it."""
        watchdog = self.watchdog()
        for name, alive, dead in (
            (PENDING, Kind.WAITING, Kind.STALE),
            (ROLLBACK, Kind.ROLLING, Kind.FAILED),
        ):
            try:
                record = self._read_record(name)
            except ConfirmError as exc:
                return Status(alive if watchdog else dead, None, watchdog, str(exc))
            if record is not None:
                return Status(alive if watchdog else dead, record, watchdog)
        return Status(Kind.NONE, None, watchdog)

    def write_pending(self, pending: Pending) -> None:
        self._write(PENDING, pending.to_json())

    def pending_exists(self) -> bool:
        return self.host.exists(self.path(PENDING))

    def claim(self, source: str, target: str) -> bool:
        """Rename record ``source`` to ``target``: True for the one caller that did it, False
        where it was gone (another took it first)."""
        try:
            self.host.rename(self.path(source), self.path(target))
        except HostError:
            if self.host.exists(self.path(source)):
                raise
            return False
        return True

    def drop(self, name: str) -> None:
        self.host.remove_file(self.path(name))

    def save_layout(self, text: str) -> None:
        self.host.make_dir(self.directory, parents=True)
        self.host.write_atomic(self.path(SAVED), text, 0o600)

    def read_saved(self) -> Layout:
        """The saved layout; ConfirmError saying why where it cannot be read or parsed."""
        path = self.path(SAVED)
        try:
            raw = self.host.read_small(path, MAX_SAVED)
            if raw is None:
                raise ConfirmError(f"the saved layout {path} is missing")
            return parse_layout(raw.decode("utf-8"), path)
        except (HostError, LayoutError, UnicodeDecodeError) as exc:
            raise ConfirmError(f"the saved layout is unreadable: {exc}") from None

    def record_outcome(self, outcome: str, pending: Pending | None, at: float) -> None:
        """How the last one ended; a failure to write it is not worth failing for."""
        data = {"outcome": outcome, "at": at, "layout": pending.layout if pending else None}
        with contextlib.suppress(HostError):
            self._write(LAST, data)

    def last_outcome(self) -> str | None:
        """One line on how the last apply --confirm ended, None where nothing is known."""
        try:
            raw = self.host.read_small(self.path(LAST), MAX_RECORD)
            data = json.loads(raw) if raw is not None else None
        except (HostError, ValueError, UnicodeDecodeError, RecursionError):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("outcome"), str):
            return None
        at = data.get("at")
        when = f" at {clock_time(at)}" if isinstance(at, int | float) and _finite(at) else ""
        layout = data.get("layout")
        of = f" of {layout}" if isinstance(layout, str) else ""
        return f"the last apply --confirm{of}: {data['outcome']}{when}"


# What the state says, in words --------------------------------------------------------------------


def _by_hand(state: ConfirmState) -> str:
    return (
        "run stackwatch ovs confirm to keep the current layout, or stackwatch ovs rollback to "
        f"apply the saved one ({state.path(SAVED)}) back"
    )


def describe(status: Status, state: ConfirmState) -> str:
    """One line for an operator on what waits (NONE: nothing waits)."""
    pending = status.pending
    what = f"apply --confirm of {pending.layout}" if pending else "apply --confirm"
    if status.problem:
        what = f"{what} ({status.problem})"
    if status.kind is Kind.WAITING:
        until = f" until {clock_time(pending.deadline)}" if pending else ""
        return f"an {what} waits for confirmation{until} (watchdog pid {status.watchdog})"
    if status.kind is Kind.STALE:
        return (
            f"an {what} was never confirmed, and its watchdog is gone (killed?): nothing will "
            f"apply the saved layout back; {_by_hand(state)}"
        )
    if status.kind is Kind.ROLLING:
        return f"the {what} was not confirmed in time: its saved layout is being applied back"
    if status.kind is Kind.FAILED:
        return (
            f"applying back the saved layout of an unconfirmed {what} did not finish (see "
            f"{state.path(LOG)}); run stackwatch ovs rollback to try again"
        )
    return "no apply --confirm waits for confirmation"


def refuse_if_waiting(state: ConfirmState) -> None:
    """Raise Busy where a watchdog waits or rolls back, ConfirmError where an earlier one was
    left without one: a second apply --confirm would overwrite the saved layout, the only way
    back to the layout before the first."""
    status = state.status()
    if status.kind is Kind.NONE:
        return
    message = describe(status, state)
    if status.kind is Kind.WAITING:
        raise Busy(f"{message}; confirm it first (stackwatch ovs confirm), or wait")
    if status.kind is Kind.ROLLING:
        raise Busy(f"{message}; wait for it to finish")
    raise ConfirmError(message)


# The saved layout ---------------------------------------------------------------------------------


def within_reach(live: LiveSwitch, wanted: Layout) -> LiveSwitch:
    """The part of the live switch that applying ``wanted`` (with prune) can change: what
    stackwatch made (prune may remove it) and what ``wanted`` declares. The rest, such as the
    tap ports Neutron adds and removes on br-int, is left out of the saved layout, so that the
    rollback leaves it as it is then (a layout leaves undeclared ports it did not make alone),
    instead of bringing back a VM's deleted port or an old VLAN tag."""
    ports = {p.name for b in wanted.bridges for p in b.ports}
    bridges = {b.name for b in wanted.bridges}
    kept = []
    for bridge in live.bridges:
        users = [p for p in bridge.user_ports if p.managed or p.name in ports]
        if bridge.managed or bridge.name in bridges or users:
            local = [p for p in bridge.ports if p.name == bridge.name]
            kept.append(record.replace(bridge, ports=tuple(local + users)))
    return record.replace(live, bridges=tuple(kept))


def saved_layout(
    live: LiveSwitch,
    read_addresses: Callable[[str], tuple[str, ...] | None],
    wanted: Layout | None = None,
) -> tuple[str, list[str]]:
    """The live switch (within reach of ``wanted``, where given) as the layout file to save, and
    notes on what it cannot bring back.

    ``ovs export`` gives an internal port the address stackwatch recorded for it; an address
    set otherwise (ifupdown, by hand) is read from the device (``read_addresses``: its global
    addresses, None where it does not exist) so that the rollback brings it back too. A layout
    holds one address per port: where a device has several, the first is saved, and said.
    """
    from stackwatch.ovs.export import Export, export_layout

    exported = export_layout(within_reach(live, wanted) if wanted else live, "saved layout")
    notes = [f"the rollback cannot restore {item}" for item in exported.left_out]
    bridges = []
    for bridge in exported.layout.bridges:
        ports = []
        for port in bridge.ports:
            port, note = _with_device_address(bridge.name, port, read_addresses)
            ports.append(port)
            notes += [note] if note else []
        bridges.append(record.replace(bridge, ports=tuple(ports)))
    layout = Layout(tuple(bridges), exported.layout.source)
    return Export(layout, exported.left_out).text(), notes


def _with_device_address(
    bridge: str, port: PortSpec, read_addresses: Callable[[str], tuple[str, ...] | None]
) -> tuple[PortSpec, str | None]:
    if port.type != "internal" or port.address:
        return port, None
    found = read_addresses(port.name) or ()
    if not found:
        return port, None
    note = None
    if len(found) > 1:
        note = (
            f"port {bridge}/{port.name} has {len(found)} addresses; the rollback restores "
            f"{found[0]} only"
        )
    return record.replace(port, address=found[0]), note


# Rolling back -------------------------------------------------------------------------------------

ApplySaved = Callable[[Layout, Pending], list[str]]


def apply_saved(layout: Layout, pending: Pending) -> list[str]:
    """Apply ``layout`` with prune to the switch the record names: what it changed."""
    from stackwatch.ovs.apply import Devices, apply_layout
    from stackwatch.ovs.ovsdb import OvsdbClient

    devices = Devices(Host(), pending.netns, pending.timeout)
    with OvsdbClient(pending.db, pending.timeout).connect() as client:
        outcome = apply_layout(client, layout, True, devices)
    return outcome.lines()


def roll_back(
    state: ConfirmState,
    pending: Pending,
    apply: ApplySaved = apply_saved,
    say: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
    tries: int = ROLLBACK_TRIES,
) -> None:
    """Apply the saved layout back (the record already taken as ROLLBACK) and, once done, drop
    the record; ConfirmError where it cannot be done (the record stays: status FAILED)."""
    try:
        layout = state.read_saved()
    except ConfirmError as exc:
        state.record_outcome(f"rollback failed: {exc}", pending, time.time())
        raise
    for attempt in range(1, tries + 1):
        try:
            lines = apply(layout, pending)
            break
        except HostError as exc:
            say(f"applying the saved layout back failed (try {attempt} of {tries}): {exc}")
            if attempt == tries:
                state.record_outcome(f"rollback failed: {exc}", pending, time.time())
                raise ConfirmError(f"applying the saved layout back failed: {exc}") from None
            sleep(1.0)
    for line in lines:
        say(line)
    state.record_outcome("not confirmed, rolled back", pending, time.time())
    state.drop(ROLLBACK)


# The watchdog -------------------------------------------------------------------------------------


@dataclass
class Watch:
    """The watchdog's loop, its clock and sleep given (tests run it without waiting)."""

    state: ConfirmState
    apply: ApplySaved = apply_saved
    say: Callable[[str], None] = print
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    poll: float = 0.1  # how often the record is looked at: how soon confirm ends the watchdog

    def run(self) -> bool:
        """Wait for the deadline; roll back unless confirmed. True: confirmed or rolled back."""
        pending = self.state.read_pending()
        if pending is None:
            self.say("nothing waits for confirmation")
            return True
        self.say(f"watching {pending.layout}: rollback at {clock_time(pending.deadline)}")
        while (left := pending.deadline - self.clock()) > 0:
            if not self.state.pending_exists():
                self.say("confirmed (or rolled back by hand): nothing to do")
                return True
            self.sleep(min(self.poll, left))
        if not self.state.claim(PENDING, ROLLBACK):
            self.say("confirmed at the deadline: nothing to do")
            return True
        self.say("not confirmed by the deadline: applying the saved layout back")
        try:
            roll_back(self.state, pending, self.apply, self.say, self.sleep)
        except ConfirmError as exc:
            self.say(str(exc))
            return False
        self.say("rolled back")
        return True


def confirm_pending(state: ConfirmState, now: float) -> str:
    """Keep the applied layout: take the record before the watchdog does; what to say. Raises
    ConfirmError where nothing waits (or the deadline won)."""
    status = state.status()
    if status.kind in (Kind.ROLLING, Kind.FAILED):
        raise ConfirmError(f"too late: {describe(status, state)}")
    if status.kind is Kind.NONE:
        last = state.last_outcome()
        raise ConfirmError(
            "nothing to confirm: no apply --confirm waits" + (f" ({last})" if last else "")
        )
    if not state.claim(PENDING, CONFIRMED):
        raise ConfirmError(f"too late: {describe(state.status(), state)}")
    state.drop(CONFIRMED)
    state.record_outcome("confirmed", status.pending, now)
    what = status.pending.layout if status.pending else "the applied layout"
    if status.kind is Kind.STALE:
        return f"confirmed: {what} stays (its watchdog had died: nothing would have rolled it back)"
    return f"confirmed: {what} stays; the watchdog (pid {status.watchdog}) ends"


def rollback_now(state: ConfirmState, say: Callable[[str], None], apply: ApplySaved) -> Pending:
    """``ovs rollback``: apply the saved layout back now, taking the record from a waiting or
    stale apply (its watchdog ends), or retrying one whose rollback failed."""
    status = state.status()
    if status.kind is Kind.NONE:
        raise ConfirmError("nothing to roll back: no apply --confirm waits")
    if status.kind is Kind.ROLLING:
        raise Busy(describe(status, state))
    if status.pending is None:
        raise ConfirmError(describe(status, state))
    if status.kind is not Kind.FAILED and not state.claim(PENDING, ROLLBACK):
        raise Busy(describe(state.status(), state))
    roll_back(state, status.pending, apply, say)
    return status.pending


def start_watchdog(
    state: ConfirmState, argv: list[str], sleep: Callable[[float], None] = time.sleep
) -> str:
    """Start the watchdog detached and wait until it holds its lock (it watches from then on):
    its pid. ConfirmError where it did not come up."""
    pid = state.host.start_detached(argv, state.path(LOG))
    deadline = time.monotonic() + WATCHDOG_START
    while (holder := state.watchdog()) is None:
        try:
            stat = state.host.read_optional(f"/proc/{pid}/stat") or ""
        except HostError:  # it ended between two looks
            stat = ""
        ended = not stat or stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]
        if ended or time.monotonic() >= deadline:
            raise ConfirmError(f"the watchdog did not start (see {state.path(LOG)})")
        sleep(0.05)
    return holder


def wait_for_watchdog(state: ConfirmState, seconds: float, sleep: Callable[[float], None]) -> bool:
    """Wait until no watchdog holds the lock (it ended): False where one still does."""
    deadline = time.monotonic() + seconds
    while state.watchdog() is not None:
        if time.monotonic() >= deadline:
            return False
        sleep(0.05)
    return True
