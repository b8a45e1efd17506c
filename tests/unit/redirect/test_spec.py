"""redirect: what is read from the command line, what is refused, and nft's listing read back."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackwatch.redirect import nft
from stackwatch.redirect.spec import (
    Endpoint,
    RedirectError,
    build,
    describe_expiry,
    parse_endpoint,
    refuse_loops,
)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("198.18.5.5", "198.18.5.5"),
        ("198.18.5.5:443", "198.18.5.5:443"),
        ("2001:db8::5", "2001:db8::5"),
        ("[2001:db8::5]:443", "[2001:db8::5]:443"),
        ("[2001:db8::5]", "2001:db8::5"),
    ],
)
def test_endpoints(text: str, shown: str) -> None:
    assert str(parse_endpoint(text, "--from")) == shown


@pytest.mark.parametrize(
    "text", ["partner.example", "198.18.5.5:0", "198.18.5.5:70000", "1.2.3.4:x", "0.0.0.0", "",
             "[2001:db8::5]x", "224.0.0.1", "1.2.3.4.5"],
)  # fmt: skip
def test_not_addresses_are_refused(text: str) -> None:
    with pytest.raises(RedirectError):
        parse_endpoint(text, "--from")


@given(st.text(max_size=60))
def test_any_text_is_an_endpoint_or_refused(text: str) -> None:
    try:
        endpoint = parse_endpoint(text, "--from")
    except RedirectError:
        return
    assert parse_endpoint(str(endpoint), "--from") == endpoint


def _e(text: str) -> Endpoint:
    return parse_endpoint(text, "--x")


def test_a_target_without_port_keeps_the_source_port() -> None:
    assert build(_e("198.18.5.5:80"), _e("198.18.4.2"), False, None).target.port == 80


@pytest.mark.parametrize(
    ("source", "target"),
    [("198.18.5.5", "198.18.5.5"), ("198.18.5.5:80", "198.18.5.5"),
     ("198.18.5.5", "198.18.4.2:80"), ("198.18.5.5", "2001:db8::1")],
)  # fmt: skip
def test_self_redirects_and_mixed_families_are_refused(source: str, target: str) -> None:
    with pytest.raises(RedirectError):
        build(_e(source), _e(target), False, None)


def test_chains_loops_and_duplicates_are_refused_within_a_scope() -> None:
    existing = [build(_e("198.18.5.5"), _e("198.18.4.2"), False, 60)]
    for source, target in (("198.18.4.2", "198.18.9.9"), ("198.18.9.9", "198.18.5.5"),
                           ("198.18.5.5", "198.18.9.9")):  # fmt: skip
        with pytest.raises(RedirectError):
            refuse_loops(build(_e(source), _e(target), False, None), existing)
    refuse_loops(build(_e("198.18.4.2"), _e("198.18.9.9"), True, None), existing)  # other scope


def test_the_element_carries_the_kernel_timeout() -> None:
    redirect = build(_e("198.18.5.5:80"), _e("198.18.4.2:8080"), False, 7200)
    assert nft.element(redirect) == (
        "add element inet stackwatch_redirect local_port4 "
        "{ 198.18.5.5 . 80 timeout 7200s : 198.18.4.2 . 8080 }"
    )
    forever = build(_e("2001:db8::5"), _e("2001:db8::6"), True, None)
    assert nft.element(forever) == (
        "add element inet stackwatch_redirect routed_addr6 { 2001:db8::5 : 2001:db8::6 }"
    )


def test_the_listing_is_read_back_with_time_left() -> None:
    listing = {"nftables": [
        {"metainfo": {"version": "1.0.6"}},
        {"map": {"family": "inet", "name": "local_port4", "table": "stackwatch_redirect",
                 "elem": [[{"elem": {"val": {"concat": ["198.18.5.5", 80]}, "timeout": 7200,
                                      "expires": 7199}}, {"concat": ["198.18.4.2", 8080]}]]}},
        {"map": {"family": "inet", "name": "routed_addr6", "table": "stackwatch_redirect",
                 "elem": [["2001:db8::5", "2001:db8::6"]]}},
        {"map": {"family": "inet", "name": "other", "table": "someone_else",
                 "elem": [["1.1.1.1", "2.2.2.2"]]}},
    ]}  # fmt: skip
    found = nft.parse_listing(json.dumps(listing))
    assert [(str(r.source), str(r.target), r.forwarded, r.expires_in) for r in found] == [
        ("198.18.5.5:80", "198.18.4.2:8080", False, 7199),
        ("2001:db8::5", "2001:db8::6", True, None),
    ]


def test_time_left_in_words() -> None:
    assert describe_expiry(None) == "never"
    assert describe_expiry(7199) == "1h59m59s"
    assert describe_expiry(0) == "0s"
    assert describe_expiry(86400 + 120) == "1d2m"
