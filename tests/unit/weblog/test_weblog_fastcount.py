"""The fast counting path gives the careful parser's counts on every line, hostile ones too."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackwatch.weblog import fastcount
from stackwatch.weblog.fastcount import count_block, count_values, quick_values, vouched
from stackwatch.weblog.formats import LogFormat, get_format
from stackwatch.weblog.reader import ScanStats, newlines, scan
from stackwatch.weblog.top import count_by

from .logdata import line

T0 = 1_700_000_000.0
FORMATS = ("combined", "common", "vhost_combined", "nginx", '%h "%{Referer}i"%>s [%t] "%r"')
FIELD_SETS = (("referrer",), ("ip",), ("request",), ("status",), ("time", "referrer"))

# Pieces a hostile or odd log line is made of: quotes, escapes, brackets, spaces, IPv6, "-".
_BITS = st.sampled_from(
    [' ', '"', '\\', '\\"', '\\\\', '\\x22', '[', ']', '-', ':', '2001:db8::1', '192.0.2.7',
     'GET / HTTP/1.1', '200', '10/Oct/2023:13:55:36 +0000', 'https://a.example/', '\t', '\r',
     'é', 'x', '\n']
)  # fmt: skip
_ODD = st.lists(_BITS, max_size=14).map("".join)
_GOOD = st.builds(
    lambda ip, ref, agent: line(T0, ip, "/p", ref, agent=agent),
    st.sampled_from(["192.0.2.1", "2001:db8::1", "-", ""]),
    st.sampled_from(["-", "https://a.example/x", 'h\\"q', "a b", "\\\\", 'x\\" "y']),
    st.sampled_from(["Mozilla/5.0", 'say \\"hi\\"', "", "x\\x22y"]),
)
_LINE = st.one_of(_GOOD, _GOOD, _ODD.map(lambda s: s + "\n"), _GOOD.map(lambda s: s[:-9] + "\n"))


def _careful(data: bytes, fmt_name: str, fields: tuple[str, ...]) -> Counter[object]:
    return Counter(get_format(fmt_name).matcher(fields).findall(data))


def _counts_as_carefully(fmt: LogFormat, data: bytes, fields: tuple[str, ...]) -> None:
    """count_block's counts are the careful matcher's, ties in its order, all of them matched."""
    careful = _careful(data, fmt.name, fields)
    fast: Counter[object] = Counter()
    matched = count_block(data, fmt.quick_matcher(fields), fmt.matcher(fields), fast)
    assert fast == careful
    assert list(fast) == list(careful)  # ties keep the careful order
    assert matched == sum(fast.values())


@settings(max_examples=300, deadline=None)
@given(st.lists(_LINE, max_size=40), st.sampled_from(FORMATS), st.sampled_from(FIELD_SETS))
def test_fast_counts_equal_careful_counts_on_hostile_lines(
    lines: list[str], fmt_name: str, fields: tuple[str, ...]
) -> None:
    fmt = get_format(fmt_name)
    if not set(fields) <= fmt.fields:
        return
    _counts_as_carefully(fmt, "".join(lines).encode(), fields)


# Lines without a backslash, so the fast path is tried on every block: half-lines that continue
# on the next line, stray quotes, spaces and brackets where fields are expected.
_PLAIN_BITS = st.sampled_from(
    [' ', '"', '[', ']', '-', '\n', '2001:db8::1', '192.0.2.7', 'GET / HTTP/1.1', '200', '" "',
     '10/Oct/2023:13:55:36 +0000', 'https://a.example/', '\t', 'é', 'x', '- - [']
)  # fmt: skip
_PLAIN_GOOD = st.builds(
    lambda ip, ref, agent: line(T0, ip, "/p", ref, agent=agent),
    st.sampled_from(["192.0.2.1", "2001:db8::1", "-", "", "a b"]),
    st.sampled_from(["-", "https://a.example/x", "", "a b", "[x]"]),
    st.sampled_from(["Mozilla/5.0", "", 'say "hi"']),
)
_PLAIN_LINE = st.one_of(
    _PLAIN_GOOD,
    _PLAIN_GOOD,
    st.lists(_PLAIN_BITS, max_size=14).map(lambda bits: "".join(bits) + "\n"),
    _PLAIN_GOOD.map(lambda s: s[: len(s) // 2] + "\n"),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(_PLAIN_LINE, min_size=1, max_size=30), st.sampled_from(FORMATS),
       st.sampled_from(FIELD_SETS))  # fmt: skip
def test_what_the_fast_path_vouches_for_is_what_the_careful_parser_finds(
    lines: list[str], fmt_name: str, fields: tuple[str, ...]
) -> None:
    """The fast matcher's fields may run over a newline; it vouches for a block only when every
    match took exactly one line, and then its values are the careful parser's, line by line."""
    fmt = get_format(fmt_name)
    if not set(fields) <= fmt.fields:
        return
    data = "".join(lines).encode()
    found = vouched(data, data.count(b"\n"), fmt.fast_matcher(fields))
    if found is not None:
        assert found == fmt.matcher(fields).findall(data)


