"""The alert report as text for a person and as JSON for a program.

Host and service names come from the log, that is from whoever named the hosts and the plugins:
text output shows them through render.safe.printable (no escape sequence reaches a terminal);
JSON escapes them itself.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as _string  # what json.dumps quotes with
from typing import Any

from stackwatch.nagios.alerts import AlertReport, ServiceRow
from stackwatch.render.safe import printable

INDENTED_ROWS = 2000  # above this, JSON is written compact: indenting takes Python's slow encoder


def to_json(report: AlertReport) -> str:
    if len(report.services) + len(report.hosts) <= INDENTED_ROWS:
        return json.dumps(json_data(report), indent=2) + "\n"
    return compact_json(report) + "\n"


def compact_json(report: AlertReport) -> str:
    """``json.dumps(json_data(report))`` byte for byte, its rows (tens of thousands) each
    written by one format string instead of a dict the encoder walks: a third of the time."""
    before, after = _head(report), _tail(report)
    services = ", ".join(map(_row_json, report.services))
    hosts = ", ".join(map(_row_json, report.hosts))
    return (
        f'{json.dumps(before)[:-1]}, "services": [{services}], "hosts": [{hosts}], '
        f"{json.dumps(after)[1:]}"
    )


def json_data(report: AlertReport) -> dict[str, Any]:
    return {
        **_head(report),
        "services": [_row(row) for row in report.services],
        "hosts": [_row(row) for row in report.hosts],
        **_tail(report),
    }


def _head(report: AlertReport) -> dict[str, Any]:
    """What the JSON holds before the rows."""
    return {
        "lines": report.lines,
        "malformed": report.malformed,
        "malformed_examples": [
            {"file": path, "line": number, "reason": reason}
            for path, number, reason in report.examples
        ],
        "cut_files": list(report.cut_files),
        "first": report.first if report.first >= 0 else None,
        "last": report.last if report.last >= 0 else None,
        "days": round(report.days, 4),
        "recovery_window_seconds": report.recovery_window,
    }


def _tail(report: AlertReport) -> dict[str, Any]:
    """What the JSON holds after the rows."""
    return {
        "by_service": [{"service": name, "alerts": n} for name, n in report.by_service],
        "by_hour_utc": list(report.by_hour),
        "by_day": [{"day": day, "alerts": n} for day, n in report.by_day],
        "by_cell": [{"cell": name, "alerts": n} for name, n in report.by_cell],
        "by_hostgroup": [{"hostgroup": name, "alerts": n} for name, n in report.by_hostgroup],
    }


_ROW_COUNTS = (
    '"alerts": %d, "hard": %d, "soft": %d, "notifications": %d, "flapping": %d, "problems": %d, '
    '"recovered_soon": %d, "recovered_share": %r, "per_day": %r, "states": {%s}}'
)


def _row_json(row: ServiceRow) -> str:
    """``json.dumps(_row(row))``: names escaped by json's own encoder; the states' names are
    Nagios's, plain ASCII words."""
    name = (
        f'{{"host": {_string(row.host)}, "service": {_string(row.service)}, '
        if row.service
        else f'{{"host": {_string(row.host)}, '
    )
    states = ", ".join([f'"{state}": {n}' for state, n in row.states.items()])
    return name + _ROW_COUNTS % (
        row.alerts, row.hard, row.soft, row.notifications, row.flapping, row.problems,
        row.recovered_soon, round(row.recovered_share, 4), round(row.per_day, 3), states,
    )  # fmt: skip


def _row(row: ServiceRow) -> dict[str, Any]:
    """One row, its keys in the order of ServiceRow (COUNTED); a host's without "service"."""
    named = {"host": row.host, "service": row.service} if row.service else {"host": row.host}
    return {
        **named,
        "alerts": row.alerts,
        "hard": row.hard,
        "soft": row.soft,
        "notifications": row.notifications,
        "flapping": row.flapping,
        "problems": row.problems,
        "recovered_soon": row.recovered_soon,
        "recovered_share": round(row.recovered_share, 4),
        "per_day": round(row.per_day, 3),
        "states": dict(row.states),
    }


def to_text(report: AlertReport, limit: int = 20) -> str:
    out = [_summary(report)]
    out += _malformed(report)
    minutes = report.recovery_window / 60
    out.append("")
    out.append(
        f"chattiest services (recovered: share of problems over by themselves within "
        f"{minutes:g} min, nobody acknowledging: threshold candidates)"
    )
    out += _table(report.services[:limit], service=True)
    if report.hosts:
        out += ["", "hosts"]
        out += _table(report.hosts[:limit], service=False)
    out += ["", "what: alerts by service"]
    out += _ranking(report.by_service, limit)
    out += ["", "when: alerts by hour of the day (UTC)"]
    out += _hours(report.by_hour)
    out += ["", "when: alerts by day"]
    out += _ranking(report.by_day[-limit:], limit, ranked=False)
    for title, counts in (("cell", report.by_cell), ("host group", report.by_hostgroup)):
        if counts:
            out += ["", f"where: alerts by {title}"]
            out += _ranking(counts, limit)
    return "\n".join(out) + "\n"


def _summary(report: AlertReport) -> str:
    alerts = sum(row.alerts for row in report.services) + sum(r.alerts for r in report.hosts)
    span = ""
    if report.first >= 0:
        span = f", {_when(report.first)} to {_when(report.last)} UTC ({report.days:.1f} days)"
    return f"{report.lines} lines, {alerts} alerts{span}"


def _malformed(report: AlertReport) -> list[str]:
    out = []
    if report.malformed:
        out.append(f"{report.malformed} malformed lines skipped, for example:")
        out += [f"  {printable(p)}:{n}: {printable(r)}" for p, n, r in report.examples[:3]]
    out += [f"{printable(path)}: compressed archive ends early" for path in report.cut_files]
    return out


def _table(rows: Sequence[ServiceRow], service: bool) -> list[str]:
    head = f"{'alerts':>7} {'/day':>7} {'hard':>6} {'soft':>6} {'notif':>6} {'flap':>5} "
    head += f"{'problems':>8} {'recovered':>9}  host" + ("  service" if service else "")
    out = [head]
    for row in rows:
        name = printable(row.host) + (f"  {printable(row.service)}" if service else "")
        out.append(
            f"{row.alerts:7d} {row.per_day:7.1f} {row.hard:6d} {row.soft:6d} "
            f"{row.notifications:6d} {row.flapping:5d} {row.problems:8d} "
            f"{row.recovered_share:9.0%}  {name}"
        )
    return out


def _ranking(counts: Sequence[tuple[str, int]], limit: int, ranked: bool = True) -> list[str]:
    total = sum(n for _, n in counts) or 1
    rows = counts[:limit] if ranked else counts
    return [f"{n:9d} {n / total:6.1%}  {printable(name)}" for name, n in rows]


def _hours(by_hour: Sequence[int]) -> list[str]:
    peak = max(by_hour, default=0) or 1
    return [
        f"  {h:02d}h {n:9d} {'#' * round(40 * n / peak)}".rstrip() for h, n in enumerate(by_hour)
    ]


def _when(stamp: int) -> str:
    try:
        return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M")
    except (OverflowError, OSError, ValueError):
        return str(stamp)
