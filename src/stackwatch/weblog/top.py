"""Counting requests by one field: which Referer, referring site, client, path, status or agent.

Raw field values are counted first (fastcount: a Counter over C-level matches, one process per
core for big files), and derived keys (the host
of a Referer, the path of a request line) are computed once per distinct value afterwards: two
million lines usually carry a few thousand distinct Referers.
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Iterable
from itertools import repeat

from stackwatch.core.host import Host
from stackwatch.core.record import dataclass
from stackwatch.weblog.fastcount import count_values
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
    if since is None:
        raw: Counter[bytes] = count_values(paths, fmt, (source,), stats, host)
    else:
        raw = Counter()
        timed: Counter[tuple[bytes, bytes]] = count_values(
            paths, fmt, ("time", source), stats, host
        )
        for (when, value), count in timed.items():
            stamp = parse_time(when)
            if stamp is not None and stamp >= since:
                raw[value] += count
    total = sum(raw.values())
    if by not in _SOURCE and _all_plain(raw):
        # Values in ASCII without a backslash are their own text: two million client IPs
        # need not be made text one by one (the same rows, ties in the same order).
        return TopResult(by, [(v.decode(), n) for v, n in raw.most_common(limit)], total, stats)
    keyed: Counter[str] = Counter()
    for value, count in raw.items():
        keyed[_key_text(by, value)] += count
    return TopResult(by, keyed.most_common(limit), total, stats)


def _all_plain(raw: Counter[bytes]) -> bool:
    """Every value in ASCII without a backslash (checked at C speed)."""
    return all(map(bytes.isascii, raw)) and not any(map(operator.contains, raw, repeat(b"\\")))
