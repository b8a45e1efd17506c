"""tcp-retransmits: the share of TCP segments sent again, and listen-queue overflows and drops.

Retransmissions are what a lossy path, a full switch buffer or a bad NIC look like from a host:
every connection slows down and nothing fails outright. Listen overflows mean a service accepts
connections more slowly than they arrive. The TCP buffer settings that caused famous slowdowns
(window scaling switched off, small tcp_rmem/tcp_wmem) are shown in the details.
"""

from __future__ import annotations

from stackwatch.checks.sysfs import is_count, parse_table_pairs, read_attr
from stackwatch.core.findings import Findings
from stackwatch.core.host import HostError
from stackwatch.core.ranges import Range, parse_range
from stackwatch.core.rates import counter_rates, counter_sample
from stackwatch.core.record import dataclass, field
from stackwatch.core.registry import Check, CheckContext, NotApplicable
from stackwatch.core.result import Metric, Result, Status, judge_value

SNMP = "/proc/net/snmp"
NETSTAT = "/proc/net/netstat"
SYSCTLS = {
    "tcp_window_scaling": "/proc/sys/net/ipv4/tcp_window_scaling",
    "tcp_rmem": "/proc/sys/net/ipv4/tcp_rmem",
    "tcp_wmem": "/proc/sys/net/ipv4/tcp_wmem",
    "tcp_congestion_control": "/proc/sys/net/ipv4/tcp_congestion_control",
}
# The listen-queue counters of /proc/net/netstat, and their names in metrics and summaries.
LISTEN_COUNTERS = {"ListenOverflows": "listen_overflows", "ListenDrops": "listen_drops"}

HINT_RETRANS = (
    "segments are being lost on the way: look for errors and drops on the links (stackwatch "
    "check links), a full switch buffer or a congested uplink; ss -ti shows which peers retransmit"
)
HINT_LISTEN = (
    "a service accepts connections more slowly than they arrive: find it with ss -ltn (Recv-Q "
    "near Send-Q), then raise its backlog and net.core.somaxconn, or give it more workers"
)


class TcpParseError(ValueError):
    pass


@dataclass(frozen=True)
class TcpCounters:
    out_segs: int
    retrans_segs: int
    listen_overflows: int | None = None
    listen_drops: int | None = None


@dataclass(frozen=True)
class TcpFacts:
    counters: TcpCounters
    deltas: dict[str, int] = field(default_factory=dict)
    rates: dict[str, float] = field(default_factory=dict)
    resets: tuple[str, ...] = ()
    first_run: bool = True
    elapsed: float = 0.0
    settings: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TcpOptions:
    warning: Range | None = parse_range("1")  # % of segments sent that were retransmitted
    critical: Range | None = parse_range("5")  # % retransmitted that is critical
    listen_warning: Range | None = parse_range("0")  # listen overflows or drops per second, each
    listen_critical: Range | None = None  # listen overflows or drops per second: critical
    min_segments: int = 1000  # fewer segments sent since the last run: the share is not judged


def parse_tcp_counters(snmp_text: str, netstat_text: str | None) -> TcpCounters:
    """OutSegs and RetransSegs from /proc/net/snmp, listen overflows and drops from netstat."""
    tcp = parse_table_pairs(snmp_text).get("Tcp", {})
    if "OutSegs" not in tcp or "RetransSegs" not in tcp:
        raise TcpParseError(f"{SNMP}: no Tcp OutSegs/RetransSegs")
    ext = parse_table_pairs(netstat_text).get("TcpExt", {}) if netstat_text else {}
    return TcpCounters(
        out_segs=tcp["OutSegs"],
        retrans_segs=tcp["RetransSegs"],
        listen_overflows=ext.get("ListenOverflows"),
        listen_drops=ext.get("ListenDrops"),
    )


def collect(ctx: CheckContext[TcpOptions]) -> TcpFacts:
    host = ctx.host
    snmp = host.read_optional(SNMP)
    if snmp is None:
        raise NotApplicable(f"no {SNMP} (no IPv4 in this kernel or /proc not mounted)")
    try:
        counters = parse_tcp_counters(snmp, host.read_optional(NETSTAT))
    except TcpParseError as exc:
        # The file is there but unreadable: UNKNOWN, never a SKIP (every IPv4 kernel counts TCP).
        raise HostError(str(exc)) from None
    current = {"OutSegs": counters.out_segs, "RetransSegs": counters.retrans_segs}
    if counters.listen_overflows is not None:
        current["ListenOverflows"] = counters.listen_overflows
    if counters.listen_drops is not None:
        current["ListenDrops"] = counters.listen_drops
    rates = counter_rates(ctx.state.load().get("counters"), current, ctx.now)
    ctx.state.save({"counters": counter_sample(current, ctx.now)})
    settings = {}
    for name, path in SYSCTLS.items():
        value = read_attr(host, path)
        if value is not None:
            settings[name] = " ".join(value.split())
    return TcpFacts(
        counters, rates.deltas, rates.rates, rates.resets, rates.first_run, rates.elapsed, settings
    )


