"""The state of ovs apply --confirm without a switch: the record and its parser, what the state
directory says (waiting, stale, rolling back, failed), the watchdog's decision at the deadline
(confirm and watchdog racing for one rename), a saved layout that cannot be read, and the saved
layout keeping the addresses of internal ports' devices."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackwatch.core import record
from stackwatch.core.host import Host, HostError
from stackwatch.ovs.confirm import (
    LAST,
    LOCK,
    PENDING,
    ROLLBACK,
    SAVED,
    Busy,
    ConfirmError,
    ConfirmState,
    Kind,
    Pending,
    Watch,
    confirm_pending,
    refuse_if_waiting,
    rollback_now,
    saved_layout,
)
from stackwatch.ovs.layout import Layout, parse_layout
from stackwatch.ovs.live import (
    ADDRESS_KEY,
    MANAGED_KEY,
    LiveBridge,
    LiveInterface,
    LivePort,
    LiveSwitch,
)

OLD = "bridges:\n  br-ex:\n    ports:\n      mgmt: {type: internal, address: 10.0.15.11/24}\n"


def pending(deadline: float = 100.0, layout: str = "/etc/new.yaml") -> Pending:
    return Pending(layout, 90.0, deadline, "unix:/run/db.sock", "ns1", 5.0, 4242)


@pytest.fixture
def state(tmp_path: Path) -> ConfirmState:
    return ConfirmState(str(tmp_path / "state"))


def waiting(state: ConfirmState, deadline: float = 100.0) -> Pending:
    record = pending(deadline)
    state.write_pending(record)
    state.save_layout(OLD)
    return record


@contextmanager
def watchdog_alive(state: ConfirmState) -> Iterator[None]:
    """Hold the watchdog's lock as the watchdog does (another open file: flock conflicts)."""
    with Host().exclusive_lock(state.path(LOCK)):
        yield


# the record --------------------------------------------------------------------------------------


def test_record_round_trips() -> None:
    record = pending()
    assert Pending.from_json(json.loads(json.dumps(record.to_json()))) == record


@pytest.mark.parametrize(
    "change",
    [
        {"deadline": "soon"},
        {"deadline": float("nan")},
        {"timeout": 0},
        {"netns": 3},
        {"apply_pid": True},
        {"layout": None},
        {"extra": 1},
    ],
)
def test_record_of_the_wrong_shape_is_refused(change: dict[str, Any]) -> None:
    with pytest.raises(ConfirmError, match="not a pending apply record"):
        Pending.from_json({**pending().to_json(), **change})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=9), inner),
    max_leaves=12,
)


@given(st.dictionaries(st.sampled_from(list(pending().to_json())), json_values) | json_values)
def test_any_json_is_a_record_or_refused(data: Any) -> None:
    with suppress(ConfirmError):
        Pending.from_json(data)


# what the state directory says -------------------------------------------------------------------


def test_nothing_waits(state: ConfirmState) -> None:
    assert state.status().kind is Kind.NONE
    refuse_if_waiting(state)  # nothing to refuse


def test_waiting_with_its_watchdog_refuses_a_second_apply(state: ConfirmState) -> None:
    waiting(state)
    with watchdog_alive(state):
        status = state.status()
        assert status.kind is Kind.WAITING and status.watchdog == str(os.getpid())
        with pytest.raises(Busy, match="waits for confirmation until 00:01:40 UTC"):
            refuse_if_waiting(state)


def test_a_record_without_its_watchdog_is_stale(state: ConfirmState) -> None:
    waiting(state)
    (Path(state.path(LOCK))).write_text("999999\n")  # a lock file nobody holds any more
    status = state.status()
    assert status.kind is Kind.STALE and status.watchdog is None
    with pytest.raises(ConfirmError, match="its watchdog is gone") as caught:
        refuse_if_waiting(state)
    assert not isinstance(caught.value, Busy)
    assert "stackwatch ovs rollback" in str(caught.value) and SAVED in str(caught.value)


def test_rolling_back_and_a_failed_rollback(state: ConfirmState) -> None:
    waiting(state)
    assert state.claim(PENDING, ROLLBACK)
    with watchdog_alive(state):
        assert state.status().kind is Kind.ROLLING
        with pytest.raises(Busy, match="being applied back"):
            refuse_if_waiting(state)
    assert state.status().kind is Kind.FAILED


def test_an_unreadable_record_is_reported_not_a_crash(state: ConfirmState) -> None:
    Path(state.directory).mkdir(parents=True)
    Path(state.path(PENDING)).write_text("{not json")
    status = state.status()
    assert status.kind is Kind.STALE and status.problem and "unreadable" in status.problem


