"""Measuring: iperf3 over the underlay and the overlay in alternated rounds, tracepath for each
path MTU, and the kernel's count of IP fragments created while the overlay was measured (a tunnel
whose packets no longer fit the underlay is fragmented by the sender: IpFragCreates grows).

The parsers are pure functions of the programs' output; ``measure`` runs them through the Host.
"""

from __future__ import annotations

import json
import math
import re
from statistics import median

from stackwatch.core.host import CommandFailed, Host, HostError
from stackwatch.core.record import dataclass

_PMTU = re.compile(r"pmtu (\d+)")
_NSTAT = re.compile(r"^IpFragCreates\s+(\d+)", re.MULTILINE)


class MeasureError(HostError):
    """A measurement that could not be made; the message says which and why."""


@dataclass(frozen=True)
class Plan:
    underlay: str
    overlay: str
    netns: str | None = None
    port: int = 5201
    rounds: int = 3
    seconds: int = 2


@dataclass(frozen=True)
class Measurement:
    plan: Plan
    underlay_bps: tuple[float, ...]
    overlay_bps: tuple[float, ...]
    underlay_pmtu: int | None
    overlay_pmtu: int | None
    fragments: int | None  # IP fragments created while measuring the overlay; None: unknown

    @property
    def underlay(self) -> float:
        return median(self.underlay_bps)

    @property
    def overlay(self) -> float:
        return median(self.overlay_bps)

    @property
    def ratio(self) -> float:
        """The overlay's share of the underlay's throughput, in per cent."""
        return 100.0 * self.overlay / self.underlay if self.underlay > 0 else 0.0


def parse_iperf3(text: str) -> float:
    """Bits per second received, from ``iperf3 -J``; MeasureError with iperf3's own error."""
    try:
        document = json.loads(text)
        error = document.get("error")
        if error:
            raise MeasureError(f"iperf3: {error}")
        value = float(document["end"]["sum_received"]["bits_per_second"])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise MeasureError("iperf3 printed no result") from None
    if not math.isfinite(value) or value < 0:
        raise MeasureError(f"iperf3 printed an impossible rate {value!r}")
    return value


def parse_tracepath(text: str) -> int | None:
    """The path MTU of tracepath's summary (``Resume: pmtu 1450 hops 1 back 1``)."""
    found = _PMTU.findall(text)
    return int(found[-1]) if found else None


def parse_nstat(text: str) -> int | None:
    found = _NSTAT.search(text)
    return int(found.group(1)) if found else None


def _in_netns(plan: Plan, argv: list[str]) -> list[str]:
    return ["ip", "netns", "exec", plan.netns, *argv] if plan.netns else argv


def _throughput(host: Host, plan: Plan, address: str) -> float:
    argv = ["iperf3", "-c", address, "-p", str(plan.port), "-t", str(plan.seconds), "-J"]
    try:
        result = host.run(_in_netns(plan, argv), timeout=plan.seconds + 15, check=False)
    except HostError as exc:
        raise MeasureError(f"iperf3 to {address}: {exc}") from None
    try:
        return parse_iperf3(result.stdout)
    except MeasureError as exc:
        raise MeasureError(f"to {address}: {exc}") from None


def _pmtu(host: Host, plan: Plan, address: str) -> int | None:
    argv = ["tracepath", "-n", "-m", "8", address]
    try:
        result = host.run(_in_netns(plan, argv), timeout=20, check=False)
    except HostError:
        return None
    return parse_tracepath(result.stdout)


def _fragments_created(host: Host, plan: Plan) -> int | None:
    try:
        result = host.run(_in_netns(plan, ["nstat", "-asz", "IpFragCreates"]), timeout=10)
    except (CommandFailed, HostError):
        return None
    return parse_nstat(result.stdout)


def measure(host: Host, plan: Plan) -> Measurement:
    """Alternated rounds (underlay, then overlay), so a change in load hits both alike."""
    underlay, overlay = [], []
    fragments: int | None = 0
    for _ in range(plan.rounds):
        underlay.append(_throughput(host, plan, plan.underlay))
        before = _fragments_created(host, plan)
        overlay.append(_throughput(host, plan, plan.overlay))
        after = _fragments_created(host, plan)
        if before is None or after is None or fragments is None:
            fragments = None
        else:
            fragments += max(0, after - before)
    return Measurement(
        plan,
        tuple(underlay),
        tuple(overlay),
        _pmtu(host, plan, plan.underlay),
        _pmtu(host, plan, plan.overlay),
        fragments,
    )
