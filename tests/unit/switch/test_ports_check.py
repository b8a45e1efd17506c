"""switch-ports' judgement: links down, error rates, bandwidth, one line per device."""

from __future__ import annotations

from stackwatch.core.result import Status
from stackwatch.switch.check import (
    DevicePorts,
    PortsFacts,
    PortsOptions,
    judge_ports,
    state_name,
)
from stackwatch.switch.counters import PortRates
from stackwatch.switch.device import DeviceFacts
from stackwatch.switch.tables import Interface


def iface(ifindex: int, oper: str = "up", alias: str = "", speed: int = 1000) -> Interface:
    return Interface(
        ifindex, f"Gi0/{ifindex}", alias=alias, admin_up=True, oper=oper, speed_mbps=speed
    )


def facts(
    *interfaces: Interface, rates: dict[int, dict[str, float]] | None = None, name: str = "tor1"
) -> DevicePorts:
    port_rates = PortRates(rates or {}, first_run=rates is None)
    return DevicePorts(DeviceFacts(name, interfaces=interfaces), port_rates)


def test_described_port_down_is_critical_undescribed_is_not() -> None:
    result = judge_ports(
        PortsFacts((facts(iface(1, "down", "cmp1 em1"), iface(2, "down")),)), PortsOptions()
    )
    assert result.status is Status.CRITICAL
    assert result.summary == "tor1: Gi0/1 down"


def test_error_rate_and_bandwidth_named_per_device() -> None:
    rates = {1: {"in_errors": 3.0}, 2: {"in_octets": 120e6, "out_octets": 1.0}}  # 960 Mbit/s
    result = judge_ports(
        PortsFacts((facts(iface(1), iface(2), rates=rates), facts(iface(1), name="tor2"))),
        PortsOptions(),
    )
    assert result.status is Status.CRITICAL
    assert result.summary == "tor1: Gi0/1 errors 3.00/s, Gi0/2 at 96% of 1000M"
    busiest = [m for m in result.metrics if m.name == "busiest_port"]
    assert [(m.labels["device"], m.value) for m in busiest] == [("tor1", 96.0), ("tor2", 0.0)]


def test_unreadable_device_is_unknown_and_others_still_judged() -> None:
    result = judge_ports(
        PortsFacts(
            (
                DevicePorts(DeviceFacts("tor1", "no answer (timeout)"), PortRates()),
                facts(iface(1, "down", "uplink"), name="tor2"),
            )
        ),
        PortsOptions(),
    )
    assert result.status is Status.CRITICAL
    assert result.summary == "tor1: no answer (timeout); tor2: Gi0/1 down"


def test_state_names_are_safe_and_distinct() -> None:
    a, b = state_name("sw/1:161"), state_name("sw_1_161")
    assert a != b and "/" not in a and ":" not in a
