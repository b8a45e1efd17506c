"""The fast scan of nagios.log (one bytes pattern that vouches for the common lines) must count
exactly what logparse reads, line by line, whatever the lines: hostile names, cut lines, odd
digits, bytes that are not UTF-8, acknowledgements between alerts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackwatch.nagios.alerts import Tally, summarize

T0 = 1_700_000_000

ALERT = "[{t}] SERVICE ALERT: {h};{s};{state};{kind};{n};{o}"
TEMPLATES = [
    ALERT,
    ALERT,
    ALERT,
    "[{t}] HOST ALERT: {h};{hstate};{kind};{n};{o}",
    "[{t}] SERVICE NOTIFICATION: {c};{h};{s};{state};notify;{o}",
    "[{t}] SERVICE NOTIFICATION: {c};{h};{s};ACKNOWLEDGEMENT ({state});notify;{o};al;c",
    "[{t}] HOST NOTIFICATION: {c};{h};{hstate};notify;{o}",
    "[{t}] SERVICE FLAPPING ALERT: {h};{s};{flap};{o}",
    "[{t}] HOST FLAPPING ALERT: {h};{flap};{o}",
    "[{t}] CURRENT SERVICE STATE: {h};{s};{state};{kind};{n};{o}",
    "[{t}] INITIAL SERVICE STATE: {h};{s};{state};{kind};{n};{o}",
    "[{t}] CURRENT HOST STATE: {h};{hstate};{kind};{n};{o}",
    "[{t}] EXTERNAL COMMAND: ACKNOWLEDGE_SVC_PROBLEM;{h};{s};2;1;1;al;{o}",
    "[{t}] EXTERNAL COMMAND: ACKNOWLEDGE_HOST_PROBLEM;{h};2;1;1;al;{o}",
    "[{t}] Auto-save of retention data completed successfully.{o}",
    "[{t}] LOG ROTATION: DAILY",
    "[{t}] {o}",
    "{o}",
]
# Each field: a valid value, or (one field per line at most) one that logparse refuses or
# reads otherwise.
FIELDS = {
    "t": (["{now}"], ["0", "１７００００００００", "100000000000", "1" * 13, "x", ""]),
    "h": (["h1", "cmp-c0001-001", "a b", "é", "\x1b[31m", "h]", ": x"], [""]),
    "s": (["Load", "Disk /", "x: y", "ü"], [""]),
    "c": (["ops", ""], []),
    "state": (["OK", "WARNING", "CRITICAL", "UNKNOWN"], ["OKAY", "UP", "", "ok"]),
    "hstate": (["UP", "DOWN", "UNREACHABLE"], ["OK", ""]),
    "kind": (["HARD", "SOFT"], ["hard", ""]),
    "n": (["1", "12345"], ["123456", "", "١", "x"]),
    "flap": (["STARTED", "STOPPED", "DISABLED"], ["GONE", ""]),
}
OUTPUT = st.text(st.characters(blacklist_characters="\n", blacklist_categories=("Cs",)), max_size=8)


@st.composite
def log_line(draw: st.DrawFn, clock: list[int]) -> bytes:
    clock[0] += draw(st.integers(0, 400))
    odd = draw(st.sampled_from([*FIELDS, "", "", ""]))
    values = {
        name: draw(st.sampled_from(bad if name == odd and bad else good))
        for name, (good, bad) in FIELDS.items()
    }
    line = draw(st.sampled_from(TEMPLATES)).format(o=draw(OUTPUT), **values)
    data = line.replace("{now}", str(clock[0])).encode()
    return _damaged(draw, data)


def _damaged(draw: st.DrawFn, data: bytes) -> bytes:
    cut = draw(st.integers(0, 20))
    if cut == 0:
        return data[: draw(st.integers(0, len(data)))]  # cut in half
    if cut == 1:
        return data.replace(b";", b"\xff;", 1)  # not UTF-8 right before a separator
    if cut == 2:
        return data + b"\xc3"  # a multi-byte character cut at the end of the line
    return data


def careful(data: bytes, window: float) -> Tally:
    """Every line through logparse, from the text of the whole file."""
    tally = Tally(window)
    lines = data.decode("utf-8", "replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    tally.lines = len(lines)
    for number, line in enumerate(lines, 1):
        tally.add_line(line, "nagios.log", number)
    return tally


@settings(max_examples=400, deadline=None)
@given(st.data(), st.booleans())
def test_the_scan_counts_what_logparse_reads(data: st.DataObject, final_newline: bool) -> None:
    clock = [T0]
    lines = data.draw(st.lists(log_line(clock), max_size=40))
    log = b"\n".join(lines) + (b"\n" if final_newline else b"")
    fast = Tally(300)
    fast.add_data(log, "nagios.log")
    slow = careful(log, 300)
    assert (fast.lines, fast.malformed) == (slow.lines, slow.malformed)
    assert fast.examples == slow.examples
    assert summarize(fast) == summarize(slow)
    for table in ("services", "hosts"):
        mine, theirs = getattr(fast, table), getattr(slow, table)
        assert {k: (t.open_since, t.acknowledged) for k, t in mine.items()} == {
            k: (t.open_since, t.acknowledged) for k, t in theirs.items()
        }


BOUNDARY = [
    "[100000000000] SERVICE ALERT: h1;Load;CRITICAL;HARD;1;x",  # 12 digits: the most there are
    "[1000000000000] SERVICE ALERT: h1;Load;CRITICAL;HARD;1;x",  # 13: not a time
    "[１７００００００００] SERVICE ALERT: h1;Load;CRITICAL;HARD;1;x",
    "[1700000000] SERVICE ALERT: h1;Load;CRITICAL;HARD;١;x",
    "[1700000000] SERVICE ALERT: h1;Load;CRITICAL;HARD;123456;x",
    "[1700000000] SERVICE ALERT: h1;Load;CRITICAL;HARD;1",
    "[1700000000] SERVICE ALERT: h1;;CRITICAL;HARD;1;x",
    "[1700000000] SERVICE NOTIFICATION: ops;h1;Load;ACKNOWLEDGEMENT (CRITICAL);n;x",
    "[1700000000] SERVICE NOTIFICATION: ops;h1;Load;CUSTOM ();n;x",
    "[1700000000] SERVICE NOTIFICATION: ops;h1;Load;CRITICAL;n",
    "[1700000000] SERVICE FLAPPING ALERT: h1;Load;STARTED",
    "[1700000000] CURRENT SERVICE STATE: h1;Load;OKAY;HARD;1;x",
    "[1700000000] HOST ALERT: h1;OK;HARD;1;x",
    "[1700000000] Auto-save: done",
    "[1700000000] Auto-save:done:",
]


@pytest.mark.parametrize("line", BOUNDARY)
def test_lines_at_the_edge_of_the_pattern_read_as_logparse_reads_them(line: str) -> None:
    alert = "[1700000000] SERVICE ALERT: h1;Load;OK;HARD;1;x"
    log = f"{alert}\n{line}\n{alert}\n".encode()
    fast = Tally(300)
    fast.add_data(log, "nagios.log")
    slow = careful(log, 300)
    assert (fast.malformed, fast.examples) == (slow.malformed, slow.examples)
    assert summarize(fast) == summarize(slow)


# One service and one host whose problems start, get acknowledged and end: the lines that only
# logparse reads (acknowledgements, an alert with an attempt in other digits) among the alerts.
ORDERED = [
    "SERVICE ALERT: h1;Load;CRITICAL;SOFT;1;x",
    "SERVICE ALERT: h1;Load;OK;HARD;1;x",
    "SERVICE ALERT: h1;Load;WARNING;HARD;\u0661;x",
    "SERVICE ALERT: h1;Load;OK;SOFT;\u0661;x",
    "EXTERNAL COMMAND: ACKNOWLEDGE_SVC_PROBLEM;h1;Load;2;1;1;al;c",
    "SERVICE NOTIFICATION: ops;h1;Load;ACKNOWLEDGEMENT (CRITICAL);n;x;al;c",
    "SERVICE NOTIFICATION: ops;h1;Load;CRITICAL;n;x",
    "HOST ALERT: h1;DOWN;HARD;1;x",
    "HOST ALERT: h1;UP;HARD;1;x",
    "EXTERNAL COMMAND: ACKNOWLEDGE_HOST_PROBLEM;h1;2;1;1;al;c",
    "SERVICE ALERT: h1;Load;CRIT",
    "LOG ROTATION: DAILY",
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 200), st.sampled_from(ORDERED)), max_size=50),
    st.integers(1, 300),
)
def test_blocks_of_any_size_count_what_logparse_reads(
    steps: list[tuple[int, str]], block: int
) -> None:
    """The scan counts a block of lines at a time: the alerts of a block in bulk, cut where a
    line only logparse reads says something about a problem (an acknowledgement, an odd alert);
    wherever the blocks end, the counts and where each problem stands are logparse's."""
    from stackwatch.nagios import alerts_tally

    when, lines = T0, []
    for gap, line in steps:
        when += gap
        lines.append(f"[{when}] {line}\n")
    log = "".join(lines).encode()
    saved, alerts_tally.SCAN_BLOCK = alerts_tally.SCAN_BLOCK, block
    try:
        fast = Tally(300)
        fast.add_data(log, "nagios.log")
    finally:
        alerts_tally.SCAN_BLOCK = saved
    slow = careful(log, 300)
    assert (fast.lines, fast.malformed, fast.examples) == (
        slow.lines,
        slow.malformed,
        slow.examples,
    )
    assert summarize(fast) == summarize(slow)
    for table in ("services", "hosts"):
        mine, theirs = getattr(fast, table), getattr(slow, table)
        assert {k: (t.open_since, t.acknowledged) for k, t in mine.items()} == {
            k: (t.open_since, t.acknowledged) for k, t in theirs.items()
        }