def test_only_one_of_two_claims_wins(state: ConfirmState) -> None:
    waiting(state)
    assert state.claim(PENDING, "ovs-confirm-confirmed.json")
    assert not state.claim(PENDING, ROLLBACK)


# the watchdog ------------------------------------------------------------------------------------


class Clock:
    def __init__(self, now: float = 95.0) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class Recorder:
    def __init__(self, fail_times: int = 0) -> None:
        self.applied: list[Layout] = []
        self.fail_times = fail_times

    def __call__(self, layout: Layout, record: Pending) -> list[str]:
        if self.fail_times:
            self.fail_times -= 1
            raise HostError("OVSDB not reachable")
        self.applied.append(layout)
        return ["+ port br-ex/mgmt: internal, address 10.0.15.11/24"]


def watch(state: ConfirmState, apply: Recorder, clock: Clock, said: list[str]) -> Watch:
    return Watch(state, apply, said.append, clock.time, clock.sleep)


def test_unconfirmed_at_the_deadline_the_saved_layout_comes_back(state: ConfirmState) -> None:
    waiting(state)
    apply, clock, said = Recorder(), Clock(), []
    assert watch(state, apply, clock, said).run()
    assert clock.now >= 100.0  # not before the deadline
    assert [b.name for b in apply.applied[0].bridges] == ["br-ex"]
    assert apply.applied[0].bridges[0].ports[0].address == "10.0.15.11/24"
    assert state.status().kind is Kind.NONE
    assert "not confirmed, rolled back" in (state.last_outcome() or "")
    assert said[-1] == "rolled back"


def test_confirmed_before_the_deadline_nothing_is_applied(state: ConfirmState) -> None:
    waiting(state)
    apply, clock, said = Recorder(), Clock(), []

    def confirm_at_97(seconds: float) -> None:
        clock.now += seconds
        if clock.now >= 97.0 and state.pending_exists():
            confirm_pending(state, clock.now)

    runner = Watch(state, apply, said.append, clock.time, confirm_at_97)
    assert runner.run()
    assert apply.applied == [] and clock.now < 100.0
    assert "confirmed" in said[-1]


def test_a_confirm_that_wins_the_rename_at_the_deadline_keeps_the_layout(
    state: ConfirmState,
) -> None:
    """Confirm runs during the watchdog's last sleep: the watchdog, past the deadline, tries to
    take the record, finds it taken, and applies nothing."""
    waiting(state)
    apply, clock, said = Recorder(), Clock(99.95), []

    def confirm_in_the_last_sleep(seconds: float) -> None:
        clock.now += seconds
        if clock.now >= 100.0:
            confirm_pending(state, clock.now)

    assert Watch(state, apply, said.append, clock.time, confirm_in_the_last_sleep).run()
    assert apply.applied == [] and said[-1] == "confirmed at the deadline: nothing to do"


@pytest.mark.parametrize(
    "saved", [None, "bridges: [oops\n", "bridges:\n  br-ex: {datapath_type: x}\n"]
)
def test_a_saved_layout_that_cannot_be_read_leaves_a_failed_rollback(
    state: ConfirmState, saved: str | None
) -> None:
    waiting(state)
    if saved is None:
        os.remove(state.path(SAVED))
    else:
        Path(state.path(SAVED)).write_text(saved)
    apply, said = Recorder(), []
    assert not watch(state, apply, Clock(), said).run()
    assert apply.applied == []
    assert "the saved layout" in said[-1]
    status = state.status()
    assert status.kind is Kind.FAILED and status.pending == pending()
    assert "rollback failed: the saved layout" in (state.last_outcome() or "")


def test_an_unreachable_switch_is_tried_again(state: ConfirmState) -> None:
    waiting(state)
    apply, said = Recorder(fail_times=2), []
    assert watch(state, apply, Clock(), said).run()
    assert len(apply.applied) == 1 and sum("try" in line for line in said) == 2


def test_a_switch_that_stays_unreachable_leaves_a_failed_rollback(state: ConfirmState) -> None:
    waiting(state)
    assert not watch(state, Recorder(fail_times=99), Clock(), []).run()
    assert state.status().kind is Kind.FAILED
    # ovs rollback tries again once the switch is back
    apply = Recorder()
    rollback_now(state, lambda line: None, apply)
    assert len(apply.applied) == 1 and state.status().kind is Kind.NONE


# confirm and rollback ----------------------------------------------------------------------------


