"""--timeout bounds the whole run: a resolver that never answers cannot hold a Nagios call."""

from __future__ import annotations

import socket
import time

import pytest

from stackwatch.core.result import Result, Status
from stackwatch.render.statsd import StatsdError, send_statsd


def test_statsd_name_lookup_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    def hanging(*args: object, **kwargs: object) -> object:
        time.sleep(5)  # a resolver that does not answer in time (its late answer is ignored)
        return []

    monkeypatch.setattr(socket, "getaddrinfo", hanging)
    started = time.monotonic()
    with pytest.raises(StatsdError, match=r"no answer within 0\.3 s"):
        send_statsd([Result("x", Status.OK, "fine")], "statsd.example:8125", "p", timeout=0.3)
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize("address", ["host:١٢", "host:", ":8125", "host:70000", "host:0"])
def test_bad_statsd_addresses_are_refused(address: str) -> None:
    with pytest.raises(StatsdError, match="expected HOST:PORT"):
        send_statsd([], address, "p")
