"""What an SNMP agent answered, independent of the library that asked: typed values by OID.

The client (client.py) turns each reply into a ``Value``; the table decoders (tables.py) read
columns of ``Value`` and check each one's type, so that a wrong type from a hostile or broken
agent is a clear ``DecodeError`` naming the object, never a crash or a wrong number.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from stackwatch.core.record import dataclass, field
from stackwatch.switch.octets import DecodeError

Index = tuple[int, ...]
MAX_OCTETS = 65535  # an SNMP message is at most this long: a longer value is not a reply


class Kind(StrEnum):
    INTEGER = "INTEGER"
    OCTETS = "OCTET STRING"
    COUNTER32 = "Counter32"
    COUNTER64 = "Counter64"
    GAUGE32 = "Gauge32"
    TIMETICKS = "TimeTicks"
    OID = "OBJECT IDENTIFIER"
    IPADDRESS = "IpAddress"
    OTHER = "other"


@dataclass(frozen=True)
class Value:
    kind: Kind
    data: int | bytes | str


@dataclass(frozen=True)
class Walked:
    """Columns walked from one agent (column OID -> index -> value) and scalars got."""

    columns: Mapping[str, Mapping[Index, Value]] = field(default_factory=dict)
    scalars: Mapping[str, Value | None] = field(default_factory=dict)

    def column(self, oid: str) -> Mapping[Index, Value]:
        return self.columns.get(oid, {})


UNSIGNED = (Kind.COUNTER32, Kind.COUNTER64, Kind.GAUGE32, Kind.TIMETICKS)
LIMITS = {
    Kind.INTEGER: (-(1 << 31), (1 << 31) - 1),
    Kind.COUNTER32: (0, (1 << 32) - 1),
    Kind.GAUGE32: (0, (1 << 32) - 1),
    Kind.TIMETICKS: (0, (1 << 32) - 1),
    Kind.COUNTER64: (0, (1 << 64) - 1),
}


def _where(name: str, index: Index | None) -> str:
    return name if not index else f"{name}.{'.'.join(map(str, index))}"


def integer(value: Value, name: str, index: Index | None = None, *kinds: Kind) -> int:
    """A number of one of ``kinds`` (INTEGER by default) within that type's range."""
    allowed = kinds or (Kind.INTEGER,)
    if value.kind not in allowed or not isinstance(value.data, int):
        wanted = " or ".join(k.value for k in allowed)
        raise DecodeError(f"{_where(name, index)}: {value.kind.value} where {wanted} belongs")
    low, high = LIMITS.get(value.kind, (-(1 << 64), 1 << 64))
    if not low <= value.data <= high:
        raise DecodeError(f"{_where(name, index)}: {value.data} out of range of {value.kind}")
    return value.data


def octets(value: Value, name: str, index: Index | None = None) -> bytes:
    """An OCTET STRING's bytes."""
    if value.kind is not Kind.OCTETS or not isinstance(value.data, bytes):
        raise DecodeError(f"{_where(name, index)}: {value.kind.value} where OCTET STRING belongs")
    if len(value.data) > MAX_OCTETS:
        raise DecodeError(f"{_where(name, index)}: {len(value.data)} bytes, longer than SNMP")
    return value.data


def text(value: Value, name: str, index: Index | None = None) -> str:
    """A DisplayString: UTF-8 where it decodes, each other byte shown as \\xNN."""
    return octets(value, name, index).decode("utf-8", "backslashreplace").rstrip("\x00")
