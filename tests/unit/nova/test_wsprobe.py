"""The WebSocket side of the proxy probe: the handshake, the status line and frames read from
whatever a proxy (or something posing as one) sends."""

from __future__ import annotations

import contextlib
import socket
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackwatch.nova.wsprobe import (
    Frame,
    ProxyError,
    TokenRefused,
    greeting_of,
    handshake,
    parse_frame,
    probe_proxy,
    target_of,
    upgrade_status,
)


def test_target_and_handshake_as_novnc_opens_it() -> None:
    target = target_of("https://console.example:6080/vnc_lite.html?path=%3Ftoken%3Dx", "a b&c")
    assert (target.host, target.port, target.tls) == ("console.example", 6080, True)
    assert target.path == "/?token=a%20b%26c"
    request = handshake(target, "k").decode()
    assert request.startswith("GET /?token=a%20b%26c HTTP/1.1\r\n")
    assert "Origin: https://console.example:6080\r\n" in request


def test_frames() -> None:
    assert parse_frame(b"\x82\x0cRFB 003.008\n") == (Frame(2, b"RFB 003.008\n"), 14)
    assert parse_frame(b"\x82\x7e\x00") is None  # length still to come
    big = b"\x82\x7e\x01\x00" + b"x" * 256
    assert parse_frame(big) == (Frame(2, b"x" * 256), 260)
    assert greeting_of([Frame(8, b"")]) is None
    with pytest.raises(ProxyError, match="masked"):
        parse_frame(b"\x82\x81abcdx")


@given(st.binary(max_size=64))
def test_any_bytes_give_a_frame_none_or_proxy_error(data: bytes) -> None:
    try:
        parsed = parse_frame(data)
    except ProxyError:
        return
    if parsed is not None:
        assert parsed[1] <= len(data)


@given(st.binary(max_size=100))
def test_any_status_line_gives_a_code_or_proxy_error(head: bytes) -> None:
    with contextlib.suppress(ProxyError):
        assert upgrade_status(head) >= 0


def _server(answer: bytes) -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)

    def serve() -> None:
        conn, _ = sock.accept()
        conn.recv(4096)
        conn.sendall(answer)
        conn.close()
        sock.close()

    threading.Thread(target=serve, daemon=True).start()
    return int(sock.getsockname()[1])


def test_an_upgrade_then_a_close_is_a_refused_token() -> None:
    port = _server(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
    with pytest.raises(TokenRefused):
        probe_proxy(f"http://127.0.0.1:{port}/vnc_lite.html", "t", 5)


def test_a_greeting_is_an_accepted_token() -> None:
    port = _server(b"HTTP/1.1 101 Switching Protocols\r\n\r\n\x82\x0cRFB 003.008\n")
    assert probe_proxy(f"http://127.0.0.1:{port}/", "t", 5) == b"RFB 003.008\n"


def test_a_web_server_instead_of_the_proxy() -> None:
    port = _server(b"HTTP/1.1 404 Not Found\r\n\r\n")
    with pytest.raises(ProxyError, match="HTTP 404"):
        probe_proxy(f"http://127.0.0.1:{port}/", "t", 5)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with pytest.raises(ProxyError, match="cannot reach"):
        probe_proxy(f"http://127.0.0.1:{port}/", "t", 2)
