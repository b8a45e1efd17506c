"""The HTTP side of ``stackwatch serve``: the metrics, a landing page and ``/-/healthy``, behind
the TLS and basic authentication of the web configuration, at most ``max_requests`` scrapes at once.

Every answer, the 401 included, is written in one piece with Nagle off: a scrape costs one
``send`` and never waits for a delayed ACK. Connections are kept alive, as Prometheus keeps them.
"""

from __future__ import annotations

import contextlib
import html
import logging
import math
import socket
import socketserver
import ssl
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from stackwatch import __version__
from stackwatch.core.record import dataclass
from stackwatch.serve.exposition import CONTENT_TYPE, metrics_text
from stackwatch.serve.runner import CheckRunner
from stackwatch.serve.settings import HEALTH_PATH, ListenAddress
from stackwatch.serve.webconfig import WebSecurity

log = logging.getLogger("stackwatch.serve")

TIMEOUT_OFFSET = 0.5  # answer this much before Prometheus gives up (blackbox_exporter's default)
IDLE_TIMEOUT = 300.0  # a kept-alive connection unused this long is closed
HANDSHAKE_TIMEOUT = 10.0
TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class WebSettings:
    """What a request reads; replaced whole on reload, so a request sees one version of it."""

    telemetry_path: str
    scrape_timeout: float
    security: WebSecurity
    limit: threading.BoundedSemaphore  # the scrapes that may run at once


def web_settings(
    telemetry_path: str, scrape_timeout: float, security: WebSecurity, max_requests: int
) -> WebSettings:
    return WebSettings(
        telemetry_path, scrape_timeout, security, threading.BoundedSemaphore(max_requests)
    )


def answer_within(configured: float, header: str | None) -> float:
    """Seconds a scrape may take: the configured limit, or Prometheus's own
    (X-Prometheus-Scrape-Timeout-Seconds) where lower, less a margin for the answer's way back."""
    limit = configured
    try:
        asked = float(header) if header else math.inf
    except ValueError:
        asked = math.inf
    if math.isfinite(asked) and asked > 0:
        limit = min(limit, asked)
    return max(0.0, limit - TIMEOUT_OFFSET)


class ExporterServer(ThreadingHTTPServer):
    """One thread per connection; TLS wrapped in that thread, never in the accepting one."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: ListenAddress, runner: CheckRunner, web: WebSettings) -> None:
        self.runner = runner
        self.web = web
        self.listen = address
        host = address.host
        if host == "":
            host = "::" if socket.has_dualstack_ipv6() else "0.0.0.0"
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, address.port), _Handler)

    def serve(self) -> None:
        """Answer until stop(); asleep in select between connections (no polling while idle)."""
        self.serve_forever(poll_interval=3600.0)

    def stop(self) -> None:
        """End serve() and close the socket. The loop sleeps until a connection comes, so a
        connection of our own wakes it once the stop is asked for."""
        stopping = threading.Thread(target=self.shutdown, daemon=True)
        stopping.start()
        address = self.socket.getsockname()[:2]
        for _ in range(50):
            with contextlib.suppress(OSError):
                socket.create_connection(address, timeout=1).close()
            stopping.join(0.1)
            if not stopping.is_alive():
                break
        self.server_close()

    def server_bind(self) -> None:
        if self.address_family == socket.AF_INET6 and self.listen.host == "":
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        # HTTPServer.server_bind would look the address up in DNS (getfqdn): not needed here
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.listen.host), self.socket.getsockname()[1]

    def finish_request(self, request: Any, client_address: Any) -> None:
        context = self.web.security.tls
        if context is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(HANDSHAKE_TIMEOUT)
        try:
            connection = context.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError) as exc:
            log.debug("TLS handshake with %s failed: %s", client_address[0], exc)
            return
        try:
            _Handler(connection, client_address, self)
        finally:
            connection.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection from %s ended with an error", client_address[0], exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = f"stackwatch/{__version__}"
    timeout = IDLE_TIMEOUT
    disable_nagle_algorithm = True
    server: ExporterServer

    def do_GET(self) -> None:
        self._route(with_body=True)

    def do_HEAD(self) -> None:
        self._route(with_body=False)

    def _route(self, with_body: bool) -> None:
        web = self.server.web
        auth = web.security.auth
        if auth is not None and not auth.allows(self.headers.get("Authorization")):
            challenge = (("WWW-Authenticate", 'Basic realm="stackwatch"'),)
            self._send(401, b"Unauthorized\n", TEXT, with_body, challenge)
            return
        path = self.path.split("?", 1)[0]
        if path == web.telemetry_path:
            self._metrics(web, with_body)
        elif path == HEALTH_PATH:
            self._send(200, b"OK\n", TEXT, with_body)
        elif path == "/":
            self._send(200, landing_page(web.telemetry_path), "text/html; charset=utf-8", with_body)
        else:
            self._send(404, b"Not Found\n", TEXT, with_body)

    def _metrics(self, web: WebSettings, with_body: bool) -> None:
        if not web.limit.acquire(blocking=False):
            self._send(503, b"too many scrapes at once\n", TEXT, with_body)
            return
        try:
            within = answer_within(
                web.scrape_timeout, self.headers.get("X-Prometheus-Scrape-Timeout-Seconds")
            )
            body = metrics_text(self.server.runner.results(within)).encode("utf-8")
        except Exception:  # a bug of ours: said in the log, the scraper gets a 500
            log.exception("scrape failed")
            self._send(500, b"internal error; see the service's log\n", TEXT, with_body)
            return
        finally:
            web.limit.release()
        self._send(200, body, CONTENT_TYPE, with_body)

    def _send(
        self,
        code: int,
        body: bytes,
        content_type: str,
        with_body: bool,
        extra: Sequence[tuple[str, str]] = (),
    ) -> None:
        reason = self.responses.get(code, ("",))[0]
        head = [
            f"{self.protocol_version} {code} {reason}",
            f"Date: {self.date_time_string()}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
            *(f"{name}: {value}" for name, value in (*extra, *self.server.web.security.headers)),
        ]
        if self.close_connection:
            head.append("Connection: close")
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(data + body if with_body else data)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s: " + format, self.address_string(), *args)


def landing_page(telemetry_path: str) -> bytes:
    path = html.escape(telemetry_path)
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>stackwatch</title></head>\n'
        f"<body><h1>stackwatch {html.escape(__version__)}</h1>\n"
        "<p>Health checks for cloud and hosting servers, as a Prometheus exporter.</p>\n"
        f'<ul><li><a href="{path}">Metrics</a> ({path})</li>\n'
        f'<li><a href="{HEALTH_PATH}">Health</a> ({HEALTH_PATH})</li></ul>\n'
        "</body></html>\n"
    ).encode()
