"""What an archived MariaDB binary log covers, read from the file itself: the GTID state before
it (its GTID_LIST event), the state after it (that list plus every GTID event in it) and the
times of its first and last events.

The file is untrusted input (a copy fetched from anywhere): the reader walks the event headers
(v4 format: 19 bytes, then the body; the event's size in the header) and reads only the bodies it
needs, and every way a file can be wrong is a BinlogFormatError naming it, never another
exception. A log cut short (the one being written, a copy interrupted) is read up to its last
whole event and said to be incomplete. An encrypted log's events cannot be read past the
encryption event: its ranges are unknown.

The catalog keeps the result per log (binlogs.py), so a restore knows before fetching anything
which logs hold the GTID or the moment asked, and whether the archive reaches them at all.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator, Mapping
from typing import BinaryIO

from stackwatch.core.record import dataclass, field

MAGIC = b"\xfebin"
HEADER = struct.Struct("<IBIIIH")  # timestamp, type, server id, event size, end position, flags
STOP_EVENT, ROTATE_EVENT, FORMAT_DESCRIPTION_EVENT = 3, 4, 15
GTID_EVENT, GTID_LIST_EVENT, START_ENCRYPTION_EVENT = 162, 163, 164
MAX_EVENT = 1 << 30  # max_allowed_packet's ceiling: a larger size is a damaged header
MAX_GTID_LIST = 1 << 16  # domains in one GTID_LIST event: far beyond any real server
CHECKSUM_CRC32 = 1
_GTID_TEXT = re.compile(r"([0-9]{1,10})-([0-9]{1,10})-([0-9]{1,20})")  # ASCII digits only


class BinlogFormatError(Exception):
    """The file is not a binary log this reader understands; the message says where."""


@dataclass(frozen=True, order=True)
class Gtid:
    """A MariaDB GTID: domain, server id, sequence number (``0-1-42``)."""

    domain: int
    server: int
    seq: int

    def __str__(self) -> str:
        return f"{self.domain}-{self.server}-{self.seq}"


def parse_gtid_list(text: str, what: str = "GTID list") -> dict[int, Gtid]:
    """``0-1-42,5-7-3`` by domain (whitespace around items allowed; an empty text is the empty
    state). ValueError naming what is wrong: not D-S-N, a number out of range, a domain twice."""
    state: dict[int, Gtid] = {}
    for item in (part.strip() for part in text.split(",")) if text.strip() else ():
        match = _GTID_TEXT.fullmatch(item)
        if match is None:
            raise ValueError(f"{what}: {item!r} is not a GTID (domain-server-sequence, 0-1-42)")
        domain, server, seq = (int(g) for g in match.groups())
        if domain >= 1 << 32 or server >= 1 << 32 or seq >= 1 << 64:
            raise ValueError(f"{what}: {item!r} is out of range")
        if domain in state:
            raise ValueError(f"{what}: domain {domain} given twice")
        state[domain] = Gtid(domain, server, seq)
    return state


def gtid_text(state: Mapping[int, Gtid]) -> str:
    """A GTID state as MariaDB writes it: by domain, comma-separated."""
    return ",".join(str(state[d]) for d in sorted(state))


@dataclass
class BinlogRange:
    """What one binary log covers."""

    gtid_before: dict[int, Gtid] = field(default_factory=dict)  # its GTID_LIST event
    gtid_after: dict[int, Gtid] = field(default_factory=dict)  # before + its GTID events
    first_time: int | None = None  # seconds since the epoch, of its first event
    last_time: int | None = None  # of its last whole event
    transactions: int = 0  # GTID events
    complete: bool = False  # ends with a rotate or stop event
    encrypted: bool = False  # events past the encryption event not read: ranges unknown

    def holds(self, gtid: Gtid) -> bool:
        """The log holds that domain's sequence number ``gtid.seq`` (strict mode: one each)."""
        before = self.gtid_before.get(gtid.domain)
        after = self.gtid_after.get(gtid.domain)
        return after is not None and (before.seq if before else 0) < gtid.seq <= after.seq


