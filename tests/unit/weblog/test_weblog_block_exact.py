"""A block rule refuses every spelling of a Referer that detection reads as the blocked host (case,
trailing dots, user info, ports, punycode or its Unicode spelling, IPv6 literals), and never a
Referer detection reads as an unrelated host. The rule is tried as the web servers run it: a
byte-wise, ASCII case-insensitive regex over the raw header (PCRE without UTF mode)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackwatch.weblog.formats import referrer_host, unicode_spelling
from stackwatch.weblog.rules import UnsafeHost, host_regex, normalize_host

LABEL = st.from_regex(r"\A[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?\Z")
NAMES = st.lists(LABEL, min_size=2, max_size=3).map(".".join)
BLOCKED = st.one_of(
    NAMES,
    st.sampled_from(
        ["xn--bcher-kva.example", "xn--mnchen-3ya.de", "[::1]", "[2001:db8::1]", "1.2.3.4"]
    ),
)
JUNK = st.text(alphabet="aZ09.-_:@[]%!$ü\\", max_size=6)


def blocks(host: str, referrer: bytes) -> bool:
    """As Apache (RewriteCond ... [NC]) and nginx (~*) compare: bytes, ASCII case folding."""
    rule = re.compile(host_regex(host).encode("utf-8"), re.IGNORECASE)
    return rule.search(referrer) is not None


def same_or_subdomain(host: str, read: str | None) -> bool:
    """``read`` is the host, or a subdomain of it in either spelling (a subdomain label that IDNA
    refuses, such as ``%.bücher.example``, keeps the raw spelling: still a subdomain)."""
    if read is None:
        return False
    spelled = unicode_spelling(host) if host.startswith("xn--") else None
    parents = [host] if spelled is None else [host, spelled]
    return read == host or any(read.endswith("." + parent) for parent in parents)


def _mixed_case(text: str, flips: list[bool]) -> str:
    """ASCII letters flipped to upper case (detection folds ASCII case only)."""
    return "".join(
        c.upper() if c.isascii() and flips[i % len(flips)] else c for i, c in enumerate(text)
    )


@st.composite
def spellings(draw: st.DrawFn, host: str) -> bytes:
    """A Referer whose host is ``host`` in one of the spellings detection accepts."""
    name = host
    if host.startswith("xn--") and draw(st.booleans()):
        name = host.encode().decode("idna")  # the raw UTF-8 spelling some clients send
    name = _mixed_case(name, draw(st.lists(st.booleans(), min_size=1, max_size=5)))
    if not host.startswith("["):
        name += "." * draw(st.integers(0, 2))
    scheme = _mixed_case(draw(st.sampled_from(["http", "https"])), [draw(st.booleans())])
    user = draw(st.sampled_from(["", "u@", "u:p@", "a@b@", "evil.example@"]))
    port = draw(st.sampled_from(["", ":80", ":8080", ":", ":x"]))
    rest = draw(st.sampled_from(["", "/", "/page?x=1", "?q", "#f", "/a@b:c"]))
    return f"{scheme}://{user}{name}{port}{rest}".encode()


@settings(max_examples=300, deadline=None)
@given(st.data(), BLOCKED)
def test_every_spelling_detection_reads_as_the_host_is_blocked(
    data: st.DataObject, host: str
) -> None:
    referrer = data.draw(spellings(host))
    assert referrer_host(referrer) == host, referrer
    assert blocks(host, referrer), referrer


@settings(max_examples=600, deadline=None)
@given(BLOCKED, JUNK, JUNK, JUNK, st.sampled_from(["http://", "HTTPS://", "ftp://", "//"]))
def test_a_blocked_referer_is_always_the_host_or_a_subdomain(
    host: str, before: str, middle: str, after: str, scheme: str
) -> None:
    """Attacker text around the host: whatever the rule refuses, detection reads as the host
    (or a subdomain, blocked with it); whatever detection reads as the host, the rule refuses."""
    spelled = host.encode().decode("idna") if host.startswith("xn--") else host
    for text in (
        f"{scheme}{before}{spelled}{after}",
        f"{scheme}{before}{middle}{spelled}{after}/x",
        f"{scheme}{before}@{spelled}{middle}",
        f"{scheme}{host}{middle}{after}",
    ):
        referrer = text.encode()
        read = referrer_host(referrer)
        if blocks(host, referrer):
            assert same_or_subdomain(host, read), (referrer, read)
        if read == host:
            assert blocks(host, referrer), referrer


@settings(max_examples=300, deadline=None)
@given(BLOCKED, st.binary(max_size=60))
def test_random_bytes_never_block_an_unrelated_host(host: str, junk: bytes) -> None:
    for referrer in (junk, b"http://" + junk, b"https://" + junk + host.encode()):
        read = referrer_host(referrer)
        if blocks(host, referrer):
            assert same_or_subdomain(host, read), (referrer, read)
        if read == host:
            assert blocks(host, referrer), referrer


def test_unicode_spellings_that_idna_would_fold_are_not_taken_for_the_punycode_host() -> None:
    """Upper-case or full-width letters beyond ASCII: IDNA maps them to the same name, a web
    server's regex does not; detection keeps them apart, and no rule is written for them."""
    for raw in ("http://BÜCHER.example/", "http://\uff42ücher.example/"):
        read = referrer_host(raw.encode())
        assert read is not None and not read.startswith("xn--")
        with pytest.raises(UnsafeHost):
            normalize_host(read)
    assert referrer_host("http://Bücher.EXAMPLE./".encode()) == "xn--bcher-kva.example"


@pytest.mark.parametrize(
    "value",
    [
        "evil.example\n",
        "evil\n.example",
        "evil.example\r",
        "evil.example\nRewriteRule .* http://x [R]",
        " evil.example",
        "evil.example ",
        "\tevil.example",
        "[::1]\n",
        "[::1%eth0]",
        "[fe80::1]x",
        "[::1]]",
        "[not:an:address]",
        "[::1 ]",
        "evil.example\x00",
        "evil.example\u2028",
    ],
)
def test_line_breaks_and_rule_syntax_are_refused(value: str) -> None:
    with pytest.raises(UnsafeHost):
        normalize_host(value)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_an_accepted_host_is_plain_on_its_whole_length(value: str) -> None:
    try:
        host = normalize_host(value)
    except UnsafeHost:
        return
    assert re.fullmatch(r"[a-z0-9_.-]+|\[[0-9a-f:.]+\]", host), host
    assert host_regex(host).isascii() or host.startswith("xn--")


def test_an_ipv6_literal_referer_can_be_blocked() -> None:
    host = referrer_host(b"http://[2001:DB8::1]:8080/x")
    assert host == "[2001:db8::1]"
    assert blocks(normalize_host(host), b"https://user@[2001:db8::1]/")
    assert not blocks(host, b"https://[2001:db8::2]/")
    assert not blocks(host, b"https://[2001:db8::1].evil.example/x") or (
        referrer_host(b"https://[2001:db8::1].evil.example/x") == host
    )
