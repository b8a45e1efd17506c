"""Block rules: a rule matches the host it names (and its subdomains) and nothing else, and no
attacker-chosen value can break out of a directive."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from stackwatch.weblog.rules import (
    UnsafeHost,
    apache_rules,
    host_regex,
    nginx_map,
    normalize_host,
)
from tests.conftest import run_stackwatch

LABEL = st.from_regex(r"\A[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?\Z")
HOSTS = st.lists(LABEL, min_size=2, max_size=4).map(".".join)


def matches(host: str, referrer: str) -> bool:
    return re.search(host_regex(host), referrer, re.IGNORECASE) is not None


@settings(max_examples=300, deadline=None)
@given(HOSTS, LABEL, HOSTS)
def test_rule_matches_its_host_and_subdomains_and_no_unrelated_host(
    host: str, sub: str, other: str
) -> None:
    for url in (
        f"http://{host}/",
        f"https://{host}",
        f"https://{host.upper()}/page?x=1",
        f"http://{sub}.{host}:8080/x",
        f"https://user:pw@{host}/",
        f"https://{host}#frag",
        f"https://{host}?q",
    ):
        assert matches(host, url), url
    assume(other != host and not other.endswith("." + host))
    assume(not f"{host}.{other}".endswith("." + host))  # that one is a subdomain after all
    for url in (
        f"https://{other}/",
        f"https://{other}/{host}",
        f"https://{other}/?r=https://{host}/",
        f"https://{host}.{other}/",
        f"https://{host}x/",
        f"https://x{host}/",
        f"ftp://{host}/",
        f"https://{host}@{other}/",
    ):
        assert not matches(host, url), url


@pytest.mark.parametrize(
    "value",
    [
        'evil.com"',
        "evil.com [F]",
        "evil.com\nRewriteRule .* http://x [R]",
        "!evil.com",
        "[evil].com",
        "evil.com$1",
        "%{ENV:x}.com",
        "evil.com;",
        "evil.com}",
        "évil.com",
        "localhost",
        "",
        "a" * 64 + ".com",
        "-evil.com",
        "evil..com",
        "evil.com/",
        "evil.com:80",
    ],
)
def test_unsafe_values_are_refused(value: str) -> None:
    with pytest.raises(UnsafeHost):
        normalize_host(value)
    with pytest.raises(UnsafeHost):
        apache_rules([value])
    with pytest.raises(UnsafeHost):
        nginx_map([value])


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_text_gives_a_safe_rule_or_a_refusal(value: str) -> None:
    try:
        text = apache_rules([value, "ok.example.com"])
    except UnsafeHost:
        return
    lines = text.splitlines()
    assert lines[-1] == "RewriteRule .* - [F]"
    for line in lines[2:-1]:
        assert line.startswith("RewriteCond %{HTTP_REFERER} ^https?://")
        assert len(line.split(" ")) == 4  # no space could add an argument or a flag
    nginx = "".join(line for line in nginx_map([value]).splitlines() if not line.startswith("#"))
    assert nginx.count('"') == 2 and nginx.count("{") == 1 and nginx.count(";") == 2


def test_apache_chain_or_on_all_but_last() -> None:
    text = apache_rules(["b.example.com", "a.example.net", "B.example.com."])
    assert text.splitlines()[1:] == [
        "RewriteEngine On",
        r"RewriteCond %{HTTP_REFERER} ^https?://([^/?#]*@)?([^/?#@:\[.]+\.)*a\.example\.net"
        r"\.*(:[^/?#@]*)?([/?#]|$) [NC,OR]",
        r"RewriteCond %{HTTP_REFERER} ^https?://([^/?#]*@)?([^/?#@:\[.]+\.)*b\.example\.com"
        r"\.*(:[^/?#@]*)?([/?#]|$) [NC]",
        "RewriteRule .* - [F]",
    ]


def test_no_hosts_means_no_rule_that_could_block_everything() -> None:
    assert "RewriteRule" not in apache_rules([])
    assert '"~*' not in nginx_map([])
    assert "default 0;" in nginx_map([])


def test_cli_server_option_and_the_deprecated_format(tmp_path: Path) -> None:
    args = ("weblog", "rules", "--referrer-host", "seo-spam.example.net")
    nginx = run_stackwatch(*args, "--server", "nginx")
    assert nginx.returncode == 0 and nginx.stderr == ""
    assert "map $http_referer" in nginx.stdout
    old = run_stackwatch(*args, "--format", "nginx")
    assert old.returncode == 0 and old.stdout == nginx.stdout
    assert "--format is deprecated" in old.stderr and "--server nginx" in old.stderr
    apache = run_stackwatch(*args)
    assert apache.returncode == 0 and "RewriteRule .* - [F]" in apache.stdout
    for bad in (["--server", "lighttpd"], ["--format", "lighttpd"],
                ["--server", "apache", "--format", "nginx"]):  # fmt: skip
        result = run_stackwatch(*args, *bad)
        assert result.returncode == 2 and "Traceback" not in result.stderr, bad
    out = run_stackwatch(*args, "--server", "apache", "--out", "rules.conf", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "seo-spam" in (tmp_path / "rules.conf").read_text()
    failed = run_stackwatch(*args, "--out", str(tmp_path / "no" / "dir" / "rules.conf"))
    assert failed.returncode == 1 and failed.stderr.startswith("stackwatch: cannot write ")
