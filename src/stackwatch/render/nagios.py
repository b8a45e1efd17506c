"""The Nagios plugin protocol: one status line with perfdata, then long output lines.

One check::

    CONNTRACK CRITICAL - 60000 of 65536 entries (91.6%) | 'entries'=60000;49152;58982;0;65536
    details...

Several checks: a first line with the worst status and the counts, then one line per check; the
perfdata labels carry the check name as a prefix.
"""

from __future__ import annotations

from collections.abc import Sequence

from stackwatch.core.ranges import Range
from stackwatch.core.result import Metric, Result, overall_status
from stackwatch.render.safe import nagios_label, nagios_text

# Units of measure the plugin guidelines allow in perfdata; anything else is left out.
PERFDATA_UNITS = {"s", "ms", "us", "%", "B", "KB", "MB", "GB", "TB", "c"}


def _number(value: float | None) -> str:
    if value is None:
        return ""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def _range(value: Range | None) -> str:
    return "" if value is None else str(value)


def _clean(text: str) -> str:
    # "|" starts perfdata and newlines end the status line: neither may appear inside text.
    return nagios_text(text.replace("\n", " ").replace("\r", " "))


def perfdata_item(metric: Metric, prefix: str = "") -> str:
    label = nagios_label(f"{prefix}{metric.label}")
    unit = metric.unit if metric.unit in PERFDATA_UNITS else ""
    fields = [
        f"{_number(metric.value)}{unit}",
        _range(metric.warn),
        _range(metric.crit),
        _number(metric.min),
        _number(metric.max),
    ]
    while len(fields) > 1 and fields[-1] == "":
        fields.pop()
    return f"'{label}'=" + ";".join(fields)


def _status_line(result: Result) -> str:
    return f"{_clean(result.check.upper())} {result.status_text} - {_clean(result.summary)}"


def _long_output(result: Result, indent: str = "") -> list[str]:
    lines = [f"{indent}{_clean(d)}" for d in result.details]
    if result.hint and not result.skipped and result.status != 0:
        lines.append(f"{indent}hint: {_clean(result.hint)}")
    return lines


def render_nagios(results: Sequence[Result]) -> str:
    if len(results) == 1:
        result = results[0]
        line = _status_line(result)
        perf = " ".join(perfdata_item(m) for m in result.metrics)
        if perf:
            line += f" | {perf}"
        return "\n".join([line, *_long_output(result)]) + "\n"
    status = overall_status(results)
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status_text] = counts.get(result.status_text, 0) + 1
    order = ["CRITICAL", "UNKNOWN", "WARNING", "OK", "SKIP"]
    summary = ", ".join(f"{counts[k]} {k.lower()}" for k in order if k in counts)
    perf = " ".join(
        perfdata_item(m, f"{r.check}_") for r in results if not r.skipped for m in r.metrics
    )
    lines = [f"STACKWATCH {status.name} - {len(results)} checks: {summary}"]
    if perf:
        lines[0] += f" | {perf}"
    for result in results:
        lines.append(_status_line(result))
        if not result.skipped and result.status != 0:
            lines.extend(_long_output(result, "  "))
    return "\n".join(lines) + "\n"
