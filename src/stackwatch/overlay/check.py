"""overlay-throughput: the overlay's share of the underlay's throughput, against thresholds, and
whether the overlay fragments (a tunnel MTU the underlay cannot carry after encapsulation)."""

from __future__ import annotations

from stackwatch.core.findings import Findings
from stackwatch.core.host import HostError
from stackwatch.core.ranges import Range, parse_range
from stackwatch.core.record import dataclass
from stackwatch.core.registry import Check, CheckContext, NotApplicable
from stackwatch.core.result import Metric, Result, Status, judge_value
from stackwatch.overlay.measure import MeasureError, Measurement, Plan, measure
from stackwatch.overlay.settings import OverlaySettings

VXLAN_OVERHEAD = 50  # outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8


@dataclass(frozen=True)
class OverlayOptions:
    warning: Range | None = parse_range("85:")  # overlay throughput, % of the underlay's
    critical: Range | None = parse_range("70:")  # overlay throughput that is critical, %
    fragments_warning: bool = True  # warn where the overlay's packets are fragmented


def plan_from(settings: OverlaySettings) -> Plan:
    if not settings.underlay or not settings.overlay:
        raise NotApplicable("no [overlay] underlay and overlay addresses configured")
    return Plan(
        settings.underlay,
        settings.overlay,
        settings.netns,
        settings.port,
        settings.rounds,
        settings.seconds,
    )


def collect(ctx: CheckContext[OverlayOptions]) -> Measurement:
    settings = ctx.settings if isinstance(ctx.settings, OverlaySettings) else OverlaySettings()
    try:
        return measure(ctx.host, plan_from(settings))
    except MeasureError:
        raise
    except HostError as exc:
        raise MeasureError(str(exc)) from None


def mbit(bps: float) -> str:
    return f"{bps / 1e6:.0f} Mbit/s"


def judge(facts: Measurement, options: OverlayOptions) -> Result:
    findings = Findings()
    status = judge_value(facts.ratio, options.warning, options.critical)
    if status is not Status.OK:
        findings.problem(
            status,
            f"the overlay carries {facts.ratio:.0f}% of the underlay's throughput "
            f"({mbit(facts.overlay)} against {mbit(facts.underlay)})",
            "look at the tunnel's MTU and offloads (checksum, GSO/GRO for UDP tunnels), or "
            "choose a cheaper encapsulation",
        )
    if facts.fragments and options.fragments_warning:
        findings.problem(Status.WARNING, _fragment_text(facts), _fragment_hint(facts))
    _metrics(findings, facts, options)
    findings.details.extend(_details(facts))
    return findings.result(
        "overlay-throughput",
        f"the overlay carries {facts.ratio:.0f}% of the underlay's throughput "
        f"({mbit(facts.overlay)} against {mbit(facts.underlay)}), no fragmentation",
    )


def _fragment_text(facts: Measurement) -> str:
    return (
        f"the overlay fragments: {facts.fragments} IP fragments created while measuring it "
        f"(overlay path MTU {facts.overlay_pmtu or '?'}, underlay {facts.underlay_pmtu or '?'}: "
        "the encapsulated packets no longer fit the underlay)"
    )


def _fragment_hint(facts: Measurement) -> str:
    if facts.underlay_pmtu:
        fit = facts.underlay_pmtu - VXLAN_OVERHEAD
        return (
            f"lower the overlay interface's MTU to {fit} (underlay {facts.underlay_pmtu} less "
            f"{VXLAN_OVERHEAD} for VXLAN over IPv4), or raise the underlay's MTU"
        )
    return "lower the overlay interface's MTU by the encapsulation's overhead"


def _metrics(findings: Findings, facts: Measurement, options: OverlayOptions) -> None:
    findings.metrics.extend(
        [
            Metric("ratio", round(facts.ratio, 1), "%", options.warning, options.critical, 0),
            Metric("underlay_bps", round(facts.underlay), "", min=0),
            Metric("overlay_bps", round(facts.overlay), "", min=0),
        ]
    )
    if facts.fragments is not None:
        findings.metrics.append(Metric("fragments", facts.fragments, "c", min=0))
    for name, value in (
        ("underlay_pmtu", facts.underlay_pmtu),
        ("overlay_pmtu", facts.overlay_pmtu),
    ):
        if value is not None:
            findings.metrics.append(Metric(name, value, "B", min=0))


def _details(facts: Measurement) -> list[str]:
    rounds = ", ".join(
        f"{mbit(u)} / {mbit(o)}" for u, o in zip(facts.underlay_bps, facts.overlay_bps, strict=True)
    )
    return [
        f"underlay {facts.plan.underlay}, overlay {facts.plan.overlay}"
        + (f", from namespace {facts.plan.netns}" if facts.plan.netns else ""),
        f"rounds of {facts.plan.seconds} s (underlay / overlay): {rounds}",
        f"path MTU: underlay {facts.underlay_pmtu or 'unknown'}, "
        f"overlay {facts.overlay_pmtu or 'unknown'}",
    ]


CHECK = Check(
    "overlay-throughput",
    "Overlay throughput as a share of the underlay's (iperf3), and fragmentation",
    collect,
    judge,
    OverlayOptions,
)
