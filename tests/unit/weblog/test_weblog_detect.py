"""Detection: an iframe flood is found with its evidence; a news spike, search engines and the
site's own Referers never are."""

from __future__ import annotations

from pathlib import Path

from stackwatch.weblog.detect import (
    DetectOptions,
    Timeline,
    detect_files,
    is_own_host,
    is_search_engine,
)
from stackwatch.weblog.formats import get_format

from .logdata import iframe_flood, line, news_spike, normal_traffic

T0 = 1_700_000_000.0
SITES = ["www.example.com"]


def write(tmp_path: Path, lines: list[str], name: str = "access.log") -> str:
    path = tmp_path / name
    path.write_text("".join(sorted(lines, key=lambda x: x.split("[")[1][:20])))
    return str(path)


def test_iframe_flood_is_found_with_evidence(tmp_path: Path) -> None:
    lines = normal_traffic(T0, 600) + iframe_flood(T0 + 300, 60)
    timeline = Timeline([], [])
    findings, stats = detect_files(
        [write(tmp_path, lines)], get_format("combined"), SITES, timeline=timeline
    )
    assert stats.skipped == 0
    assert [f.host for f in findings] == ["seo-spam.example.net"]
    (flood,) = findings
    assert T0 + 300 <= flood.first_seen <= T0 + 302
    assert T0 + 355 <= flood.last_seen <= T0 + 360
    assert flood.ips == 20
    assert flood.requests >= 0.9 * 60 * 40
    assert flood.peak_rate >= 30
    assert flood.paths.most_common(1)[0][0] == "/forum/search.php"
    assert sum(timeline.totals) == len(lines)


def test_news_spike_search_engines_and_own_site_are_not_floods(tmp_path: Path) -> None:
    lines = normal_traffic(T0, 600) + news_spike(T0 + 200, 60)
    # Heavy traffic from a search engine and from the site's own pages: never flagged.
    for host in ("www.google.com", "www.google.co.uk", "yandex.ru", "static.example.com"):
        lines += iframe_flood(T0 + 400, 30, host=host)
    findings, _ = detect_files([write(tmp_path, lines)], get_format("combined"), SITES)
    assert findings == []


def test_flood_of_static_files_or_from_few_ips_is_not_a_referer_flood(tmp_path: Path) -> None:
    lines = normal_traffic(T0, 300)
    for s in range(60):  # one client hammering: an IP problem, not a Referer flood
        lines += [line(T0 + 100 + s, "203.0.113.9", "/search.php", "https://x.example.net/")] * 30
    for s in range(60):  # hot-linked images: static, cheap
        lines += [
            line(T0 + 200 + s, f"203.0.113.{i}", "/img/cat.jpg", "https://forum.example.net/")
            for i in range(1, 41)
        ]
    findings, _ = detect_files([write(tmp_path, lines)], get_format("combined"), SITES)
    assert findings == []


def test_a_referrer_that_always_sends_this_much_is_its_own_baseline(tmp_path: Path) -> None:
    steady = iframe_flood(T0, 1200, host="partner.example.org", per_second=10)
    lines = normal_traffic(T0, 1200) + steady
    options = DetectOptions(spike_factor=3.0)
    findings, _ = detect_files([write(tmp_path, lines)], get_format("combined"), SITES, options)
    assert findings == []


def test_search_engine_and_own_host_names() -> None:
    for host in ("www.google.com", "google.de", "www.google.co.uk", "duckduckgo.com",
                 "search.yahoo.co.jp", "cn.bing.com", "yandex.ru", "search.brave.com"):  # fmt: skip
        assert is_search_engine(host), host
    for host in ("google.attacker.com", "notgoogle.com", "attacker.com", "bing.evil.net", "com"):
        assert not is_search_engine(host), host
    assert is_search_engine("searx.example.org", ["searx"]) is False
    assert is_search_engine("searx.org", ["searx"])
    assert is_own_host("www.example.com", SITES) and is_own_host("cdn.example.com", SITES)
    assert not is_own_host("example.com.evil.net", SITES)
