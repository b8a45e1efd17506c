"""The HTTP side, on 127.0.0.1: the endpoints, basic auth, TLS, added headers, the scrape
deadline Prometheus asks for, and the limit on scrapes at once."""

from __future__ import annotations

import base64
import http.client
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from stackwatch.core.result import Result, Status
from stackwatch.serve.runner import Served
from stackwatch.serve.settings import ListenAddress
from stackwatch.serve.web import ExporterServer, WebSettings, answer_within, web_settings
from stackwatch.serve.webconfig import BasicAuth, WebSecurity, load_web_security
from tests.conftest import free_port
from tests.unit.serve.helpers import bcrypt_hash, self_signed_certificate


class FakeRunner:
    def __init__(self, block: threading.Event | None = None) -> None:
        self.asked: list[float] = []
        self.block = block
        self.inside = threading.Event()

    def results(self, within: float) -> list[Served]:
        self.asked.append(within)
        self.inside.set()
        if self.block is not None:
            self.block.wait(10)
        return [Served(Result("links", Status.WARNING, "errors"), 0.01, 1.7e9)]


@contextmanager
def serving(web: WebSettings, runner: FakeRunner | None = None) -> Iterator[tuple[int, FakeRunner]]:
    runner = runner or FakeRunner()
    port = free_port()
    server = ExporterServer(ListenAddress("127.0.0.1", port), runner, web)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield port, runner
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def plain(path: str = "/metrics", security: WebSecurity | None = None) -> WebSettings:
    return web_settings(path, 10.0, security or WebSecurity(), 40)


def get(port: int, path: str, method: str = "GET", **headers: str) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(method, path, headers=headers)
    return connection.getresponse()


def test_metrics_landing_page_and_health() -> None:
    with serving(plain()) as (port, _):
        metrics = get(port, "/metrics")
        assert metrics.status == 200
        assert metrics.getheader("Content-Type") == "text/plain; version=0.0.4; charset=utf-8"
        assert 'stackwatch_check_status{check="links"} 1' in metrics.read().decode()
        landing = get(port, "/")
        assert landing.status == 200 and b'href="/metrics"' in landing.read()
        health = get(port, "/-/healthy")
        assert (health.status, health.read()) == (200, b"OK\n")
        assert get(port, "/nothing").status == 404
        assert get(port, "/metrics", method="POST").status == 501


def test_head_answers_without_a_body_and_connections_are_kept_alive() -> None:
    with serving(plain()) as (port, _):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("HEAD", "/metrics")
        head = connection.getresponse()
        assert head.status == 200 and int(head.getheader("Content-Length") or 0) > 0
        assert head.read() == b""
        for _ in range(3):  # the same connection, as Prometheus keeps it
            connection.request("GET", "/metrics")
            assert connection.getresponse().read().startswith(b"# HELP")


def test_the_telemetry_path_moves_the_metrics() -> None:
    with serving(plain("/stackwatch")) as (port, _):
        assert get(port, "/metrics").status == 404
        assert get(port, "/stackwatch").status == 200
        assert b'href="/stackwatch"' in get(port, "/").read()


def test_the_scrape_answers_before_prometheus_gives_up() -> None:
    with serving(plain()) as (port, runner):
        get(port, "/metrics", **{"X-Prometheus-Scrape-Timeout-Seconds": "4"}).read()
        get(port, "/metrics").read()
        get(port, "/metrics", **{"X-Prometheus-Scrape-Timeout-Seconds": "nan"}).read()
    assert runner.asked == [3.5, 9.5, 9.5]


@pytest.mark.parametrize(
    ("configured", "header", "expected"),
    [(10, "15", 9.5), (10, "2", 1.5), (10, None, 9.5), (10, "-1", 9.5), (10, "inf", 9.5),
     (10, "0.2", 0.0), (10, "x", 9.5)],
)  # fmt: skip
def test_answer_within(configured: float, header: str | None, expected: float) -> None:
    assert answer_within(configured, header) == expected


def auth_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_basic_auth_refuses_without_the_right_password() -> None:
    security = WebSecurity(auth=BasicAuth({"prometheus": bcrypt_hash("right")}))
    with serving(plain(security=security)) as (port, runner):
        refused = get(port, "/metrics")
        assert refused.status == 401
        assert refused.getheader("WWW-Authenticate", "").startswith("Basic")
        assert get(port, "/metrics", Authorization=auth_header("prometheus", "no")).status == 401
        assert get(port, "/-/healthy").status == 401
        ok = get(port, "/metrics", Authorization=auth_header("prometheus", "right"))
        assert ok.status == 200
    assert len(runner.asked) == 1  # a refused scrape runs no check


def test_headers_of_the_web_config_are_added(tmp_path: Path) -> None:
    (tmp_path / "web.yml").write_text(
        "http_server_config:\n  headers:\n    X-Frame-Options: deny\n"
    )
    security = load_web_security(str(tmp_path / "web.yml"))
    with serving(plain(security=security)) as (port, _):
        assert get(port, "/metrics").getheader("X-Frame-Options") == "deny"
        assert get(port, "/nothing").getheader("X-Frame-Options") == "deny"


def test_tls_from_the_web_config(tmp_path: Path) -> None:
    cert, _ = self_signed_certificate(tmp_path)
    (tmp_path / "web.yml").write_text(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
    )
    security = load_web_security(str(tmp_path / "web.yml"))
    with serving(plain(security=security)) as (port, _):
        context = ssl.create_default_context(cafile=str(cert))
        connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
        connection.request("GET", "/metrics")
        assert connection.getresponse().status == 200
        with pytest.raises((http.client.HTTPException, OSError)):
            get(port, "/metrics").read()  # plain HTTP to a TLS port gets no answer


def test_more_scrapes_at_once_than_allowed_get_503() -> None:
    block = threading.Event()
    runner = FakeRunner(block)
    with serving(web_settings("/metrics", 10.0, WebSecurity(), 1), runner) as (port, _):
        first = threading.Thread(target=lambda: get(port, "/metrics").read())
        first.start()
        assert runner.inside.wait(5)
        busy = get(port, "/metrics")
        assert busy.status == 503
        block.set()
        first.join()
        assert get(port, "/metrics").status == 200


def test_ipv6_loopback() -> None:
    import socket

    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    with socket.socket(socket.AF_INET6) as probe:
        probe.bind(("::1", 0))
        port = probe.getsockname()[1]
    server = ExporterServer(ListenAddress("::1", port), FakeRunner(), plain())  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        connection = http.client.HTTPConnection("::1", port, timeout=10)
        connection.request("GET", "/-/healthy")
        assert connection.getresponse().status == 200
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_stop_ends_a_server_asleep_between_connections() -> None:
    port = free_port()
    server = ExporterServer(ListenAddress("127.0.0.1", port), FakeRunner(), plain())  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve)
    thread.start()
    assert get(port, "/-/healthy").status == 200
    server.stop()
    thread.join(5)
    assert not thread.is_alive()
    with pytest.raises(OSError):
        get(port, "/-/healthy")
