"""Forked workers through Host: values and exceptions come back, a dead child is an error."""

from __future__ import annotations

import os
import signal

import pytest

from stackwatch.core.host import Host, HostError


def _square(value: int) -> int:
    return value * value


def _refuse(value: int) -> int:
    raise ValueError(f"no {value}")


def _die(value: int) -> int:
    os.kill(os.getpid(), signal.SIGKILL)
    return value


def test_fork_call_returns_the_childs_value_computed_elsewhere() -> None:
    call = Host().fork_call(os.getpid)
    try:
        assert call.result() != os.getpid()
    finally:
        call.stop()
    square = Host().fork_call(_square, 12)
    assert square.result() == 144
    square.stop()


def test_fork_call_raises_the_childs_exception_here() -> None:
    call = Host().fork_call(_refuse, 3)
    with pytest.raises(ValueError, match="no 3"):
        call.result()
    call.stop()


def test_a_child_that_dies_without_an_answer_is_a_host_error() -> None:
    call = Host().fork_call(_die, 1)
    with pytest.raises(HostError, match="ended without an answer"):
        call.result()
    call.stop()


def test_worker_pool_maps_in_forked_processes() -> None:
    with Host().worker_pool(2) as pool:
        assert list(pool.map(_square, range(5))) == [0, 1, 4, 9, 16]
