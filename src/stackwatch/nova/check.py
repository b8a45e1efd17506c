"""The check ``nova-console``: the console URL of a canary per cell or availability zone, timed
(main figure, -w/-c in seconds: warning 10, critical 30 below Nova's rpc_response_timeout of
60 s, past which users get a 500), the proxy's acceptance of its token, the step that broke,
and latency percentiles over a window kept in state (state ``nova-console``).
"""

from __future__ import annotations

from typing import Any

from stackwatch.core.findings import Findings
from stackwatch.core.ranges import Range, parse_range
from stackwatch.core.record import dataclass, field
from stackwatch.core.registry import Check, CheckContext, NotApplicable
from stackwatch.core.result import Metric, Result, Status, judge_value
from stackwatch.nova.settings import NovaSettings

MAX_SAMPLES = 2000  # per zone: bounds the state file whatever the window and the run interval

HINTS = {
    "API": "nova-api (or Keystone in front of it) failed: look at nova-api's log and its load",
    "compute RPC": "nova-api could not reach the compute host over RPC: nova-compute on that "
    "host, the message queue, rpc_response_timeout",
    "console auth": "the proxy refused the token: the proxy and the compute must share the "
    "cell database where tokens are kept ([database] of the proxy, token_ttl, clocks)",
    "proxy": "the console proxy (nova-novncproxy) is not reachable or not answering "
    "WebSocket at the console URL: the proxy service, the load balancer, base_url",
}


SLOW = "the compute RPC is slow: the message queue, the compute host's load"


@dataclass(frozen=True)
class ConsoleOptions:
    warning: Range | None = field(default_factory=lambda: parse_range("10"))  # seconds
    critical: Range | None = field(default_factory=lambda: parse_range("30"))  # seconds


@dataclass(frozen=True)
class Latency:
    p50: float
    p95: float
    count: int


@dataclass(frozen=True)
class ConsoleFacts:
    probes: tuple[Any, ...]  # console.Probe
    latency: dict[str, Latency]  # per "cloud/zone", over the window


def zone_key(cloud: str, zone: str) -> str:
    return f"{cloud}/{zone}"


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))
    return ordered[int(rank) - 1]


def kept_samples(saved: Any, key: str, now: float, window: float) -> list[list[float]]:
    """The samples of one zone still inside the window; anything malformed is dropped."""
    if not isinstance(saved, dict) or not isinstance(saved.get(key), list):
        return []
    kept = []
    for item in saved[key]:
        if (
            isinstance(item, list)
            and len(item) == 2
            and all(isinstance(x, int | float) and not isinstance(x, bool) for x in item)
            and now - window <= item[0] <= now
            and 0 <= item[1] < 1e6
        ):
            kept.append([float(item[0]), float(item[1])])
    return kept[-MAX_SAMPLES:]


def update_latency(
    saved: Any, probes: list[Any], now: float, window: float
) -> tuple[dict[str, list[list[float]]], dict[str, Latency]]:
    """The state with this run's console timings added, and the percentiles per zone."""
    samples: dict[str, list[list[float]]] = {}
    for probe in probes:
        key = zone_key(probe.cloud, probe.zone)
        samples.setdefault(key, kept_samples(saved, key, now, window))
        if probe.seconds is not None:
            samples[key] = [*samples[key], [now, round(probe.seconds, 4)]][-MAX_SAMPLES:]
    latency = {
        key: Latency(
            percentile([s[1] for s in rows], 0.5), percentile([s[1] for s in rows], 0.95), len(rows)
        )
        for key, rows in samples.items()
        if rows
    }
    return samples, latency


def collect(ctx: CheckContext[ConsoleOptions]) -> ConsoleFacts:
    settings = ctx.settings if isinstance(ctx.settings, NovaSettings) else NovaSettings()
    if not settings.clouds:
        raise NotApplicable("no clouds to probe ([nova] clouds in the configuration)")
    from stackwatch.core.durations import parse_duration
    from stackwatch.nova.console import probe_cloud

    probes = [p for name in settings.clouds for p in probe_cloud(name, settings)]
    saved = ctx.state.load().get("samples")
    samples, latency = update_latency(saved, probes, ctx.now, parse_duration(settings.window))
    ctx.state.save({"samples": samples})
    return ConsoleFacts(tuple(probes), latency)


def _judge_probe(findings: Findings, probe: Any, options: ConsoleOptions) -> None:
    where = f"{probe.cloud} {probe.zone}" + (f" ({probe.server})" if probe.server else "")
    labels = {"cloud": probe.cloud, "zone": probe.zone}
    if probe.seconds is not None:
        findings.metrics.append(
            Metric(
                "console_seconds",
                round(probe.seconds, 3),
                "s",
                options.warning,
                options.critical,
                min=0,
                labels=labels,
            )
        )
    findings.metrics.append(Metric("console_ok", 0 if probe.step else 1, labels=labels))
    if probe.step is not None:
        status = Status.UNKNOWN if probe.unknown else Status.CRITICAL
        findings.problem(
            status, f"{where}: {probe.step} failed: {probe.error}", HINTS.get(probe.step)
        )
        return
    status = judge_value(probe.seconds, options.warning, options.critical)
    if status is not Status.OK:
        findings.problem(status, f"{where}: console URL took {probe.seconds:.1f} s", SLOW)
    proxy = f", proxy {probe.proxy_seconds:.2f} s" if probe.proxy_seconds is not None else ""
    findings.details.append(f"{where}: console URL {probe.seconds:.2f} s{proxy}")


def judge(facts: ConsoleFacts, options: ConsoleOptions) -> Result:
    findings = Findings()
    for probe in facts.probes:
        _judge_probe(findings, probe, options)
    for key, latency in sorted(facts.latency.items()):
        cloud, _, zone = key.partition("/")
        labels = {"cloud": cloud, "zone": zone}
        findings.metrics += [
            Metric("console_p50_seconds", round(latency.p50, 3), "s", min=0, labels=labels),
            Metric("console_p95_seconds", round(latency.p95, 3), "s", min=0, labels=labels),
        ]
        findings.details.append(
            f"{key}: p50 {latency.p50:.2f} s, p95 {latency.p95:.2f} s over {latency.count} probes"
        )
    ok = [p for p in facts.probes if p.step is None]
    slowest = max((p.seconds for p in ok if p.seconds is not None), default=0.0)
    return findings.result("nova-console", f"{len(ok)} console(s) OK, slowest {slowest:.2f} s")


CHECK = Check(
    "nova-console",
    "Nova console URL per cell/AZ: API, compute RPC, console auth and proxy, timed",
    collect,
    judge,
    ConsoleOptions,
)
