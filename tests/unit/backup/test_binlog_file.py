"""Reading what a binary log covers from its events (binlog_file.py): logs built here event by
event as MariaDB writes them, cut short anywhere, damaged anywhere, and GTID lists as users type
them. Whatever the bytes, the reader answers or raises BinlogFormatError."""

from __future__ import annotations

import contextlib
import io
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackwatch.backup.binlog_file import (
    FORMAT_DESCRIPTION_EVENT,
    GTID_EVENT,
    GTID_LIST_EVENT,
    MAGIC,
    ROTATE_EVENT,
    START_ENCRYPTION_EVENT,
    BinlogFormatError,
    BinlogRange,
    Gtid,
    gtid_text,
    parse_gtid_list,
    read_range,
)
from stackwatch.core.record import dataclass

QUERY_EVENT, XID_EVENT = 2, 16


@dataclass
class Log:
    """A binary log written event by event, with or without CRC32 checksums."""

    crc: bool = True
    data: bytes = MAGIC

    def event(self, kind: int, body: bytes, when: int = 1_700_000_000, server: int = 1) -> None:
        size = 19 + len(body) + (4 if self.crc or kind == FORMAT_DESCRIPTION_EVENT else 0)
        end = len(self.data) + size
        header = struct.pack("<IBIIIH", when, kind, server, size, end, 0)
        tail = b"\x11\x22\x33\x44" if self.crc or kind == FORMAT_DESCRIPTION_EVENT else b""
        self.data += header + body + tail

    def start(self, when: int, before: dict[int, Gtid]) -> None:
        version = b"10.11.19-MariaDB-log".ljust(50, b"\0")
        fde = struct.pack("<H", 4) + version + struct.pack("<IB", when, 19) + bytes(40)
        self.event(FORMAT_DESCRIPTION_EVENT, fde + bytes([1 if self.crc else 0]), when)
        entries = b"".join(struct.pack("<IIQ", g.domain, g.server, g.seq) for g in before.values())
        self.event(GTID_LIST_EVENT, struct.pack("<I", len(before)) + entries, when)

    def transaction(self, gtid: Gtid, when: int) -> None:
        self.event(GTID_EVENT, struct.pack("<QIB", gtid.seq, gtid.domain, 0), when, gtid.server)
        self.event(QUERY_EVENT, b"\0" * 13 + b"INSERT INTO t VALUES (1)", when, gtid.server)
        self.event(XID_EVENT, struct.pack("<Q", 7), when, gtid.server)

    def rotate(self, when: int) -> None:
        self.event(ROTATE_EVENT, struct.pack("<Q", 4) + b"binlog.000002", when)


def read(data: bytes) -> BinlogRange:
    return read_range(io.BytesIO(data), "binlog.000001")


def test_a_log_says_the_state_before_after_its_transactions_and_its_times() -> None:
    log = Log()
    log.start(1000, {0: Gtid(0, 1, 41)})
    log.transaction(Gtid(0, 1, 42), 1001)
    log.transaction(Gtid(5, 7, 1), 1002)
    log.transaction(Gtid(0, 2, 43), 1005)
    log.rotate(1006)
    found = read(log.data)
    assert gtid_text(found.gtid_before) == "0-1-41"
    assert gtid_text(found.gtid_after) == "0-2-43,5-7-1"
    assert (found.first_time, found.last_time, found.transactions) == (1000, 1006, 3)
    assert found.complete and not found.encrypted
    assert found.holds(Gtid(0, 1, 42)) and found.holds(Gtid(5, 7, 1))
    assert not found.holds(Gtid(0, 1, 41)) and not found.holds(Gtid(0, 1, 44))


def test_without_checksums_and_cut_short() -> None:
    log = Log(crc=False)
    log.start(1000, {})
    log.transaction(Gtid(0, 1, 1), 1001)
    whole = read(log.data)
    assert gtid_text(whole.gtid_after) == "0-1-1" and not whole.complete
    log.transaction(Gtid(0, 1, 2), 1002)
    cut = read(log.data[:-5])  # the last event (the Xid) is not whole
    assert gtid_text(cut.gtid_after) == "0-1-2" and cut.last_time == 1002


