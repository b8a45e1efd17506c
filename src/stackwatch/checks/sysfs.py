"""Small helpers the host checks share: reading sysfs attributes and matching names.

sysfs files are one value each, and reading one may fail for reasons that say nothing about the
machine's health (``carrier`` of an interface that is down answers EINVAL). These helpers turn such
reads into ``None`` so a check can say "unknown" for that one value and carry on.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

from stackwatch.core.host import Host, HostError


def read_attr(host: Host, path: str) -> str | None:
    """The stripped text of a sysfs attribute, or None where it is absent or unreadable."""
    try:
        text = host.read_optional(path)
    except HostError:
        return None
    return None if text is None else text.strip()


def parse_int(text: str | None) -> int | None:
    """An integer from a sysfs or /proc value (decimal, or hexadecimal with 0x); None otherwise."""
    if text is None:
        return None
    value = text.strip()
    try:
        return int(value, 16) if value.lower().startswith("0x") else int(value)
    except ValueError:
        return None


def read_int_attr(host: Host, path: str) -> int | None:
    return parse_int(read_attr(host, path))


def matches_any(name: str, patterns: Iterable[str]) -> bool:
    """True where ``name`` matches one of the shell-style patterns (``vnet*``, ``eth[01]``)."""
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def parse_table_pairs(text: str) -> dict[str, dict[str, int]]:
    """Parse the header/value line pairs of /proc/net/snmp and /proc/net/netstat.

    Each section is two lines, ``Tcp: Name1 Name2`` then ``Tcp: 1 2``. Pairs whose lengths do not
    agree, or values that are not integers, are skipped: a partial table is still useful.
    """
    sections: dict[str, dict[str, int]] = {}
    pending: tuple[str, list[str]] | None = None
    for line in text.splitlines():
        prefix, sep, rest = line.partition(":")
        if not sep or not prefix or " " in prefix:
            pending = None
            continue
        fields = rest.split()
        if pending is not None and pending[0] == prefix and len(pending[1]) == len(fields):
            values: dict[str, int] = {}
            for name, cell in zip(pending[1], fields, strict=True):
                try:
                    values[name] = int(cell)
                except ValueError:
                    continue
            if values:
                sections.setdefault(prefix, {}).update(values)
            pending = None
        elif fields and all(not f.lstrip("-").isdigit() for f in fields):
            pending = (prefix, fields)
        else:
            pending = None
    return sections
