"""Referer hosts grouped by site (registrable domain, Public Suffix List): detection judges a site
whole, `top --by referrer-site` shows the hosts inside each site, the suggested rule names the
site once; hostile hosts never break the grouping nor widen a block beyond a registrable domain."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from stackwatch.weblog.detect import DetectOptions, detect_files
from stackwatch.weblog.formats import get_format, referrer_host
from stackwatch.weblog.rules import UnsafeHost, normalize_host
from stackwatch.weblog.sites import group_hosts, registrable_domain
from tests.conftest import run_stackwatch

from .logdata import iframe_flood, normal_traffic

T0 = 1_700_000_000.0


def test_hosts_group_by_registrable_domain() -> None:
    assert registrable_domain("www.best-free-movies.example") == "best-free-movies.example"
    assert registrable_domain("best-free-movies.example") == "best-free-movies.example"
    assert registrable_domain("a.b.evil.co.uk") == "evil.co.uk"
    assert registrable_domain("cdn.seo-spam.example.net") == "example.net"
    # Public suffixes anyone can register under (private section): each name is its own site.
    assert registrable_domain("alice.github.io") == "alice.github.io"
    assert registrable_domain("x.alice.github.io") == "alice.github.io"
    # Never grouped: addresses, single labels, public suffixes, what no rule can name.
    assert registrable_domain("192.0.2.7") == "192.0.2.7"
    assert registrable_domain("[2001:db8::1]") == "[2001:db8::1]"
    assert registrable_domain("localhost") == "localhost"
    assert registrable_domain("co.uk") == "co.uk"
    assert registrable_domain("github.io") == "github.io"
    assert registrable_domain("-") == "-"
    assert registrable_domain("a b.evil.example") == "a b.evil.example"
    # IDN: the punycode form referrer_host gives, and the same site in upper case.
    assert registrable_domain("www.xn--bcher-kva.example") == "xn--bcher-kva.example"
    assert registrable_domain("WWW.Evil.Example.") == "evil.example"
    # A public suffix in Unicode (個人.香港) is one, spelled in punycode too.
    assert registrable_domain("b.a.xn--gmqw5a.xn--j6w193g") == "a.xn--gmqw5a.xn--j6w193g"
    assert registrable_domain("xn--gmqw5a.xn--j6w193g") == "xn--gmqw5a.xn--j6w193g"
    assert registrable_domain("www.xn--zz.example") == "www.xn--zz.example"  # not punycode


def test_group_hosts_sums_and_keeps_the_hosts_inside() -> None:
    groups = group_hosts([("www.a.example", 5), ("a.example", 3), ("b.example", 4), ("-", 1)])
    assert [(g.site, g.count) for g in groups] == [("a.example", 8), ("b.example", 4), ("-", 1)]
    assert groups[0].members() == [("www.a.example", 5), ("a.example", 3)]


_LABEL = st.from_regex(r"[a-zA-Z0-9_-]{1,12}", fullmatch=True)
_NAME = st.lists(_LABEL, min_size=1, max_size=5).map(".".join)
_HOSTILE = st.one_of(
    _NAME,
    _NAME.map(lambda n: n + "."),  # trailing dot
    _NAME.map(lambda n: n + "..:8080"),  # dots and a port
    _NAME.map(str.upper),
    st.sampled_from(["co.uk", "github.io", "com", "", ".", "..", "[::1]", "[2001:DB8::1]"]),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]"),
    st.text(min_size=1, max_size=30),  # any Unicode: IDN, controls, spaces, quotes
    st.text(alphabet="äöüßçéxn-.", min_size=1, max_size=20),
)


@given(_HOSTILE)
def test_a_hostile_host_groups_into_a_site_that_covers_it_and_no_more(raw: str) -> None:
    host = referrer_host(f"http://user@{raw}/path".encode())
    if host is None:
        return
    site = registrable_domain(host)
    # The site's rule covers the host: the host is the site or one of its subdomains.
    assert host == site or host.endswith("." + site), (host, site)
    assert registrable_domain(site) == site
    try:
        normalize_host(host)
    except UnsafeHost:
        assert site == host  # what no rule can name is never merged with anything
        return
    normalize_host(site)  # a blockable host always gives a blockable site
    if site != host:
        # Never wider than a registrable domain: a public suffix is never a site of others.
        assert "." in site and registrable_domain(site.split(".", 1)[1]) != site


def _split_flood(seconds: int) -> list[str]:
    """One site flooding through two hosts, each alone under min_rate (5/s), together at 8/s."""
    lines = iframe_flood(T0 + 120, seconds, "www.best-free-movies.example", per_second=4)
    lines += iframe_flood(T0 + 120, seconds, "best-free-movies.example", per_second=4)
    return sorted(normal_traffic(T0, 120 + seconds) + lines, key=lambda x: x.split("[")[1][:20])


def test_detection_judges_a_site_whole_and_names_its_hosts(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("".join(_split_flood(60)))
    options = DetectOptions(window=10, min_history=30)
    findings, _ = detect_files([str(log)], get_format("combined"), ["www.example.com"], options)
    assert [f.host for f in findings] == ["best-free-movies.example"]
    assert set(findings[0].hosts) == {"www.best-free-movies.example", "best-free-movies.example"}
    assert sum(findings[0].hosts.values()) == findings[0].requests


def test_detect_cli_suggests_one_rule_for_the_site(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("".join(_split_flood(60)))
    text = run_stackwatch("weblog", "detect", str(log), "--site", "www.example.com")
    assert text.returncode == 4, text.stderr
    assert "FLOOD Referer site best-free-movies.example" in text.stdout
    assert "www.best-free-movies.example (" in text.stdout
    block = [x for x in text.stdout.splitlines() if x.startswith("block with:")]
    assert block == [
        "block with: stackwatch weblog rules --referrer-host best-free-movies.example "
        "--server apache"
    ]
    doc = json.loads(run_stackwatch("weblog", "detect", str(log), "--site", "www.example.com",
                                    "--format", "json").stdout)  # fmt: skip
    hosts = dict(doc["findings"][0]["hosts"])
    assert doc["findings"][0]["referrer_site"] == "best-free-movies.example"
    assert set(hosts) == {"www.best-free-movies.example", "best-free-movies.example"}


def test_top_by_referrer_site_shows_the_hosts_inside(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("".join(_split_flood(20)))
    result = run_stackwatch("weblog", "top", str(log), "--by", "referrer-site", "--format", "json")
    assert result.returncode == 0, result.stderr
    rows = {r["key"]: r for r in json.loads(result.stdout)["rows"]}
    movies = rows["best-free-movies.example"]
    assert movies["count"] == 160
    assert {h["key"]: h["count"] for h in movies["hosts"]} == {
        "www.best-free-movies.example": 80,
        "best-free-movies.example": 80,
    }
    assert rows["google.com"]["hosts"] == [{"key": "www.google.com", "count": 175}]
    text = run_stackwatch("weblog", "top", str(log), "--by", "referrer-site").stdout
    assert "best-free-movies.example\n" in text and "    www.best-free-movies.example" in text
