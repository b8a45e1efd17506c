"""``weblog detect --html FILE``: one self-contained HTML page about a log, for a person to open
and forward (the way GoAccess users read theirs): the floods found and the rules that block them,
the picture of requests per second, and the top Referers, referring sites (with their hosts),
client IPs, paths and status codes.

Self-contained: the picture is a ``data:`` URI, the style is inline, there is no script, and a
Content-Security-Policy forbids loading anything else, so the file shows the same wherever it is
opened. Every value that comes from the log (Referers, hosts, paths, agents an attacker writes)
is shown through ``printable`` (control characters spelled out) and then HTML-escaped, quotes
included: no log line can add markup to the page.

Facts (``gather``: the counts, a pass over the logs per table) apart from rendering (``page``).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from stackwatch.core.host import Host
from stackwatch.core.record import dataclass
from stackwatch.render.safe import printable
from stackwatch.weblog.detect import Finding
from stackwatch.weblog.formats import LogFormat
from stackwatch.weblog.reader import ScanStats
from stackwatch.weblog.rules import UnsafeHost, normalize_host, render_rules
from stackwatch.weblog.sites import SiteGroup, sites_of
from stackwatch.weblog.top import count_by, referrers_and_hosts

ROWS = 15  # rows of each table
TABLES = (("referrer", "Top Referers"), ("ip", "Top client IPs"), ("path", "Top paths"),
          ("status", "Status codes"))  # fmt: skip


@dataclass(frozen=True)
class LogSummary:
    """What the report shows besides the findings: each table's rows and the requests counted."""

    tables: list[tuple[str, list[tuple[str, int]]]]  # (heading, rows (key, count))
    sites: list[SiteGroup]
    total: int


def gather(paths: Sequence[str], fmt: LogFormat, host: Host | None = None) -> LogSummary:
    """The report's tables, counted over the logs (read again, through ``host``)."""
    referrers, hosts = referrers_and_hosts(paths, fmt, ROWS, host)  # one read for both
    tables = []
    for by, heading in TABLES:
        result = referrers if by == "referrer" else count_by(paths, fmt, by, limit=ROWS, host=host)
        tables.append((heading, result.rows))
    sites = sites_of(hosts, ROWS)
    return LogSummary(tables, sites.groups, sites.total)


def _text(value: object) -> str:
    """A value from the log as HTML text: control characters spelled out, markup escaped."""
    return html.escape(printable(str(value)), quote=True)


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


