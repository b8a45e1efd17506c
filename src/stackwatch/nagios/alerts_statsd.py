"""The what/when/where of the alerts as StatsD counters, many per datagram (at most 1432 bytes,
render.statsd packs them).

    PREFIX.service.SERVICE.alerts / .hard / .soft / .notifications / .flapping   (what)
    PREFIX.hour.HH.alerts                                                         (when, UTC)
    PREFIX.host.HOST.alerts   PREFIX.cell.CELL.alerts   PREFIX.hostgroup.GROUP.alerts  (where)
    PREFIX.lines   PREFIX.malformed

Names from the log are made safe for Graphite (one path element each: dots and anything outside
letters, digits, ``_`` and ``-`` become ``_``).
"""

from __future__ import annotations

import re

from stackwatch.nagios.alerts import COUNTED, AlertReport
from stackwatch.render.statsd import StatsdError, send_lines

_INVALID = re.compile(r"[^A-Za-z0-9_-]")
SENT = COUNTED[:5]  # per service: alerts, hard, soft, notifications, flapping

__all__ = ["StatsdError", "send_counters", "statsd_lines"]


def part(text: str) -> str:
    return _INVALID.sub("_", text)[:200] or "_"


def statsd_lines(report: AlertReport, prefix: str) -> list[str]:
    lines = [f"{prefix}.lines:{report.lines}|c", f"{prefix}.malformed:{report.malformed}|c"]
    per_service: dict[str, list[int]] = {}
    for row in report.services:
        sums = per_service.setdefault(row.service, [0] * len(SENT))
        for i, label in enumerate(SENT):
            sums[i] += getattr(row, label)
    for service, sums in sorted(per_service.items()):
        name = f"{prefix}.service.{part(service)}"
        lines += [f"{name}.{label}:{n}|c" for label, n in zip(SENT, sums, strict=True) if n]
    lines += [f"{prefix}.hour.{h:02d}.alerts:{n}|c" for h, n in enumerate(report.by_hour) if n]
    lines += _where(prefix, "host", _host_alerts(report))
    lines += _where(prefix, "cell", report.by_cell)
    lines += _where(prefix, "hostgroup", report.by_hostgroup)
    return lines


def _host_alerts(report: AlertReport) -> list[tuple[str, int]]:
    totals: dict[str, int] = {}
    for row in (*report.services, *report.hosts):
        totals[row.host] = totals.get(row.host, 0) + row.alerts
    return sorted(totals.items())


def _where(
    prefix: str, kind: str, counts: list[tuple[str, int]] | tuple[tuple[str, int], ...]
) -> list[str]:
    return [f"{prefix}.{kind}.{part(name)}.alerts:{n}|c" for name, n in counts if n]


def send_counters(report: AlertReport, address: str, prefix: str, timeout: float = 5.0) -> int:
    """Send every counter; returns the number of datagrams."""
    return send_lines(statsd_lines(report, prefix), address, timeout)
