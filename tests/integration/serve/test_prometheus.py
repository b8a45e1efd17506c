"""Debian's Prometheus scrapes ``stackwatch serve`` on 127.0.0.1, with one line of configuration per
target: every check reaches its HTTP API; with TLS and basic auth on, a scrape without the
password is refused (401) while the one with it gets the metrics."""

from __future__ import annotations

import base64
import http.client
import ssl
import urllib.error
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from stackwatch.core.registry import check_names
from tests.integration.serve.conftest import Running, prometheus_api, wait_until
from tests.unit.serve.helpers import bcrypt_hash, self_signed_certificate

pytestmark = pytest.mark.integration

SCRAPE = "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n"


def own_metrics(serve: Running, **kwargs: object) -> dict[str, dict[str, float]]:
    """family -> check -> value, from a scrape of our own."""
    connection = http.client.HTTPConnection("127.0.0.1", serve.port, timeout=30)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    found: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if "check" in sample.labels:
                found.setdefault(sample.name, {})[sample.labels["check"]] = sample.value
    return found


def series_by_check(prometheus: Running, query: str) -> dict[str, float]:
    try:
        data = prometheus_api(prometheus, "query", query=query)
    except urllib.error.HTTPError as exc:
        if exc.code == 503:  # Prometheus still starting (its TSDB): no series yet
            return {}
        raise
    return {r["metric"]["check"]: float(r["value"][1]) for r in data["result"]}


def test_prometheus_gets_every_check(
    tmp_path: Path,
    start_serve: Callable[..., Running],
    start_prometheus: Callable[[str], Running],
) -> None:
    (tmp_path / "stackwatch.toml").write_text("")
    serve = start_serve("--config", "stackwatch.toml", "--state-dir", str(tmp_path / "state"))
    prometheus = start_prometheus(
        SCRAPE + f"  - job_name: stackwatch\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{serve.port}']\n"
    )
    every = set(check_names())
    wait_until(
        lambda: set(series_by_check(prometheus, "stackwatch_check_success")) == every,
        60,
        "a stackwatch_check_success series for every check",
    )
    ours = own_metrics(serve)
    applies = {name for name, skipped in ours["stackwatch_check_skipped"].items() if not skipped}
    assert applies, "no check applies on this machine"
    # every check has a status, once its first run has ended (a slow one, waiting on a service
    # that is not there, may report after the first scrapes); one that does not apply here is OK
    # and says so in stackwatch_check_skipped
    for metric in ("stackwatch_check_status", "stackwatch_check_skipped"):
        wait_until(
            lambda metric=metric: set(series_by_check(prometheus, metric)) == every,
            60,
            f"a {metric} series for every check",
        )
    statuses = series_by_check(prometheus, "stackwatch_check_status")
    assert applies <= set(statuses)
    wait_until(
        lambda: set(series_by_check(prometheus, "stackwatch_check_duration_seconds")) == every,
        60,
        "a stackwatch_check_duration_seconds series for every check",
    )
    up = prometheus_api(prometheus, "query", query="up")["result"]
    assert [r["value"][1] for r in up] == ["1"]
    build = prometheus_api(prometheus, "query", query="stackwatch_build_info")["result"]
    assert len(build) == 1


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_tls_and_basic_auth_refuse_a_scrape_without_the_password(
    tmp_path: Path,
    start_serve: Callable[..., Running],
    start_prometheus: Callable[[str], Running],
) -> None:
    cert, _ = self_signed_certificate(tmp_path)
    (tmp_path / "web.yml").write_text(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        f"basic_auth_users:\n  prometheus: '{bcrypt_hash('s3cret', rounds=10)}'\n"
    )
    (tmp_path / "stackwatch.toml").write_text('[serve]\nchecks = ["links", "tcp-retransmits"]\n')
    serve = start_serve(
        "--web.config.file", "web.yml",
        "--config", "stackwatch.toml", "--state-dir", str(tmp_path / "state"),
    )  # fmt: skip
    target = f"    scheme: https\n    tls_config:\n      ca_file: {cert}\n" + (
        f"    static_configs:\n      - targets: ['127.0.0.1:{serve.port}']\n"
    )
    prometheus = start_prometheus(
        SCRAPE
        + "  - job_name: with_password\n"
        + "    basic_auth:\n      username: prometheus\n      password: s3cret\n"
        + target
        + "  - job_name: without_password\n"
        + target
    )

    def health() -> dict[str, tuple[str, str]]:
        targets = prometheus_api(prometheus, "targets")["activeTargets"]
        found = {t["labels"]["job"]: (t["health"], t["lastError"]) for t in targets}
        return found if all(h != "unknown" for h, _ in found.values()) else {}

    jobs = wait_until(health, 30, "both targets scraped")
    assert jobs["with_password"] == ("up", "")
    assert jobs["without_password"][0] == "down"
    assert "401" in jobs["without_password"][1]
    statuses = wait_until(
        lambda: series_by_check(prometheus, 'stackwatch_check_status{job="with_password"}'),
        30,
        "the metrics of the scrape with the password",
    )
    assert set(statuses) == {"links", "tcp-retransmits"}

    context = ssl.create_default_context(cafile=str(cert))
    connection = http.client.HTTPSConnection("127.0.0.1", serve.port, context=context, timeout=10)
    connection.request("GET", "/metrics")
    refused = connection.getresponse()
    assert refused.status == 401 and b"stackwatch_check_status" not in refused.read()
    connection.request("GET", "/metrics", headers={"Authorization": basic("prometheus", "no")})
    assert connection.getresponse().status == 401
    plain = http.client.HTTPConnection("127.0.0.1", serve.port, timeout=10)
    with pytest.raises((http.client.HTTPException, OSError)):
        plain.request("GET", "/metrics")
        plain.getresponse().read()