def read_range(stream: BinaryIO, name: str = "binary log") -> BinlogRange:
    """Walk the events of an open binary log (see the module docstring)."""
    if stream.read(4) != MAGIC:
        raise BinlogFormatError(f"{name}: not a binary log (no magic number)")
    result = BinlogRange()
    checksum = 0
    for number, (header, body) in enumerate(_events(stream, name)):
        timestamp, kind = header[0], header[1]
        if number == 0:
            checksum = _format_description(kind, body, name)
        elif kind == START_ENCRYPTION_EVENT:
            result.encrypted = True
            break
        _note_time(result, timestamp)
        payload = body[: len(body) - 4] if checksum == CHECKSUM_CRC32 else body
        _apply(result, kind, header[2], payload, name)
    return result


def _events(stream: BinaryIO, name: str) -> Iterator[tuple[tuple[int, ...], bytes]]:
    """(header fields, body) per whole event, the bodies not needed skipped (empty); a cut-off
    last event ends the walk."""
    here = stream.tell()
    end = stream.seek(0, 2)
    stream.seek(here)
    while True:
        raw = stream.read(HEADER.size)
        if len(raw) < HEADER.size:
            return
        header = HEADER.unpack(raw)
        size = header[3]
        if size < HEADER.size or size > MAX_EVENT:
            raise BinlogFormatError(f"{name}: event of {size} bytes (damaged header)")
        want = size - HEADER.size
        if stream.tell() + want > end:
            return
        if header[1] in (FORMAT_DESCRIPTION_EVENT, GTID_EVENT, GTID_LIST_EVENT):
            yield header, stream.read(want)
        else:
            stream.seek(want, 1)
            yield header, b""


def _format_description(kind: int, body: bytes, name: str) -> int:
    """The checksum algorithm the first event declares (the byte before its own checksum)."""
    if kind != FORMAT_DESCRIPTION_EVENT or len(body) < 57 + 5:
        raise BinlogFormatError(f"{name}: does not start with a format description event")
    (version,) = struct.unpack_from("<H", body)
    if version != 4:
        raise BinlogFormatError(f"{name}: binary log format version {version}, not 4")
    return body[-5]


def _note_time(result: BinlogRange, timestamp: int) -> None:
    if timestamp == 0:  # artificial events (a fake rotate) carry no time
        return
    if result.first_time is None:
        result.first_time = timestamp
    result.last_time = timestamp


def _apply(result: BinlogRange, kind: int, server: int, payload: bytes, name: str) -> None:
    if kind == GTID_LIST_EVENT:
        result.gtid_before = _gtid_list(payload, name)
        result.gtid_after = dict(result.gtid_before)
    elif kind == GTID_EVENT:
        if len(payload) < 12:
            raise BinlogFormatError(f"{name}: GTID event of {len(payload)} bytes")
        seq, domain = struct.unpack_from("<QI", payload)
        result.gtid_after[domain] = Gtid(domain, server, seq)
        result.transactions += 1
    elif kind in (ROTATE_EVENT, STOP_EVENT):
        result.complete = True


def _gtid_list(payload: bytes, name: str) -> dict[int, Gtid]:
    if len(payload) < 4:
        raise BinlogFormatError(f"{name}: GTID list event of {len(payload)} bytes")
    count = struct.unpack_from("<I", payload)[0] & 0x0FFFFFFF  # the top bits are flags
    if count > MAX_GTID_LIST or len(payload) < 4 + 16 * count:
        raise BinlogFormatError(f"{name}: GTID list event too short for {count} entries")
    state = {}
    for i in range(count):
        domain, server, seq = struct.unpack_from("<IIQ", payload, 4 + 16 * i)
        state[domain] = Gtid(domain, server, seq)
    return state
