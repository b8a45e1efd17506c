"""What the weblog commands print, apart from the facts they print: growth rows, top counts and
detected floods as text for a person or as JSON.

Referer hosts, paths, count keys and file names come from logs an attacker writes into: text
shows each through ``printable`` so that no control character or escape sequence reaches the
terminal (JSON escapes them itself), and the block command suggested by ``detect`` names only
hosts a rule accepts (plain names, IPv6 literals), each quoted for the shell; a host no rule can
name is listed apart, with the reason.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from stackwatch.core import record
from stackwatch.render.safe import printable

TYPE_CHECKING = False
if TYPE_CHECKING:  # (annotations only: `top` does not load detection to print its rows)
    from stackwatch.weblog.detect import Finding
    from stackwatch.weblog.growth import Growth
    from stackwatch.weblog.reader import ScanStats
    from stackwatch.weblog.sites import SiteGroup, SiteTop
    from stackwatch.weblog.top import TopResult

FORMATS = ("text", "json")


def when(stamp: float) -> str:
    """A UTC clock time as the commands print it."""
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _json(doc: object) -> str:
    return json.dumps(doc, indent=2) + "\n"


# growth ------------------------------------------------------------------------------------------


def growth_json(rows: Sequence[Growth]) -> str:
    return _json([record.asdict(r) for r in rows])


def growth_text(rows: Sequence[Growth]) -> str:
    out = [f"{'bytes/s':>12} {'lines/s':>10} {'size':>14}  log"]
    for r in rows:
        note = " (rotated)" if r.rotated else f" ({r.error})" if r.error else ""
        out.append(
            f"{r.bytes_per_s:12.0f} {r.lines_per_s:10.1f} {r.size:14d}  {printable(r.path)}{note}"
        )
    return "\n".join(out) + "\n"


# top ---------------------------------------------------------------------------------------------


def top_json(result: TopResult) -> str:
    return _json(
        {
            "by": result.by,
            "total": result.total,
            "lines": result.stats.lines,
            "skipped": result.stats.skipped,
            "rows": [{"key": k, "count": n} for k, n in result.rows],
        }
    )


def top_text(result: TopResult) -> str:
    total = result.total or 1
    out = [f"{'count':>10} {'share':>7}  {result.by}"]
    for key, count in result.rows:
        out.append(f"{count:10d} {100.0 * count / total:6.2f}%  {printable(key)}")
    out.append(f"{result.total} requests, {result.stats.skipped} unreadable lines skipped")
    return "\n".join(out) + "\n"


# top --by referrer-site ------------------------------------------------------------------------

HOSTS_SHOWN = 5  # hosts listed under each site in text


def sites_json(result: SiteTop) -> str:
    return _json(
        {
            "by": "referrer-site",
            "total": result.total,
            "lines": result.stats.lines,
            "skipped": result.stats.skipped,
            "rows": [_site_row(g) for g in result.groups],
        }
    )


def _site_row(group: SiteGroup) -> dict[str, object]:
    hosts = [{"key": h, "count": n} for h, n in group.members()]
    return {"key": group.site, "count": group.count, "hosts": hosts}


def sites_text(result: SiteTop) -> str:
    """Each site with its share, and under it its hosts (when it has more than itself)."""
    total = result.total or 1
    out = [f"{'count':>10} {'share':>7}  referrer-site (hosts inside)"]
    for g in result.groups:
        out.append(f"{g.count:10d} {100.0 * g.count / total:6.2f}%  {printable(g.site)}")
        if list(g.hosts) == [g.site]:
            continue
        out.extend(f"{n:10d} {'':7}    {printable(h)}" for h, n in g.members(HOSTS_SHOWN))
        if len(g.hosts) > HOSTS_SHOWN:
            out.append(f"{'':10} {'':7}    ... {len(g.hosts) - HOSTS_SHOWN} more hosts")
    out.append(f"{result.total} requests, {result.stats.skipped} unreadable lines skipped")
    return "\n".join(out) + "\n"


# detect ------------------------------------------------------------------------------------------


def detect_json(findings: Sequence[Finding], stats: ScanStats) -> str:
    return _json(
        {
            "lines": stats.lines,
            "skipped": stats.skipped,
            "late": stats.late,
            "findings": [f.as_dict() for f in findings],
        }
    )


def detect_text(findings: Sequence[Finding], stats: ScanStats) -> str:
    out: list[str] = []
    for f in findings:
        out.extend(_finding_lines(f))
    if not findings:
        out.append("no Referer flood found")
    out.append(f"{stats.lines} lines read, {stats.skipped} unreadable lines skipped")
    if stats.late:
        out.append(
            f"{stats.late} requests logged beyond the reorder horizon and a --window or more "
            "late (counted in its oldest second; minutes late: left out)"
        )
    out.extend(_block_lines([f.host for f in findings]))
    return "\n".join(out) + "\n"


def _block_lines(hosts: list[str]) -> list[str]:
    """The command that blocks the hosts a rule can name, and why each other one cannot be."""
    from stackwatch.weblog.rules import UnsafeHost, normalize_host

    blockable: list[str] = []
    out: list[str] = []
    for host in hosts:
        try:
            blockable.append(normalize_host(host))
        except UnsafeHost as exc:
            out.append(f"cannot block Referer site {printable(host)}: {printable(str(exc))}")
    if blockable:
        out.insert(0, f"block with: {printable(block_command(blockable))}")
    return out


def _finding_lines(f: Finding) -> list[str]:
    peak = f.as_dict()["peak_rate"]
    lines = [
        f"FLOOD Referer site {printable(f.host)}: {f.requests} requests, peak {peak} req/s, "
        f"{f.ips} client IPs, {when(f.first_seen)} .. {when(f.last_seen)} UTC"
    ]
    hosts = f.hosts.most_common(HOSTS_SHOWN)
    more = f" and {len(f.hosts) - HOSTS_SHOWN} more" if len(f.hosts) > HOSTS_SHOWN else ""
    lines.append("  hosts: " + ", ".join(f"{printable(h)} ({n})" for h, n in hosts) + more)
    lines.extend(f"    {n:8d}  {printable(path)}" for path, n in f.paths.most_common(3))
    return lines


def block_command(hosts: Iterable[str]) -> str:
    """The ``weblog rules`` command that blocks these hosts, each quoted for the shell."""
    names = sorted(set(hosts))
    flags = " ".join(f"--referrer-host {shlex.quote(h)}" for h in names)
    return f"stackwatch weblog rules {flags} --server apache"
