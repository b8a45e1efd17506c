"""Interface rates between two readings: wraps, restarts and discontinuities."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stackwatch.switch.counters import port_rates, port_sample
from stackwatch.switch.tables import Interface


def port(counters: dict[str, int], discontinuity: int | None = 0, ifindex: int = 1) -> Interface:
    return Interface(ifindex, f"eth{ifindex}", counters=counters, discontinuity=discontinuity)


def test_first_run_has_no_rates_then_rates() -> None:
    first = port_rates(None, [port({"in_octets": 1000})], 100, 1000.0)
    assert first.first_run and not first.rates
    saved = port_sample([port({"in_octets": 1000})], 100, 1000.0)
    later = port_rates(saved, [port({"in_octets": 3000})], 1100, 1010.0)
    assert later.rates == {1: {"in_octets": 200.0}}


def test_32_bit_error_counter_wraps() -> None:
    saved = port_sample([port({"in_errors": (1 << 32) - 10})], 100, 0.0)
    rates = port_rates(saved, [port({"in_errors": 10})], 200, 10.0)
    assert rates.rates[1]["in_errors"] == 2.0  # 20 errors across the wrap in 10 s
    assert rates.wrapped == ("1.in_errors",)


def test_64_bit_counter_going_down_is_a_reset_not_a_spike() -> None:
    saved = port_sample([port({"in_octets": 10**12})], 100, 0.0)
    rates = port_rates(saved, [port({"in_octets": 5})], 200, 10.0)
    assert "in_octets" not in rates.rates.get(1, {})
    assert rates.reset == ("1.in_octets",)


def test_sysuptime_going_back_means_no_rates() -> None:
    saved = port_sample([port({"in_errors": 500})], 900000, 0.0)
    rates = port_rates(saved, [port({"in_errors": 3})], 1200, 60.0)  # rebooted
    assert rates.restarted and not rates.rates and not rates.wrapped


def test_discontinuity_time_changed_drops_that_interface_only() -> None:
    before = [port({"in_errors": 100}, 0, 1), port({"in_errors": 100}, 0, 2)]
    saved = port_sample(before, 1000, 0.0)
    after = [port({"in_errors": 5}, 4000, 1), port({"in_errors": 110}, 0, 2)]
    rates = port_rates(saved, after, 5000, 10.0)
    assert rates.discontinuous == (1,)
    assert 1 not in rates.rates
    assert rates.rates[2] == {"in_errors": 1.0}


@given(
    st.integers(0, (1 << 32) - 1),
    st.integers(0, (1 << 32) - 1),
    st.integers(0, (1 << 64) - 1),
    st.integers(0, (1 << 64) - 1),
    st.floats(0.5, 1e6),
)
def test_rates_are_never_negative(e1: int, e2: int, o1: int, o2: int, elapsed: float) -> None:
    saved = port_sample([port({"in_errors": e1, "in_octets": o1})], 10, 0.0)
    rates = port_rates(saved, [port({"in_errors": e2, "in_octets": o2})], 20, elapsed)
    for values in rates.rates.values():
        assert all(v >= 0 for v in values.values())
        assert values.get("in_errors", 0) * elapsed < 1 << 32


def test_corrupt_sample_is_a_first_run() -> None:
    for bad in ({"time": "x"}, {"counters": []}, {"time": 5.0, "counters": {"1.in_octets": -1}}):
        rates = port_rates(bad, [port({"in_octets": 5})], 10, 10.0)
        assert not any(v < 0 for r in rates.rates.values() for v in r.values())
