"""Small helpers the host checks share: reading sysfs attributes and matching names.

sysfs files are one value each, and reading one may fail for reasons that say nothing about the
machine's health (``carrier`` of an interface that is down answers EINVAL). These helpers turn such
reads into ``None`` so a check can say "unknown" for that one value and carry on.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable

from stackwatch.core.host import Host, HostError


def read_attr(host: Host, path: str) -> str | None:
    """The stripped text of a sysfs attribute, or None where it is absent or unreadable."""
    try:
        text = host.read_optional(path)
    except HostError:
        return None
    return None if text is None else text.strip()


# What the kernel prints for an integer: ASCII digits, an optional sign, or 0x and hex digits.
# (Python's int() also takes other scripts' digits, "1_000" and " +5 ": the kernel never does.)
_DECIMAL = re.compile(r"[-+]?[0-9]+")
_HEX = re.compile(r"0[xX][0-9a-fA-F]+")
_TABLE_INT = re.compile(r"-?[0-9]+")  # /proc/net/snmp prints MaxConn as -1


def parse_int(text: str | None) -> int | None:
    """An integer from a sysfs or /proc value (decimal, or hexadecimal with 0x); None otherwise."""
    if text is None:
        return None
    value = text.strip()
    if _HEX.fullmatch(value):
        return int(value, 16)
    return int(value) if _DECIMAL.fullmatch(value) else None


def is_count(text: str) -> bool:
    """True where ``text`` is a plain non-negative integer as the kernel prints it."""
    return text.isascii() and text.isdigit()


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
                if _TABLE_INT.fullmatch(cell):
                    values[name] = int(cell)
            if values:
                sections.setdefault(prefix, {}).update(values)
            pending = None
        elif fields and all(parse_int(f) is None for f in fields):
            pending = (prefix, fields)
        else:
            pending = None
    return sections