def test_confirm_with_nothing_waiting_says_so(state: ConfirmState) -> None:
    with pytest.raises(ConfirmError, match=r"^nothing to confirm: no apply --confirm waits$"):
        confirm_pending(state, 0.0)
    state.record_outcome("not confirmed, rolled back", pending(), 100.0)
    with pytest.raises(ConfirmError) as caught:
        confirm_pending(state, 0.0)
    assert str(caught.value) == (
        "nothing to confirm: no apply --confirm waits (the last apply --confirm of "
        "/etc/new.yaml: not confirmed, rolled back at 00:01:40 UTC)"
    )


def test_confirm_keeps_the_layout(state: ConfirmState) -> None:
    waiting(state)
    with watchdog_alive(state):
        said = confirm_pending(state, 98.0)
    assert said == f"confirmed: /etc/new.yaml stays; the watchdog (pid {os.getpid()}) ends"
    assert state.status().kind is Kind.NONE
    assert json.loads(Path(state.path(LAST)).read_text())["outcome"] == "confirmed"


def test_confirm_of_a_stale_one_says_nothing_would_have_rolled_it_back(
    state: ConfirmState,
) -> None:
    waiting(state)
    assert "its watchdog had died" in confirm_pending(state, 98.0)


def test_confirm_after_the_deadline_is_too_late(state: ConfirmState) -> None:
    waiting(state)
    state.claim(PENDING, ROLLBACK)
    with watchdog_alive(state), pytest.raises(ConfirmError, match=r"^too late: .*being applied"):
        confirm_pending(state, 101.0)


def test_rollback_by_hand_of_a_stale_one(state: ConfirmState) -> None:
    with pytest.raises(ConfirmError, match="nothing to roll back"):
        rollback_now(state, print, Recorder())
    waiting(state)
    apply = Recorder()
    assert rollback_now(state, print, apply) == pending()
    assert len(apply.applied) == 1 and state.status().kind is Kind.NONE


# the saved layout --------------------------------------------------------------------------------


def internal(name: str, **ids: str) -> LivePort:
    iface = LiveInterface(f"i-{name}", name, "internal")
    return LivePort(f"p-{name}", name, (iface,), external_ids=ids)


def test_saved_layout_keeps_the_addresses_of_internal_devices() -> None:
    ports = (
        internal("mgmt"),  # its address set by ifupdown: read from the device
        internal("stor", **{ADDRESS_KEY: "10.0.20.5/24"}),  # set by stackwatch: recorded
        internal("multi"),
        internal("gone"),
    )
    live = LiveSwitch("root", ("b",), (LiveBridge("b", "br-ex", ports, ()),))
    devices = {
        "mgmt": ("10.0.15.11/24",),
        "stor": ("9.9.9.9/8",),
        "multi": ("10.1.0.1/16", "fd00::1/64"),
    }
    text, notes = saved_layout(live, devices.get)
    saved = {p.name: p.address for p in parse_layout(text).bridges[0].ports}
    assert saved == {
        "mgmt": "10.0.15.11/24",
        "stor": "10.0.20.5/24",
        "multi": "10.1.0.1/16",
        "gone": None,
    }
    assert notes == ["port br-ex/multi has 2 addresses; the rollback restores 10.1.0.1/16 only"]
    assert text.startswith("# exported by stackwatch ovs export\n")


def test_saved_layout_leaves_out_what_the_new_layout_cannot_change() -> None:
    """Neutron's tap port on br-int is neither stackwatch's nor declared by the new layout: it is
    not saved, so the rollback leaves it as Neutron has it then (even deleted, or retagged)."""
    managed = {MANAGED_KEY: "true"}
    tap = LivePort("p-tap", "tap1", (LiveInterface("i-tap", "tap1", "system"),), tag=5)
    patch = LivePort(
        "p-pt", "patch-tun", (LiveInterface("i-pt", "patch-tun", "patch", {"peer": "patch-int"}),)
    )
    patch = record.replace(patch, external_ids=managed)
    eth9 = LivePort("p-e9", "eth9", (LiveInterface("i-e9", "eth9", "system"),))
    live = LiveSwitch(
        "root",
        (),
        (
            LiveBridge("b1", "br-int", (patch, tap), ()),
            LiveBridge("b2", "br-ex", (internal("mgmt", **managed),), (), external_ids=managed),
            LiveBridge("b3", "br-other", (eth9,), ()),
            LiveBridge("b4", "br-vm", (tap,), ()),
        ),
    )
    wanted = parse_layout(
        "bridges:\n  br-ex:\n    ports:\n      mgmt2: {type: internal}\n      eth9: {}\n"
    )
    text, _ = saved_layout(live, lambda port: None, wanted)
    saved = {b.name: [p.name for p in b.ports] for b in parse_layout(text).bridges}
    assert saved == {"br-int": ["patch-tun"], "br-ex": ["mgmt"], "br-other": ["eth9"]}
