"""Counting requests by one field: which Referer, referring site, client, path, status or agent.

Raw field values are counted first (fastcount: a Counter over C-level matches, one process per
core for big files), and derived keys (the host
of a Referer, the path of a request line) are computed once per distinct value afterwards: two
million lines usually carry a few thousand distinct Referers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from stackwatch.core.host import Host
from stackwatch.core.record import dataclass
from stackwatch.weblog.fastcount import Tally, count_values, tally_values
from stackwatch.weblog.formats import LogFormat, parse_time, referrer_host, request_path, unescape
from stackwatch.weblog.reader import ScanStats

KEYS = ("referrer", "site", "ip", "path", "status", "agent", "vhost")
_SOURCE = {"site": "referrer", "path": "request"}


@dataclass(frozen=True)
class TopResult:
    by: str
    rows: list[tuple[str, int]]  # (key, count), most first
    total: int  # requests counted (after --since)
    stats: ScanStats


def _key_text(by: str, raw: bytes) -> str:
    if by == "site":
        return referrer_host(raw) or "-"
    if by == "path":
        return request_path(raw).decode("utf-8", errors="replace")
    return unescape(raw).decode("utf-8", errors="replace")


def count_by(
    paths: Iterable[str],
    fmt: LogFormat,
    by: str,
    *,
    since: float | None = None,
    limit: int | None = 20,
    host: Host | None = None,
) -> TopResult:
    """Count requests by ``by``; with ``since`` (epoch seconds) only requests at or after it.
    The logs are read through ``host`` (absolute machine paths, globs, "-" for stdin)."""
    if by not in KEYS:
        raise ValueError(f"cannot count by {by!r} (one of {', '.join(KEYS)})")
    source = _SOURCE.get(by, by)
    stats = ScanStats()
    tally = (
        tally_values(paths, fmt, (source,), stats, host)
        if since is None
        else _tally_since(paths, fmt, source, since, stats, host)
    )
    return top_of(tally, by, limit, stats)


def referrers_and_hosts(
    paths: Iterable[str], fmt: LogFormat, limit: int | None, host: Host | None = None
) -> tuple[TopResult, TopResult]:
    """The top Referers (``limit``) and every Referer host, from one read of the logs (what
    ``count_by`` gives for "referrer" and for "site", without reading them twice)."""
    stats = ScanStats()
    tally = tally_values(paths, fmt, ("referrer",), stats, host)
    return top_of(tally, "referrer", limit, stats), top_of(tally, "site", None, stats)


def top_of(tally: Tally, by: str, limit: int | None, stats: ScanStats) -> TopResult:
    """The rows of a top by ``by`` from the counts of its source field."""
    if by not in _SOURCE and tally.plain():
        # Values in ASCII without a backslash are their own text: two million client IPs
        # need not be made text one by one, nor merged into one Counter (the same rows, ties
        # in the same order).
        rows = [(v.decode(), n) for v, n in tally.most_common(limit)]
        return TopResult(by, rows, tally.total(), stats)
    raw = tally.counter()
    keyed: Counter[str] = Counter()
    for value, count in raw.items():
        keyed[_key_text(by, value)] += count
    return TopResult(by, keyed.most_common(limit), sum(raw.values()), stats)


def _tally_since(
    paths: Iterable[str], fmt: LogFormat, source: str, since: float, stats: ScanStats,
    host: Host | None,
) -> Tally:  # fmt: skip
    """The values of requests at or after ``since`` (epoch seconds)."""
    raw: Counter[bytes] = Counter()
    timed: Counter[tuple[bytes, bytes]] = count_values(paths, fmt, ("time", source), stats, host)
    for (when, value), count in timed.items():
        stamp = parse_time(when)
        if stamp is not None and stamp >= since:
            raw[value] += count
    tally = Tally()
    tally.add(raw)
    return tally
