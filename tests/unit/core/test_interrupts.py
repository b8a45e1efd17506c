"""SIGTERM as Ctrl-C, and clean-up that a signal cannot cut in half (core/interrupts.py)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from stackwatch.core.interrupts import signals_as_interrupt


def deliver(sig: signal.Signals) -> None:
    os.kill(os.getpid(), sig)
    time.sleep(0.01)  # the handler runs at the next bytecode boundary in the main thread


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_raises_keyboard_interrupt(sig: signal.Signals) -> None:
    steps = []
    with pytest.raises(KeyboardInterrupt), signals_as_interrupt():
        steps.append("started")
        deliver(sig)
        steps.append("not reached")
    assert steps == ["started"]


def test_a_signal_during_held_clean_up_waits_for_its_end() -> None:
    steps = []
    with pytest.raises(KeyboardInterrupt), signals_as_interrupt() as interrupts:
        with interrupts.held():
            deliver(signal.SIGTERM)
            steps.append("clean-up finished")
        steps.append("not reached")
    assert steps == ["clean-up finished"]


def test_held_sections_nest_and_the_signal_comes_after_the_outer_one() -> None:
    steps = []
    with pytest.raises(KeyboardInterrupt), signals_as_interrupt() as interrupts:  # noqa: SIM117
        with interrupts.held():
            with interrupts.held():
                deliver(signal.SIGTERM)
            steps.append("outer still running")
    assert steps == ["outer still running"]


def test_the_old_handlers_come_back() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with signals_as_interrupt():
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before
    with signals_as_interrupt() as interrupts, interrupts.held():
        pass  # no signal: nothing raised