@settings(max_examples=500, deadline=None)
@given(st.lists(_PLAIN_LINE, min_size=2, max_size=30), st.sampled_from(FORMATS),
       st.sampled_from(FIELD_SETS))  # fmt: skip
def test_what_the_quick_path_vouches_for_is_what_the_careful_parser_finds(
    lines: list[str], fmt_name: str, fields: tuple[str, ...]
) -> None:
    """The counting path's matcher begins each match at the newline before a line, skips the
    rest of the line unread and its fields may run over a newline: it vouches for the lines
    after the first only when it matched once per line, and then it found what the careful
    parser finds on each of them."""
    fmt = get_format(fmt_name)
    if not set(fields) <= fmt.fields:
        return
    data = "".join(lines).encode()
    first = data.find(b"\n") + 1
    found = quick_values(
        data, first, len(data), data.count(b"\n", first), fmt.quick_matcher(fields)
    )
    if found is not None:
        assert found == fmt.matcher(fields).findall(data, first)


# Bytes as they come: invalid UTF-8, NUL, a carriage return, a lone high byte inside fields.
_RAW_BITS = st.sampled_from(
    [b" ", b'"', b"[", b"]", b"-", b"\n", b"\xff", b"\xc3", b"\x00", b"\r", b"::1",
     b"GET / HTTP/1.1", b"200", b"10/Oct/2023:13:55:36 +0000", b'" "', b"\\", b'\\"']
)  # fmt: skip
_RAW_GOOD = st.builds(
    lambda ref, agent: line(T0, "2001:db8::1", "/p", "-", agent="x").encode()
    .replace(b'"-"', ref, 1).replace(b'"x"', agent, 1),
    st.sampled_from([b'"-"', b'"\xff\xfe"', b'"https://\xc3\xa9.example/"', b'""', b'"a\\"b"',
                     b'"a\\" "b"']),
    st.sampled_from([b'"x"', b'"\xe9t\xe9"', b'"\x00"', b'"a\rb"']),
)  # fmt: skip
_RAW_LINE = st.one_of(
    _RAW_GOOD,
    _RAW_GOOD,
    st.lists(_RAW_BITS, max_size=12).map(lambda bits: b"".join(bits) + b"\n"),
    _RAW_GOOD.map(lambda s: s[: len(s) // 3] + b"\n"),  # a line cut short
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_RAW_LINE, max_size=40), st.sampled_from(FORMATS), st.sampled_from(FIELD_SETS))
def test_fast_counts_equal_careful_counts_on_raw_bytes(
    lines: list[bytes], fmt_name: str, fields: tuple[str, ...]
) -> None:
    fmt = get_format(fmt_name)
    if not set(fields) <= fmt.fields:
        return
    _counts_as_carefully(fmt, b"".join(lines), fields)


def test_the_quick_path_vouches_for_ordinary_lines_only() -> None:
    """Ordinary lines (IPv6, "-", UTF-8 and invalid bytes in quotes) are read by the quick
    matcher, the whole block at once; a cut line, an escaped quote or a line that spills over
    two are not, and the careful parser reads them."""
    fmt = get_format("combined")
    quick = fmt.quick_matcher(("referrer",))
    good = (
        line(T0, "2001:db8::1", "/p", "https://a.example/x")
        + line(T0, "-", "/", "-")
        + line(T0, "192.0.2.1", "/", "https://\u00e9.example/", agent="\u00e9")
    ).encode() + line(T0).encode().replace(b"Mozilla", b"\xff\xfe")
    first = good.find(b"\n") + 1
    assert quick_values(good, first, len(good), 3, quick) == [
        b"-",
        "https://\u00e9.example/".encode(),
        b"-",
    ]
    split = good.replace(b'" "M', b'"\n"M', 1)  # a line cut in two, the halves read as one
    assert quick_values(split, first, len(split), 4, quick) is None
    cut = good + b'192.0.2.1 - - [10/Oct/2023:13:55:36 +0000] "GET / HTTP/1.1" 200\n'
    assert quick_values(cut, first, len(cut), 4, quick) is None
    escaped = good + line(T0, referrer='a\\"b').encode()
    assert quick_values(escaped, first, len(escaped), 4, quick) is None


def test_the_fast_path_vouches_for_ordinary_lines_only() -> None:
    fmt = get_format("combined")
    fast = fmt.fast_matcher(("referrer",))
    good = line(T0, "2001:db8::1", "/p", "https://a.example/x") + line(T0, "-", "/", "-")
    assert vouched(good.encode(), 2, fast) == [b"https://a.example/x", b"-"]
    split = good.replace('" "M', '"\n"M', 1)  # a line cut in two, the halves read as one
    assert vouched(split.encode(), 3, fast) is None
    escaped = line(T0, referrer='a\\"b')
    assert vouched(escaped.encode(), 1, fast) is None


@settings(max_examples=100, deadline=None)
@given(st.lists(_LINE, min_size=1, max_size=60))
def test_fast_counts_equal_careful_counts_in_small_pieces(lines: list[str]) -> None:
    """Blocks the fast path cannot vouch for are retried piece by piece: a hostile line among
    good ones changes nothing but the speed."""
    data = "".join(lines).encode()
    fmt = get_format("combined")
    old = fastcount.PIECE
    fastcount.PIECE = 64
    try:
        fast: Counter[object] = Counter()
        count_block(data, fmt.quick_matcher(("referrer",)), fmt.matcher(("referrer",)), fast)
    finally:
        fastcount.PIECE = old
    assert fast == _careful(data, "combined", ("referrer",))


def test_parallel_ranges_count_what_one_stream_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "access.log"
    body = [
        line(T0 + n, f"192.0.2.{n % 7}", "/", f"https://s{n % 5}.example/") for n in range(3000)
    ]
    body[1234] = line(T0, "192.0.2.1", "/", 'https://q.example/\\"x')  # careful path
    log.write_text("".join(body) + "junk line without fields\n")
    monkeypatch.setattr(fastcount, "PARALLEL_MIN", 1)
    monkeypatch.setattr(fastcount, "BLOCK", 4096)
    fmt = get_format("combined")
    for workers in (1, 2, 3):
        stats = ScanStats()
        counted = count_values([str(log)], fmt, ("referrer",), stats, workers=workers)
        expected: Counter[object] = Counter()
        for found in scan([str(log)], fmt, ("referrer",)):
            expected.update(found)
        assert counted == expected
        assert (stats.lines, stats.matched) == (3001, 3000)
    log.write_text("".join(body) + line(T0, referrer="https://last.example/").rstrip("\n"))
    for workers in (1, 2, 3):  # the last line without its newline is a line all the same
        counted = count_values([str(log)], fmt, ("referrer",), ScanStats(), workers=workers)
        assert counted[b"https://last.example/"] == 1 and counted.total() == 3001
    assert count_by([str(log)], fmt, "referrer", limit=1).rows == [("https://s0.example/", 600)]
    assert count_by([str(log)], fmt, "referrer", since=T0 + 1500).total == 1500


def test_gzip_logs_count_as_plain_ones_and_a_cut_one_is_named(tmp_path: Path) -> None:
    import gzip

    from stackwatch.weblog.reader import LogReadError

    body = "".join(line(T0 + n, "192.0.2.1", "/", f"https://s{n % 3}.example/") for n in range(999))
    plain, packed, cut = tmp_path / "a.log", tmp_path / "b.log.gz", tmp_path / "c.log.gz"
    plain.write_text(body)
    packed.write_bytes(gzip.compress(body.encode()))
    cut.write_bytes(packed.read_bytes()[:-300])
    fmt = get_format("combined")
    assert count_by([str(packed)], fmt, "referrer").rows == count_by([str(plain)], fmt,
                                                                     "referrer").rows  # fmt: skip
    with pytest.raises(LogReadError, match=str(cut)):
        count_by([str(cut)], fmt, "referrer")


_PART = st.lists(st.tuples(st.sampled_from([b"", b"a", b"b", b"c", b"d", b"e\xff"]),
                           st.integers(1, 3)), max_size=8)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(_PART, max_size=4), st.one_of(st.none(), st.integers(1, 7)))
