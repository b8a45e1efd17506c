"""Referring sites as an operator thinks of them: Referer hosts grouped by registrable domain.

``www.best-free-movies.example`` and ``best-free-movies.example`` are one site; ``a.github.io``
and ``b.github.io`` are two (github.io is a public suffix: anyone can have a name under it). The
grouping follows the Public Suffix List shipped by the ``publicsuffixlist`` package (its own
snapshot of the list, no network access at run time; the package is refreshed with the list).

A host is grouped only when grouping cannot make a block broader than the hosts seen: an IP
address, a name with a single label, a public suffix itself (``co.uk``, ``github.io``) and
anything that is not a plain DNS name (rules.normalize_host refuses it) stay a group of their
own. Hosts come in as ``formats.referrer_host`` writes them: lower case, no port, no trailing
dot, a Unicode name in its punycode form, an IPv6 literal in brackets.

The list takes a while to load (about 0.05 s), so it is loaded once, on the first lookup.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable
from functools import cache, lru_cache
from typing import TYPE_CHECKING

from stackwatch.core.host import Host
from stackwatch.core.record import dataclass, field
from stackwatch.weblog.formats import LogFormat
from stackwatch.weblog.reader import ScanStats
from stackwatch.weblog.rules import UnsafeHost, normalize_host

if TYPE_CHECKING:
    from publicsuffixlist import PublicSuffixList

    from stackwatch.weblog.top import TopResult


@cache
def _suffix_list() -> PublicSuffixList:
    from publicsuffixlist import PublicSuffixList

    # The list's own spelling (Unicode) only: building the punycode twin of every rule would
    # triple the load time; hosts are looked up in Unicode instead (_unicode).
    return PublicSuffixList(accept_encoded_idn=False)


def _is_address(host: str) -> bool:
    if host.startswith("["):
        return True
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


@lru_cache(maxsize=1 << 16)  # hosts come from attackers: the cache stays bounded
def registrable_domain(host: str) -> str:
    """The site ``host`` belongs to: its registrable domain (one label under its public
    suffix), or the host itself when it has none or grouping it would be unsafe."""
    try:
        name = normalize_host(host)
    except UnsafeHost:
        return host
    if _is_address(name) or "." not in name:
        return name
    spelled = _unicode(name)
    if spelled is None:
        return name
    try:
        site = _suffix_list().privatesuffix(spelled)
    except (ValueError, UnicodeError):
        return name
    if not isinstance(site, str) or not spelled.endswith(site):
        return name
    labels = name.split(".")  # the site's labels, as the host (and the rules) spell them
    return ".".join(labels[len(labels) - site.count(".") - 1 :])


def _unicode(name: str) -> str | None:
    """The name with its punycode labels in Unicode, as the list spells its rules; None when
    a label does not decode into one label."""
    if "xn--" not in name:
        return name
    try:
        spelled = name.encode("ascii").decode("idna").lower()
    except UnicodeError:
        return None
    return spelled if spelled.count(".") == name.count(".") else None


@dataclass
class SiteGroup:
    """One referring site: its requests and the hosts they came from."""

    site: str
    count: int = 0
    hosts: Counter[str] = field(default_factory=Counter)

    def members(self, limit: int | None = None) -> list[tuple[str, int]]:
        return self.hosts.most_common(limit)


def group_hosts(counts: Iterable[tuple[str, int]]) -> list[SiteGroup]:
    """Host counts grouped by site, the busiest site first (ties by name)."""
    groups: dict[str, SiteGroup] = {}
    for host, count in counts:
        site = registrable_domain(host)
        group = groups.get(site)
        if group is None:
            group = groups[site] = SiteGroup(site)
        group.count += count
        group.hosts[host] += count
    return sorted(groups.values(), key=lambda g: (-g.count, g.site))


@dataclass(frozen=True)
class SiteTop:
    """Requests counted by referring site (``top --by referrer-site``)."""

    groups: list[SiteGroup]  # the busiest first, at most the limit
    total: int  # requests counted (after --since)
    stats: ScanStats


def count_sites(
    paths: Iterable[str],
    fmt: LogFormat,
    *,
    since: float | None = None,
    limit: int | None = 20,
    host: Host | None = None,
) -> SiteTop:
    """Requests by referring site, each with the Referer hosts inside it ("-": no Referer, or
    one that is not an http(s) URL)."""
    from stackwatch.weblog.top import count_by

    return sites_of(count_by(paths, fmt, "site", since=since, limit=None, host=host), limit)


def sites_of(hosts: TopResult, limit: int | None) -> SiteTop:
    """The sites of a top of every Referer host (``count_by(..., "site", limit=None)``)."""
    groups = group_hosts(hosts.rows)
    return SiteTop(groups[:limit] if limit is not None else groups, hosts.total, hosts.stats)
