"""The LogFormat compiler and the value helpers, on lines as Apache and nginx write them."""

from __future__ import annotations

import calendar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackwatch.weblog.formats import (
    FormatError,
    LogFormat,
    get_format,
    parse_time,
    referrer_host,
    request_path,
    unescape,
)

COMBINED = (
    b'2001:db8::7 - bob [10/Oct/2000:13:55:36 -0700] "GET /forum/search.php?q=a HTTP/1.1" 200 -'
    b' "https://evil.example.com:8080/x?y" "Mozilla/5.0 (X11)"\n'
)


def fields(fmt: LogFormat, data: bytes, *names: str) -> list[object]:
    return fmt.matcher(names).findall(data)


def test_combined_line_gives_every_field() -> None:
    fmt = get_format("combined")
    (row,) = fields(fmt, COMBINED, "ip", "time", "request", "status", "size", "referrer", "agent")
    assert row == (
        b"2001:db8::7",
        b"10/Oct/2000:13:55:36 -0700",
        b"GET /forum/search.php?q=a HTTP/1.1",
        b"200",
        b"-",
        b"https://evil.example.com:8080/x?y",
        b"Mozilla/5.0 (X11)",
    )


def test_fields_come_back_in_the_order_asked() -> None:
    fmt = get_format("combined")
    assert fields(fmt, COMBINED, "referrer", "ip") == [
        (b"https://evil.example.com:8080/x?y", b"2001:db8::7")
    ]


def test_escaped_quotes_do_not_shift_fields() -> None:
    apache = (
        b'192.0.2.1 - - [10/Oct/2000:13:55:36 +0000] "GET /a\\"b HTTP/1.1" 200 5 '
        b'"http://x.example/\\" onload=\\"" "agent \\"quoted\\""\n'
    )
    nginx = (
        b'192.0.2.1 - - [10/Oct/2000:13:55:36 +0000] "GET /a\\x22b HTTP/1.1" 200 5 '
        b'"http://y.example/\\x22" "agent"\n'
    )
    fmt = get_format("combined")
    (ref_a,) = fields(fmt, apache, "referrer")
    assert unescape(ref_a) == b'http://x.example/" onload="'
    (row,) = fields(get_format("nginx"), nginx, "referrer", "request")
    assert unescape(row[0]) == b'http://y.example/"'
    assert request_path(row[1]) == b'/a"b'


def test_common_and_vhost_combined() -> None:
    common = b'192.0.2.9 - - [01/Jan/2024:00:00:00 +0000] "POST /login HTTP/1.0" 302 0\n'
    assert fields(get_format("common"), common, "ip", "status") == [(b"192.0.2.9", b"302")]
    vhost = (
        b'www.example.com:443 192.0.2.9 - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 '
        b'99 "https://a.example/" "ua"\n'
    )
    assert fields(get_format("vhost_combined"), vhost, "vhost", "referrer") == [
        (b"www.example.com", b"https://a.example/")
    ]
    with pytest.raises(FormatError):
        get_format("common").matcher(("referrer",))


def test_custom_logformat_with_extra_fields() -> None:
    fmt = get_format('%a %{X-Forwarded-For}i %t %D "%r" %>s %B "%{Referer}i" 100%%')
    data = (
        b'192.0.2.5 10.0.0.1 [01/Jan/2024:00:00:00 +0000] 1234 "GET /x HTTP/1.1" 404 0 "-" 100%\n'
    )
    assert fields(fmt, data, "ip", "status", "referrer") == [(b"192.0.2.5", b"404", b"-")]


def test_bad_formats_are_refused_with_a_message() -> None:
    with pytest.raises(FormatError, match="unknown log format"):
        get_format("fancy")
    with pytest.raises(FormatError):
        get_format("%l %l")  # nothing stackwatch can use
    with pytest.raises(FormatError):
        get_format("   ")