def _settings_details(settings: dict[str, str]) -> list[str]:
    lines = []
    if settings:
        lines.append("TCP settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()))
    if settings.get("tcp_window_scaling") == "0":
        lines.append(
            "tcp_window_scaling is 0: each connection is capped at 64 KiB in flight, a fraction "
            "of a fast link over any distance (sysctl net.ipv4.tcp_window_scaling=1)"
        )
    for name in ("tcp_rmem", "tcp_wmem"):
        parts = settings.get(name, "").split()
        if len(parts) == 3 and is_count(parts[2]) and int(parts[2]) < 1 << 20:
            lines.append(
                f"{name} maximum is {parts[2]} bytes: below 1 MiB, long fat paths cannot fill the "
                "link"
            )
    return lines


def _segments_judged(facts: TcpFacts) -> tuple[int, int, str]:
    """Segments sent and sent again, and over which time: since the last run where both
    counters have a delta, else since boot."""
    deltas = facts.deltas
    if facts.first_run or "OutSegs" not in deltas or "RetransSegs" not in deltas:
        counters = facts.counters
        since = "since boot (first run)"
        if not facts.first_run:
            since = "since boot (counters reset since the last run)"
        return counters.out_segs, counters.retrans_segs, since
    return deltas["OutSegs"], deltas["RetransSegs"], f"in the last {facts.elapsed:.0f} s"


def _judge_share(found: Findings, facts: TcpFacts, options: TcpOptions) -> str:
    """The share of segments retransmitted, judged where enough were sent; the summary line."""
    sent, again, since = _segments_judged(facts)
    share = 100.0 * again / sent if sent > 0 else 0.0
    status = Status.OK
    if sent >= options.min_segments:
        status = judge_value(share, options.warning, options.critical)
    else:
        found.details.append(f"only {sent} segments sent {since}: the share is not judged")
    found.statuses.append(status)
    if status != Status.OK:
        found.hints.append(HINT_RETRANS)
    found.metrics.extend(
        [
            Metric(
                "retransmitted",
                round(share, 4),
                "%",
                warn=options.warning,
                crit=options.critical,
                min=0,
                max=100,
            ),
            Metric("out_segments_total", facts.counters.out_segs, "c", min=0),
            Metric("retransmitted_segments_total", facts.counters.retrans_segs, "c", min=0),
        ]
    )
    return f"{share:.3f}% of segments retransmitted {since} ({again} of {sent})"


def _judge_listen(found: Findings, facts: TcpFacts, options: TcpOptions) -> None:
    """Listen overflows and drops: their rate since the last run is judged. Without a rate (first
    run, counters reset) a total since boot is only shown: it may be months old."""
    for name, snake in LISTEN_COUNTERS.items():
        total: int | None = getattr(facts.counters, snake)
        if total is None:
            continue
        found.metrics.append(Metric(f"{snake}_total", total, "c", min=0))
        what = snake.replace("_", " ")
        if name not in facts.rates:
            if total:
                found.details.append(f"{total} {what} since boot")
            continue
        rate = facts.rates[name]
        found.metrics.append(Metric(f"{snake}_rate", round(rate, 4), "/s", min=0))
        status = judge_value(rate, options.listen_warning, options.listen_critical)
        if status != Status.OK:
            found.problem(status, f"{facts.deltas[name]} {what} ({rate:.2f}/s)", HINT_LISTEN)


def _run_notes(facts: TcpFacts) -> list[str]:
    notes = []
    if facts.first_run:
        notes.append("first run: the share is over the lifetime; rates from the next run on")
    if facts.resets:
        notes.append(
            "counters went down since the last run (reboot or namespace change): "
            + ", ".join(facts.resets)
        )
    return notes


def judge(facts: TcpFacts, options: TcpOptions) -> Result:
    found = Findings()
    share_line = _judge_share(found, facts, options)
    _judge_listen(found, facts, options)
    found.details.extend(_run_notes(facts))
    found.details.extend(_settings_details(facts.settings))
    return found.result_led_by("tcp-retransmits", share_line)


CHECK = Check(
    "tcp-retransmits",
    "share of TCP segments retransmitted, listen overflows and drops, TCP buffer settings",
    collect,
    judge,
    TcpOptions,
)