STYLE = """
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 2em; color: #222; max-width: 75em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0; } td, th { padding: 0.2em 0.8em; }
th { text-align: left; background: #eef2f7; } tr:nth-child(even) td { background: #f8f9fb; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
td.k { font-family: "DejaVu Sans Mono", monospace; overflow-wrap: anywhere; max-width: 50em; }
td.t { white-space: nowrap; }
.flood { color: #c0392b; font-weight: bold; } .ok { color: #1e8449; font-weight: bold; }
pre { background: #f4f4f4; padding: 0.8em; overflow-x: auto; }
img { max-width: 100%; border: 1px solid #ddd; } .hosts { color: #555; font-size: 0.9em; }
.grid { display: flex; flex-wrap: wrap; gap: 2em; }
"""
POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def page(
    title: str,
    findings: Sequence[Finding],
    stats: ScanStats,
    summary: LogSummary,
    image: bytes | None,
) -> str:
    """The whole HTML document."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">',
        f"<title>{_text(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{_text(title)}</h1>",
        _overview(findings, stats, summary),
        _findings(findings),
        _picture(image),
        *(_rules(f.host for f in findings) if findings else []),
        _sites(summary.sites, summary.total),
        '<div class="grid">',
        *(_table(heading, rows, summary.total) for heading, rows in summary.tables),
        "</div>",
        f"<p class=hosts>Written by stackwatch weblog detect at {_when(_now())} UTC.</p>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _now() -> float:
    return datetime.now(UTC).timestamp()


def _overview(findings: Sequence[Finding], stats: ScanStats, summary: LogSummary) -> str:
    files = ", ".join(_text(f) for f in stats.files) or "-"
    verdict = (
        f'<p class="flood">{len(findings)} Referer flood(s) found.</p>'
        if findings
        else '<p class="ok">No Referer flood found.</p>'
    )
    return (
        f"{verdict}<p>{stats.lines} lines read ({stats.skipped} unreadable), "
        f"{summary.total} requests counted, from {files}.</p>"
    )


def _findings(findings: Sequence[Finding]) -> str:
    if not findings:
        return ""
    rows = [
        "<h2>Floods</h2><table><tr><th>Referer site</th><th>hosts inside</th><th>requests</th>"
        "<th>peak req/s</th><th>client IPs</th><th>from (UTC)</th><th>to (UTC)</th>"
        "<th>top paths</th></tr>"
    ]
    rows.extend(_finding_row(f) for f in findings)
    rows.append("</table>")
    return "\n".join(rows)


def _finding_row(f: Finding) -> str:
    hosts = "<br>".join(f"{_text(h)} ({n})" for h, n in f.hosts.most_common(5))
    paths = "<br>".join(f"{_text(p)} ({n})" for p, n in f.paths.most_common(3))
    return (
        f'<tr><td class="k flood">{_text(f.host)}</td><td class="k hosts">{hosts}</td>'
        f'<td class="n">{f.requests}</td><td class="n">{f.peak_rate:.1f}</td>'
        f'<td class="n">{f.ips}</td><td class="t">{_when(f.first_seen)}</td>'
        f'<td class="t">{_when(f.last_seen)}</td>'
        f'<td class="k">{paths}</td></tr>'
    )


def _rules(sites: Iterable[str]) -> list[str]:
    """The suggested rules, one per site, and the sites no rule can name."""
    blockable: list[str] = []
    refused: list[str] = []
    for site in dict.fromkeys(sites):
        try:
            blockable.append(normalize_host(site))
        except UnsafeHost as exc:
            refused.append(f"<li>{_text(site)}: {_text(exc)}</li>")
    out = ["<h2>Suggested rules</h2>"]
    if blockable:
        out.append("<p>Apache (mod_rewrite), e.g. in conf-enabled/stackwatch-block.conf:</p>")
        out.append(f"<pre>{_text_block(render_rules(blockable, 'apache'))}</pre>")
        out.append("<p>nginx (in the http block; each server block returns 403 on it):</p>")
        out.append(f"<pre>{_text_block(render_rules(blockable, 'nginx'))}</pre>")
    if refused:
        out.append("<p>Not blockable by a rule:</p><ul>" + "".join(refused) + "</ul>")
    return out


def _text_block(text: str) -> str:
    return "\n".join(_text(line) for line in text.splitlines())


def _picture(image: bytes | None) -> str:
    if image is None:
        return ""
    data = base64.b64encode(image).decode("ascii")
    return (
        "<h2>Requests per second</h2>"
        f'<img alt="requests per second, floods marked" src="data:image/png;base64,{data}">'
    )


def _share(count: int, total: int) -> str:
    return f"{100.0 * count / total:.1f}%" if total else "-"


def _table(heading: str, rows: Sequence[tuple[str, int]], total: int) -> str:
    body = "".join(
        f'<tr><td class="n">{n}</td><td class="n">{_share(n, total)}</td>'
        f'<td class="k">{_text(key)}</td></tr>'
        for key, n in rows
    )
    return (
        f"<div><h2>{_text(heading)}</h2><table><tr><th>requests</th><th>share</th><th></th></tr>"
        f"{body}</table></div>"
    )


def _sites(groups: Sequence[SiteGroup], total: int) -> str:
    body = "".join(
        f'<tr><td class="n">{g.count}</td><td class="n">{_share(g.count, total)}</td>'
        f'<td class="k">{_text(g.site)}</td><td class="k hosts">{_hosts(g)}</td></tr>'
        for g in groups
    )
    return (
        "<h2>Referring sites</h2><table><tr><th>requests</th><th>share</th><th>site</th>"
        f"<th>hosts inside</th></tr>{body}</table>"
    )


def _hosts(group: SiteGroup) -> str:
    shown = ", ".join(f"{_text(h)} ({n})" for h, n in group.members(5))
    more = len(group.hosts) - 5
    return shown + (f" and {more} more" if more > 0 else "")
