"""Rates from monotonic counters read on two runs, with counter resets detected."""

from __future__ import annotations

from collections.abc import Mapping

from stackwatch.core.record import dataclass, field

MAX_COUNTER = 1 << 64  # kernel counters are at most 64-bit
MAX_ELAPSED = 10 * 365 * 86400.0


@dataclass(frozen=True)
class CounterRates:
    """Per-second rates of counters since the previous sample.

    ``rates`` is empty on the first run (``first_run``). A counter that went down was reset
    (reboot, driver or module reload): it is listed in ``resets`` and gets no rate, never a huge
    or negative one.
    """

    rates: dict[str, float] = field(default_factory=dict)
    deltas: dict[str, int] = field(default_factory=dict)
    resets: tuple[str, ...] = ()
    elapsed: float = 0.0
    first_run: bool = True


def counter_rates(
    previous: Mapping[str, object] | None,
    current: Mapping[str, int],
    now: float,
) -> CounterRates:
    """Compare ``current`` counters taken at ``now`` with a previous sample saved by
    ``counter_sample``. Missing, malformed or future-dated samples count as a first run."""
    if not previous:
        return CounterRates()
    then = previous.get("time")
    counters = previous.get("counters")
    if not isinstance(then, int | float) or not isinstance(counters, dict):
        return CounterRates()
    elapsed = now - float(then)
    if not 0 < elapsed < MAX_ELAPSED:  # NaN too: a sample from the future or from nowhere
        return CounterRates()
    rates: dict[str, float] = {}
    deltas: dict[str, int] = {}
    resets: list[str] = []
    for name, value in current.items():
        old = counters.get(name)
        if not isinstance(old, int) or isinstance(old, bool) or not 0 <= old < MAX_COUNTER:
            continue  # a value no kernel counter holds: that counter starts over
        if value < old:
            resets.append(name)
            continue
        deltas[name] = value - old
        rates[name] = (value - old) / elapsed
    return CounterRates(rates, deltas, tuple(resets), elapsed, first_run=False)


def counter_sample(current: Mapping[str, int], now: float) -> dict[str, object]:
    """The state to save for the next ``counter_rates``."""
    return {"time": now, "counters": dict(current)}
