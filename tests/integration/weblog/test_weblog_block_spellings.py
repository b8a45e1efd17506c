"""Against real Apache and nginx: every spelling of a blocked Referer host that detection reads as
that host gets 403, every other host 200. One server start per server for all spellings."""

from __future__ import annotations

import http.client
import subprocess
import time

import pytest

from stackwatch.weblog.formats import referrer_host
from stackwatch.weblog.rules import render_rules

from .conftest import Server

pytestmark = pytest.mark.integration

BLOCKED = ["seo-spam.example.net", "xn--bcher-kva.example", "[2001:db8::1]", "[::1]"]
SPELLINGS = [
    "http://seo-spam.example.net/",
    "https://SEO-SPAM.Example.NET/x",
    "http://seo-spam.example.net./",  # the trailing dot of a fully qualified name
    "http://seo-spam.example.net..:8080/",
    "http://user:pw@seo-spam.example.net/",
    "http://a@b@seo-spam.example.net/",
    "http://good.example@seo-spam.example.net/",
    "http://seo-spam.example.net:8080/",
    "http://seo-spam.example.net:/",
    "http://seo-spam.example.net:junk/",
    "HTTPS://seo-spam.example.net?q=1",
    "https://seo-spam.example.net#top",
    "https://seo-spam.example.net",
    "http://www.seo-spam.example.net/",  # a subdomain: blocked with its parent
    "http://xn--bcher-kva.example/",
    "http://XN--BCHER-KVA.EXAMPLE./",
    "http://bücher.example/",  # the raw UTF-8 spelling of the same name
    "http://BüCHER.example:81/",
    "http://[2001:db8::1]/",
    "http://[2001:DB8::1]:8080/x",
    "http://u@[2001:db8::1]/",
    "http://[::1]/",
    "http://[::1]:80?x",
]
OTHERS = [
    None,
    "http://good.example/",
    "http://seo-spam.example.net.ok.example/",
    "http://xseo-spam.example.net/",
    "http://seo-spam.example.netx/",
    "http://seo-spam.example.net@good.example/",
    "http://seo-spam.example.net:x@good.example/",
    "http://good.example/?r=http://seo-spam.example.net/",
    "http://good.example/seo-spam.example.net",
    "ftp://seo-spam.example.net/",
    "seo-spam.example.net",
    "http://xn--bcher-kvb.example/",
    "http://bÜcher.example/",  # IDNA would fold it; detection and the rules keep it apart
    "http://[2001:db8::2]/",
    "http://[::2]/",
    "http://[::10]/",
]


def _get(port: int, referrer: str | None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.putrequest("GET", "/forum/search.php")
        if referrer is not None:
            conn.putheader("Referer", referrer.encode("utf-8"))  # raw bytes, as a client sends
        conn.endheaders()
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _install(server: Server) -> None:
    server.rules.write_text(render_rules(BLOCKED, server.kind), encoding="utf-8")
    subprocess.run(server.validate, check=True, timeout=30, capture_output=True)
    subprocess.run(server.reload, check=True, timeout=30, capture_output=True)
    # A reload is asynchronous (old workers answer a moment longer): wait for a steady 403.
    streak = 0
    deadline = time.monotonic() + 15
    while streak < 5 and time.monotonic() < deadline:
        streak = streak + 1 if _get(server.port, SPELLINGS[0]) == 403 else 0
        time.sleep(0.05)
    assert streak == 5, "the rules never took effect"


def _check(server: Server) -> None:
    for referrer in SPELLINGS:  # detection reads each as a blocked host (or a subdomain)
        read = referrer_host(referrer.encode())
        assert read is not None and any(read == h or read.endswith("." + h) for h in BLOCKED)
    for referrer in OTHERS[1:]:
        read = referrer_host(referrer.encode()) if referrer else None
        assert read is None or not any(read == h or read.endswith("." + h) for h in BLOCKED)
    _install(server)
    got = {r: _get(server.port, r) for r in SPELLINGS + OTHERS}
    wrong = {r: s for r, s in got.items() if s != (403 if r in SPELLINGS else 200)}
    assert not wrong, wrong


def test_apache_refuses_every_spelling_of_a_blocked_host_only(apache: Server) -> None:
    _check(apache)


def test_nginx_refuses_every_spelling_of_a_blocked_host_only(nginx: Server) -> None:
    _check(nginx)
