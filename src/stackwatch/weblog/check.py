"""weblog-flood: CRITICAL while a Referer flood is under way in the configured access logs.

Each run reads the tail of every log (the last ``lookback`` seconds, at most ``max_bytes`` per
file), runs the same detector as ``stackwatch weblog detect``, and reports the referring hosts
whose flood was still going on in the last two windows.
"""

from __future__ import annotations

from stackwatch.core.host import Host, HostError
from stackwatch.core.record import dataclass, field
from stackwatch.core.registry import Check, CheckContext, NotApplicable
from stackwatch.core.result import Metric, Result, Status
from stackwatch.weblog.config import WeblogConfig
from stackwatch.weblog.detect import Detector, Driver, Finding, Parser
from stackwatch.weblog.formats import FormatError, LogFormat, get_format
from stackwatch.weblog.reader import ScanStats, order_rotated, rotated_name

HINT = (
    "block the referring site and its subdomains: stackwatch weblog rules --referrer-host SITE "
    "--server apache "
    "(or nginx), or leave stackwatch weblog follow --apply running to keep it blocked"
)


@dataclass(frozen=True)
class FloodOptions:
    logs: tuple[str, ...] = ()  # default: [weblog] logs
    sites: tuple[str, ...] = ()  # default: [weblog] sites
    lookback: float = 300.0  # seconds of log judged on each run
    max_bytes: int = 64 << 20  # read at most this much of the end of each log


@dataclass(frozen=True)
class ActiveFlood:
    host: str
    rate: float
    ips: int
    requests: int
    top_path: str
    log: str


@dataclass(frozen=True)
class FloodFacts:
    logs: tuple[str, ...]
    lines: int
    skipped: int
    floods: tuple[ActiveFlood, ...] = ()
    problems: tuple[str, ...] = field(default_factory=tuple)


def _tail(host: Host, path: str, max_bytes: int) -> bytes:
    """The whole lines among the last ``max_bytes`` of a log (read through the Host)."""
    data = host.read_tail(path, max_bytes + 1)
    if len(data) > max_bytes:  # data[0] is the byte before the tail: cut to the next line
        cut = data.find(b"\n")
        data = data[cut + 1 :] if cut >= 0 else b""
    return data


def _logs(host: Host, pattern: str) -> list[str]:
    """The live (not compressed) files a pattern names on the machine, rotated sets oldest
    first, as machine paths (a --root tree is looked into, not named)."""
    if not pattern.startswith("/"):
        raise HostError(f"[weblog] logs: {pattern!r} is not an absolute path")
    found = host.glob(pattern) or [pattern]
    return [
        f for f in order_rotated(found) if not rotated_name(f).compressed and host.exists(f)
        and not host.is_dir(f)
    ]  # fmt: skip


def _active_floods(
    host: Host, log: str, fmt: LogFormat, settings: WeblogConfig, ctx: CheckContext[FloodOptions]
) -> tuple[list[ActiveFlood], ScanStats]:
    """The end of one log judged on the detector's one schedule (the Driver), then at the
    clock's time; the floods still going on in the last two windows."""
    data = _tail(host, log, ctx.options.max_bytes)
    driver = Driver(Detector(ctx.options.sites or settings.sites, settings.detect))
    stats = ScanStats()
    driver.feed(Parser(fmt).records(data, stats))
    driver.judge(ctx.now)
    recent = max(ctx.now - ctx.options.lookback, ctx.now - 2 * driver.detector.window)
    floods = [
        _active(finding, log)
        for finding in driver.detector.all_findings()
        if finding.last_seen >= recent
    ]
    return floods, stats


def _active(finding: Finding, log: str) -> ActiveFlood:
    top = finding.paths.most_common(1)
    return ActiveFlood(
        finding.host, finding.peak_rate, finding.ips, finding.requests,
        top[0][0] if top else "-", log,
    )  # fmt: skip


def collect(ctx: CheckContext[FloodOptions]) -> FloodFacts:
    settings: WeblogConfig = ctx.settings
    try:
        fmt = get_format(settings.format)
    except FormatError as exc:
        raise HostError(str(exc)) from None
    patterns = ctx.options.logs or settings.logs
    if not patterns:
        raise NotApplicable("no web logs configured ([weblog] logs)")
    if not (ctx.options.sites or settings.sites):
        raise HostError("[weblog] sites is not set: the site's own hosts are needed")
    logs = [log for pattern in patterns for log in _logs(ctx.host, pattern)]
    if not logs:
        raise NotApplicable(f"no web log found ({', '.join(patterns)})")
    floods: list[ActiveFlood] = []
    problems: list[str] = []
    lines = skipped = 0
    for log in logs:
        try:
            found, stats = _active_floods(ctx.host, log, fmt, settings, ctx)
        except HostError as exc:
            problems.append(str(exc))
            continue
        floods.extend(found)
        lines += stats.lines
        skipped += stats.skipped
    return FloodFacts(tuple(logs), lines, skipped, tuple(floods), tuple(problems))


def judge(facts: FloodFacts, options: FloodOptions) -> Result:
    metrics = (
        Metric("floods", len(facts.floods), min=0),
        Metric("lines", facts.lines, "c", min=0),
        Metric("skipped_lines", facts.skipped, "c", min=0),
    )
    details = [
        f"{f.log}: Referer site {f.host} peak {f.rate:.1f} req/s, {f.requests} requests from "
        f"{f.ips} IPs, mostly {f.top_path}"
        for f in facts.floods
    ]
    details.extend(facts.problems)
    if facts.floods:
        hosts = sorted({f.host for f in facts.floods})
        worst = max(facts.floods, key=lambda f: f.rate)
        summary = (
            f"Referer flood from {', '.join(hosts)} ({worst.rate:.0f} req/s from {worst.ips} IPs "
            f"on {worst.top_path})"
        )
        return Result("weblog-flood", Status.CRITICAL, summary, metrics, tuple(details), HINT)
    if facts.problems:
        summary = f"cannot read {len(facts.problems)} of {len(facts.logs)} logs"
        return Result("weblog-flood", Status.UNKNOWN, summary, metrics, tuple(details))
    summary = (
        f"no Referer flood in the last {options.lookback:g} s of {len(facts.logs)} logs "
        f"({facts.lines} lines)"
    )
    return Result("weblog-flood", Status.OK, summary, metrics, tuple(details))


CHECK = Check(
    "weblog-flood",
    "Referer floods (hidden-iframe attacks) in the configured web access logs",
    collect,
    judge,
    FloodOptions,
)