def test_what_is_not_a_binary_log_is_said() -> None:
    with pytest.raises(BinlogFormatError, match="not a binary log"):
        read(b"-- MariaDB dump\n")
    log = Log()
    log.event(QUERY_EVENT, b"x" * 20)
    with pytest.raises(BinlogFormatError, match="does not start with a format description"):
        read(log.data)
    damaged = Log()
    damaged.start(1, {})
    damaged.data += struct.pack("<IBIIIH", 1, QUERY_EVENT, 1, 7, 0, 0)  # smaller than a header
    with pytest.raises(BinlogFormatError, match="damaged header"):
        read(damaged.data)


def test_an_encrypted_log_stops_at_the_encryption_event() -> None:
    log = Log()
    log.start(1000, {0: Gtid(0, 1, 5)})
    log.event(START_ENCRYPTION_EVENT, b"\x01" + bytes(16))
    log.data += b"\x9c" * 200  # encrypted events: no header to trust
    found = read(log.data)
    assert found.encrypted and gtid_text(found.gtid_after) == "0-1-5"


gtids = st.builds(
    Gtid, st.integers(0, 3), st.integers(1, 2**32 - 1), st.integers(1, 2**64 - 1)
)  # fmt: skip


@st.composite
def logs(draw: st.DrawFn) -> tuple[Log, dict[int, Gtid], dict[int, Gtid], int]:
    """A log, the state before it, the state after it and its transaction count."""
    before = {g.domain: g for g in draw(st.lists(gtids, max_size=4, unique_by=lambda g: g.domain))}
    log = Log(crc=draw(st.booleans()))
    log.start(1000, before)
    after = dict(before)
    count = draw(st.integers(0, 12))
    for n in range(count):
        domain = draw(st.integers(0, 3))
        seq = (after[domain].seq if domain in after else 0) + draw(st.integers(1, 3))
        gtid = Gtid(domain, draw(st.integers(1, 9)), min(seq, 2**64 - 1))
        log.transaction(gtid, 1000 + n)
        after[domain] = gtid
    if draw(st.booleans()):
        log.rotate(2000)
    return log, before, after, count


@settings(max_examples=200, deadline=None)
@given(logs())
def test_generated_logs_read_back_as_written(case: tuple[Log, dict, dict, int]) -> None:
    log, before, after, count = case
    found = read(log.data)
    assert found.gtid_before == before and found.gtid_after == after
    assert found.transactions == count


@settings(max_examples=300, deadline=None)
@given(logs(), st.data())
def test_cut_or_damaged_anywhere_reads_or_says_why(
    case: tuple[Log, dict, dict, int], data: st.DataObject
) -> None:
    log = case[0]
    at = data.draw(st.integers(0, len(log.data)))
    damaged = bytearray(log.data[:at])
    for _ in range(data.draw(st.integers(0, 4))):
        if damaged:
            where = data.draw(st.integers(0, len(damaged) - 1))
            damaged[where] = data.draw(st.integers(0, 255))
    try:
        found = read(bytes(damaged))
    except BinlogFormatError:
        return
    assert found.transactions >= 0 and all(d == g.domain for d, g in found.gtid_after.items())


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.booleans())
def test_arbitrary_bytes_read_or_say_why(data: bytes, magic: bool) -> None:
    with contextlib.suppress(BinlogFormatError):
        read((MAGIC if magic else b"") + data)


@given(st.lists(gtids, max_size=5, unique_by=lambda g: g.domain))
def test_gtid_lists_read_back_as_written(states: list[Gtid]) -> None:
    state = {g.domain: g for g in states}
    assert parse_gtid_list(gtid_text(state)) == state
    assert parse_gtid_list(" , ".join(str(g) for g in states)) == state


@given(st.text(max_size=40))
def test_any_text_is_a_gtid_list_or_a_clear_error(text: str) -> None:
    try:
        parse_gtid_list(text, "--to-gtid")
    except ValueError as exc:
        assert str(exc).startswith("--to-gtid: ")


def test_gtid_list_errors_name_the_item() -> None:
    for text, message in (
        ("0-1", "'0-1' is not a GTID"),
        ("0-1-2,0-3-4", "domain 0 given twice"),
        ("0-1-99999999999999999999", "out of range"),
        ("a-b-c", "is not a GTID"),
    ):
        with pytest.raises(ValueError, match=message):
            parse_gtid_list(text)
    assert parse_gtid_list("") == {}


def test_only_ascii_digits_make_a_gtid() -> None:
    for text in ("0-1-\u0663", "\uff10-1-2", "0-1-2\n0-1-3"):
        with pytest.raises(ValueError, match="is not a GTID"):
            parse_gtid_list(text)
