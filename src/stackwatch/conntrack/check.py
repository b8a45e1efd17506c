"""conntrack: the connection-tracking table of this host and of its network namespaces.

A full table drops new connections ("nf_conntrack: table full, dropping packet") while every
service still looks up. Each network namespace (OpenStack qrouter-/qdhcp-) counts its own entries
against the one global limit, so the fullest namespace matters as much as the host.
"""

from __future__ import annotations

import math
import re

from stackwatch.core.findings import Findings
from stackwatch.core.host import Host, HostError, NamespaceAccessDenied
from stackwatch.core.ranges import Range, parse_range
from stackwatch.core.rates import counter_rates, counter_sample
from stackwatch.core.record import dataclass, field
from stackwatch.core.registry import Check, CheckContext, NotApplicable
from stackwatch.core.result import Metric, Result, Status, judge_value

COUNT_PATH = "/proc/sys/net/netfilter/nf_conntrack_count"
MAX_PATH = "/proc/sys/net/netfilter/nf_conntrack_max"
STAT_PATH = "/proc/net/stat/nf_conntrack"
DROP_COUNTERS = ("insert_failed", "drop", "early_drop")
_HEX_CELL = re.compile(r"[0-9a-fA-F]+")  # int(x, 16) alone would take "1_0" and other scripts

HINT = (
    "raise both net.netfilter.nf_conntrack_max and net.nf_conntrack_max to the sum of "
    "connections expected from the guests (stackwatch conntrack plan --connections N writes the "
    "sysctl.d file), or find what opens so many connections"
)


class ConntrackParseError(HostError, ValueError):
    """A table file that is there but cannot be read: the check's UNKNOWN, with this reason."""


@dataclass(frozen=True)
class NamespaceCount:
    name: str
    entries: int


@dataclass(frozen=True)
class ConntrackFacts:
    entries: int
    limit: int
    drops: dict[str, int] | None  # summed over CPUs; None where the kernel lacks the stat file
    drop_rates: dict[str, float] = field(default_factory=dict)
    drop_resets: tuple[str, ...] = ()
    first_run: bool = True
    namespaces: tuple[NamespaceCount, ...] = ()
    namespace_problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConntrackOptions:
    warning: Range | None = parse_range("75")  # table use, % of the limit (host or a namespace)
    critical: Range | None = parse_range("90")  # table use that is critical, % of the limit
    drop_rate_warning: Range | None = parse_range("0")  # connections dropped per second
    drop_rate_critical: Range | None = None  # connections dropped per second that is critical
    namespaces: bool = True  # count each network namespace's table too (needs root)
    top_namespaces: int = 5  # how many of the fullest namespaces the details list


def parse_count(text: str, what: str) -> int:
    """A number from a /proc/sys file."""
    value = text.strip()
    if not (value.isascii() and value.isdigit()):
        raise ConntrackParseError(f"{what}: expected a non-negative integer, found {value[:40]!r}")
    return int(value)


def parse_nf_conntrack_stat(text: str) -> dict[str, int]:
    """Sum /proc/net/stat/nf_conntrack over its per-CPU rows.

    The file is a header of column names, then one row of hexadecimal counters per CPU. Every
    column is summed except ``entries``, which is the global table size repeated on each row.
    """
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if not lines:
        raise ConntrackParseError("nf_conntrack stat: empty")
    header = lines[0]
    if not header or not all(name.replace("_", "").isalnum() for name in header):
        raise ConntrackParseError("nf_conntrack stat: no header of column names")
    if len(lines) < 2:
        raise ConntrackParseError("nf_conntrack stat: no CPU rows")
    totals = dict.fromkeys(header, 0)
    for number, row in enumerate(lines[1:], start=2):
        if len(row) != len(header):
            raise ConntrackParseError(
                f"nf_conntrack stat: line {number} has {len(row)} fields, header {len(header)}"
            )
        for name, cell in zip(header, row, strict=True):
            if not _HEX_CELL.fullmatch(cell):
                raise ConntrackParseError(
                    f"nf_conntrack stat: line {number}: {cell[:20]!r} is not hexadecimal"
                )
            value = int(cell, 16)
            if name == "entries":
                totals[name] = value
            else:
                totals[name] += value
    return totals


def _read_count(host: Host) -> int:
    return parse_count(host.read_text(COUNT_PATH), COUNT_PATH)


def _count_namespaces(host: Host) -> tuple[list[NamespaceCount], list[str]]:
    """The entries of each network namespace, and why any could not be counted."""
    namespaces: list[NamespaceCount] = []
    problems: list[str] = []
    for name in host.netns_names():
        try:
            namespaces.append(NamespaceCount(name, host.in_netns(name, _read_count)))
        except NamespaceAccessDenied as exc:
            problems.append(f"namespaces not counted: {exc}")
            break  # not root: every other namespace would fail the same way
        except (HostError, ConntrackParseError) as exc:
            problems.append(f"namespace {name}: {exc}")
    return namespaces, problems