def test_junk_lines_are_not_matched_and_good_ones_around_them_are() -> None:
    junk = b"\x00\xff\xfe binary junk \x1b[31m\n" + b"A" * 5000 + b"\n" + b'"""\n'
    data = COMBINED + junk + COMBINED.replace(b"bob", b"-")
    assert len(fields(get_format("combined"), data, "referrer")) == 2


def test_parse_time() -> None:
    expected = calendar.timegm((2000, 10, 10, 20, 55, 36, 0, 0, 0))
    assert parse_time(b"10/Oct/2000:13:55:36 -0700") == expected
    assert parse_time(b"10/Oct/2000:20:55:36 +0000") == expected
    for bad in (b"", b"10/Foo/2000:13:55:36 -0700", b"99/Oct/2000:13:55:36 +0000", b"garbage"):
        assert parse_time(bad) is None


def test_referrer_host() -> None:
    assert referrer_host(b"https://User@Sub.Evil.Example.COM:8443/p?q#f") == "sub.evil.example.com"
    assert referrer_host(b"http://evil.example.com") == "evil.example.com"
    assert referrer_host(b"http://[2001:db8::1]:80/") == "[2001:db8::1]"
    for none in (b"-", b"", b"android-app://x"[:0], b"not a url", b"/relative/path"):
        assert referrer_host(none) is None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_crash_the_matcher(data: bytes) -> None:
    fmt = get_format("combined")
    found = fields(fmt, data + b"\n", "time", "ip", "request", "referrer")
    assert len(found) <= (data + b"\n").count(b"\n")
    for when, _ip, request, referrer in found:  # type: ignore[misc]
        parse_time(when)
        request_path(request)
        referrer_host(referrer)


_FIELD_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=60
)


@settings(max_examples=200, deadline=None)
@given(_FIELD_TEXT, _FIELD_TEXT)
def test_any_escaped_referer_round_trips(referrer: str, agent: str) -> None:
    def esc(text: str) -> bytes:  # what Apache does to a header value
        return text.encode().replace(b"\\", b"\\\\").replace(b'"', b'\\"')

    line = (
        b'192.0.2.1 - - [01/Jan/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "'
        + esc(referrer)
        + b'" "'
        + esc(agent)
        + b'"\n'
    )
    (row,) = fields(get_format("combined"), line, "referrer", "agent")
    assert unescape(row[0]) == referrer.encode()
    assert unescape(row[1]) == agent.encode()


_LINE = '192.0.2.1 - - [01/Jan/2024:00:00:00 +0000] "GET /search.php HTTP/1.1" 200 1 "{}" "a"\n'


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=300), st.text(max_size=40).map(
    lambda t: _LINE.format(t.replace("\n", "").replace('"', "")).encode("utf-8", "surrogatepass")
)), max_size=30))  # fmt: skip
def test_whole_files_of_junk_and_lines_never_crash_top_or_detect(
    tmp_path_factory: pytest.TempPathFactory, chunks: list[bytes]
) -> None:
    from stackwatch.weblog.detect import DetectOptions, detect_files
    from stackwatch.weblog.reader import LogReadError
    from stackwatch.weblog.top import count_by

    log = tmp_path_factory.mktemp("junk") / "access.log"
    log.write_bytes(b"".join(chunks))
    fmt = get_format("combined")
    if log.read_bytes()[:2] == b"\x1f\x8b":  # read as gzip: a broken one is a clear error
        try:
            count_by([str(log)], fmt, "referrer")
        except LogReadError as exc:
            assert str(log) in str(exc)
        return
    for by in ("referrer", "site", "path", "ip"):
        result = count_by([str(log)], fmt, by)
        assert result.total + result.stats.skipped == result.stats.lines
    findings, stats = detect_files([str(log)], fmt, ["www.example.com"],
                                   DetectOptions(min_history=0))  # fmt: skip
    assert stats.matched <= stats.lines
    assert findings == [] or all(f.requests > 0 for f in findings)