def test_a_tally_gives_the_rows_of_one_counter_over_its_parts(
    parts: list[list[tuple[bytes, int]]], limit: int | None
) -> None:
    """The parts (files, halves of a file) counted apart give the rows, ties in order of first
    sight, that one Counter updated part after part gives, with or without merging them;
    packed for the trip from a child process and back they are the same parts."""
    reference: Counter[bytes] = Counter()
    tally = fastcount.Tally()
    for part in parts:
        counted: Counter[bytes] = Counter()
        for value, count in part:
            counted[value] += count
        reference.update(counted)
        values, counts = fastcount._unpack(
            (b"\n".join(counted), fastcount.array("q", counted.values()).tobytes())
        )
        assert (values, counts) == (list(counted), list(counted.values()))
        if tally.parts:
            tally.add_packed(values, counts)
        else:
            tally.add(counted)  # the first part, as this process counted it
    assert tally.most_common(limit) == reference.most_common(limit)
    assert tally.counter() == reference and list(tally.counter()) == list(reference)
    assert tally.total() == reference.total()
    assert tally.plain() == all(v.isascii() for v in reference)


@given(st.binary(max_size=300), st.booleans())
def test_newlines_are_counted_as_count_counts_them(data: bytes, mutable: bool) -> None:
    assert newlines(bytearray(data) if mutable else data) == data.count(b"\n")