def collect(ctx: CheckContext[ConntrackOptions]) -> ConntrackFacts:
    host = ctx.host
    count_text = host.read_optional(COUNT_PATH)
    max_text = host.read_optional(MAX_PATH)
    if count_text is None or max_text is None:
        raise NotApplicable("no connection tracking here (nf_conntrack module not loaded)")
    entries = parse_count(count_text, COUNT_PATH)
    limit = parse_count(max_text, MAX_PATH)

    drops = None
    stat_text = host.read_optional(STAT_PATH)
    if stat_text is not None:
        totals = parse_nf_conntrack_stat(stat_text)
        drops = {name: totals[name] for name in DROP_COUNTERS if name in totals}

    rates = None
    if drops is not None:
        rates = counter_rates(ctx.state.load().get("drops"), drops, ctx.now)
        ctx.state.save({"drops": counter_sample(drops, ctx.now)})

    namespaces, problems = _count_namespaces(host) if ctx.options.namespaces else ([], [])
    return ConntrackFacts(
        entries=entries,
        limit=limit,
        drops=drops,
        drop_rates=rates.rates if rates else {},
        drop_resets=rates.resets if rates else (),
        first_run=rates.first_run if rates else True,
        namespaces=tuple(namespaces),
        namespace_problems=tuple(problems),
    )


def _percent(entries: int, limit: int) -> float:
    return 100.0 * entries / limit if limit > 0 else math.inf if entries else 0.0


def _table_metrics(facts: ConntrackFacts, options: ConntrackOptions, used: float) -> list[Metric]:
    """Entries against the limit, as a count (thresholds scaled to entries) and as a share."""
    to_entries = facts.limit / 100.0
    return [
        Metric(
            "entries",
            facts.entries,
            warn=options.warning.scaled(to_entries, whole=True) if options.warning else None,
            crit=options.critical.scaled(to_entries, whole=True) if options.critical else None,
            min=0,
            max=facts.limit,
        ),
        Metric(
            "used",
            round(used, 2),
            "%",
            warn=options.warning,
            crit=options.critical,
            min=0,
            max=100,
        ),
    ]


def _report_namespaces(found: Findings, facts: ConntrackFacts, options: ConntrackOptions) -> None:
    """The fullest namespaces in the details; every namespace's entries as a metric."""
    ranked = sorted(facts.namespaces, key=lambda n: (-n.entries, n.name))
    found.details.append(f"{len(facts.namespaces)} network namespaces counted")
    for ns in ranked[: options.top_namespaces]:
        found.details.append(
            f"namespace {ns.name}: {ns.entries} entries ({_percent(ns.entries, facts.limit):.1f}%)"
        )
    for ns in ranked:
        found.metrics.append(
            Metric("entries", ns.entries, min=0, max=facts.limit, labels={"netns": ns.name})
        )
    found.metrics.append(Metric("namespaces", len(facts.namespaces)))


def _judge_table(found: Findings, facts: ConntrackFacts, options: ConntrackOptions) -> str:
    """The table's use on the host and in its fullest namespace (each namespace counts against
    the one global limit); the line the summary opens with."""
    host_pct = _percent(facts.entries, facts.limit)
    fullest = max(facts.namespaces, key=lambda n: n.entries, default=None)
    fullest_pct = _percent(fullest.entries, facts.limit) if fullest else 0.0
    status = judge_value(max(host_pct, fullest_pct), options.warning, options.critical)
    found.statuses.append(status)
    if status != Status.OK:
        found.hints.append(HINT)
    found.metrics.extend(_table_metrics(facts, options, host_pct))
    line = f"{facts.entries} of {facts.limit} entries ({host_pct:.1f}%)"
    if fullest is not None:
        if fullest_pct > host_pct:
            line += f"; fullest namespace {fullest.name} {fullest.entries} ({fullest_pct:.1f}%)"
        _report_namespaces(found, facts, options)
    found.details.extend(facts.namespace_problems)
    return line


def _judge_drops(
    found: Findings, drops: dict[str, int], facts: ConntrackFacts, options: ConntrackOptions
) -> None:
    """Connections dropped per second since the last run (a full table drops new ones)."""
    for name, value in drops.items():
        found.metrics.append(Metric(f"{name}_total", value, "c", min=0))
    if facts.first_run:
        found.details.append("drop rates: first run, rates are reported from the next run on")
    for name, rate in facts.drop_rates.items():
        found.metrics.append(Metric(f"{name}_rate", round(rate, 4), "/s", min=0))
    if facts.drop_rates:
        lost = sum(facts.drop_rates.get(n, 0.0) for n in ("drop", "early_drop"))
        status = judge_value(lost, options.drop_rate_warning, options.drop_rate_critical)
        if status != Status.OK:
            found.problem(status, f"dropping {lost:.2f} connections/s", HINT)
    if facts.drop_resets:
        found.details.append(
            "counters reset since the last run (reboot or module reload): "
            + ", ".join(facts.drop_resets)
        )


def judge(facts: ConntrackFacts, options: ConntrackOptions) -> Result:
    found = Findings()
    table_line = _judge_table(found, facts, options)
    if facts.drops is None:
        found.details.append("drop counters: this kernel has no /proc/net/stat/nf_conntrack")
    else:
        _judge_drops(found, facts.drops, facts, options)
    return found.result_led_by("conntrack", table_line)


CHECK = Check(
    "conntrack",
    "connection-tracking table use, drops and the fullest network namespaces",
    collect,
    judge,
    ConntrackOptions,
)
