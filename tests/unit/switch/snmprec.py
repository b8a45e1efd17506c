"""Reading snmpsim .snmprec recordings into what the SNMP client hands the decoders (Walked).

A test helper, not product code: it lets the unit tests decode the real recordings in
../shared/realdata/snmp without a network. Each line is OID|TYPE|VALUE; TYPE is the BER tag in
decimal (2 INTEGER, 4 OCTET STRING, 6 OID, 64 IpAddress, 65 Counter32, 66 Gauge32, 67 TimeTicks,
70 Counter64), an "x" suffix meaning VALUE is hex.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from stackwatch.switch.values import Index, Kind, Value, Walked

TAGS = {
    "2": Kind.INTEGER,
    "4": Kind.OCTETS,
    "6": Kind.OID,
    "64": Kind.IPADDRESS,
    "65": Kind.COUNTER32,
    "66": Kind.GAUGE32,
    "67": Kind.TIMETICKS,
    "70": Kind.COUNTER64,
}


def value_of(tag: str, text: str) -> Value:
    hexed = tag.endswith("x")
    kind = TAGS.get(tag.rstrip("x"), Kind.OTHER)
    if kind is Kind.OCTETS:
        return Value(kind, bytes.fromhex(text) if hexed else text.encode())
    if kind in (Kind.OID, Kind.IPADDRESS, Kind.OTHER):
        return Value(kind, text)
    return Value(kind, int(text))


def read_snmprec(path: Path) -> dict[str, Value]:
    found = {}
    for line in path.read_text(encoding="utf-8", errors="surrogateescape").splitlines():
        if not line or line.startswith("#"):
            continue
        oid, tag, text = line.split("|", 2)
        found[oid] = value_of(tag, text)
    return found


def walked_from(
    records: dict[str, Value], columns: Iterable[str], scalars: Iterable[str] = ()
) -> Walked:
    """What walking ``columns`` and getting ``scalars`` from the recording would give."""
    tables: dict[str, dict[Index, Value]] = {}
    for column in columns:
        prefix = column + "."
        tables[column] = {
            tuple(int(p) for p in oid[len(prefix) :].split(".")): value
            for oid, value in records.items()
            if oid.startswith(prefix)
        }
    return Walked(tables, {oid: records.get(oid) for oid in scalars})
