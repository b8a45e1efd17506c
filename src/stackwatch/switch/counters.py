"""Interface rates between two readings of a device, with no false spike after a reboot.

The counters of one device are compared with the sample saved on the previous run (core/rates).
What SNMP adds to the kernel counters' rules:

- sysUpTime went back: the agent (or the switch) restarted, every counter may have started
  over: no rate this run, only a note; the new sample is kept for the next run.
- ifCounterDiscontinuityTime changed for an interface (a line card reset, a counter cleared):
  that interface's rates are dropped for this run.
- A 32-bit counter (errors, discards) that went down while neither of the above happened has
  wrapped at 2**32: its rate is taken across the wrap. A 64-bit counter that went down was
  reset (cleared by hand): no rate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from stackwatch.core.rates import counter_rates, counter_sample
from stackwatch.core.record import dataclass, field
from stackwatch.switch.tables import COUNTER_KINDS, Interface
from stackwatch.switch.values import Kind

WRAP_32 = 1 << 32


@dataclass(frozen=True)
class PortRates:
    """Per ifIndex, counter name -> per second. Empty on a first run or after a restart."""

    rates: dict[int, dict[str, float]] = field(default_factory=dict)
    first_run: bool = True
    restarted: bool = False  # sysUpTime went back since the previous reading
    discontinuous: tuple[int, ...] = ()  # ifIndexes whose ifCounterDiscontinuityTime changed
    wrapped: tuple[str, ...] = ()  # "ifindex.counter" taken across a 32-bit wrap
    reset: tuple[str, ...] = ()  # "ifindex.counter" that went down with no wrap possible


def _flat(interfaces: Sequence[Interface]) -> dict[str, int]:
    return {f"{i.ifindex}.{name}": value for i in interfaces for name, value in i.counters.items()}


def port_sample(
    interfaces: Sequence[Interface], uptime: int | None, now: float
) -> dict[str, object]:
    """The state to save for the next ``port_rates``."""
    sample = counter_sample(_flat(interfaces), now)
    sample["uptime"] = uptime
    sample["discontinuity"] = {
        str(i.ifindex): i.discontinuity for i in interfaces if i.discontinuity is not None
    }
    return sample


def port_rates(
    previous: Mapping[str, object] | None,
    interfaces: Sequence[Interface],
    uptime: int | None,
    now: float,
) -> PortRates:
    """Rates since ``previous`` (saved by ``port_sample``), or why there are none."""
    if not previous:
        return PortRates()
    old_uptime = previous.get("uptime")
    if isinstance(old_uptime, int) and uptime is not None and uptime < old_uptime:
        return PortRates(first_run=False, restarted=True)
    current = _flat(interfaces)
    base = counter_rates(previous, current, now)
    if base.first_run:
        return PortRates()
    broken = _discontinuous(previous.get("discontinuity"), interfaces)
    rates: dict[int, dict[str, float]] = {}
    for key, rate in base.rates.items():
        _put(rates, key, rate, broken)
    wrapped, reset = _wraps(base.resets, previous, current, base.elapsed, broken, rates)
    return PortRates(rates, False, False, tuple(sorted(broken)), wrapped, reset)


def _put(rates: dict[int, dict[str, float]], key: str, rate: float, broken: set[int]) -> None:
    ifindex_text, _, name = key.partition(".")
    ifindex = int(ifindex_text)
    if ifindex not in broken:
        rates.setdefault(ifindex, {})[name] = rate


def _discontinuous(saved: object, interfaces: Sequence[Interface]) -> set[int]:
    if not isinstance(saved, dict):
        return set()
    return {
        i.ifindex
        for i in interfaces
        if i.discontinuity is not None
        and isinstance(saved.get(str(i.ifindex)), int)
        and saved[str(i.ifindex)] != i.discontinuity
    }


def _wraps(
    resets: Sequence[str],
    previous: Mapping[str, object],
    current: Mapping[str, int],
    elapsed: float,
    broken: set[int],
    rates: dict[int, dict[str, float]],
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Counters that went down: 32-bit ones wrapped (rate across the wrap), others reset."""
    counters = previous.get("counters")
    old_values = counters if isinstance(counters, dict) else {}
    wrapped, reset = [], []
    for key in resets:
        name = key.partition(".")[2]
        old = int(old_values[key])
        if (
            COUNTER_KINDS.get(name) is Kind.COUNTER32
            and old < WRAP_32
            and int(key.partition(".")[0]) not in broken
        ):
            delta = current[key] + WRAP_32 - old
            _put(rates, key, delta / elapsed, broken)
            wrapped.append(key)
        else:
            reset.append(key)
    return tuple(wrapped), tuple(reset)
