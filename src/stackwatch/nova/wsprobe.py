"""Does the console proxy accept a token? A WebSocket opened on the console URL as noVNC opens
it, and the first thing the proxy relays read back.

nova-novncproxy (and the spice/serial proxies) upgrade the connection, then check the token
against the console auth tokens of the cell, then connect to the hypervisor's console and relay
its greeting ("RFB 003.008" for VNC). A refused token ends the connection with nothing relayed.
The reading of the proxy's answers (status line, frame headers) is pure and tested on hostile
input; the socket part is small and bounded by a deadline.
"""

from __future__ import annotations

import base64
import os
import socket
import ssl
import time
from urllib.parse import quote, urlsplit

from stackwatch.core.record import dataclass

MAX_HEADER = 16 << 10


class ProxyError(Exception):
    """The proxy could not be reached or did not speak WebSocket (step "proxy")."""


class TokenRefused(Exception):
    """The proxy upgraded the connection and closed it without relaying the console
    (step "console auth": the token refused, or the console behind it unreachable)."""


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    tls: bool
    path: str  # the request path with the token, as noVNC asks for it
    origin: str


@dataclass(frozen=True)
class Frame:
    opcode: int
    payload: bytes


def target_of(url: str, token: str) -> Target:
    """Where noVNC would open its WebSocket for this console URL: the proxy's host and port,
    path ``/?token=TOKEN`` (the proxy reads the token from the query)."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise ProxyError(f"the console URL has no host: {url[:200]!r}")
    tls = parts.scheme in ("https", "wss")
    try:
        port = parts.port or (443 if tls else 80)
    except ValueError:
        raise ProxyError(f"the console URL has a bad port: {url[:200]!r}") from None
    origin = f"{'https' if tls else 'http'}://{parts.netloc}"
    return Target(parts.hostname, port, tls, f"/?token={quote(token, safe='')}", origin)


def handshake(target: Target, key: str) -> bytes:
    host = f"[{target.host}]" if ":" in target.host else target.host
    lines = [
        f"GET {target.path} HTTP/1.1",
        f"Host: {host}:{target.port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Protocol: binary",
        f"Origin: {target.origin}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def upgrade_status(head: bytes) -> int:
    """The status code of the proxy's answer to the handshake (101 is the upgrade)."""
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(" ", 2)
    if (
        len(parts) < 2
        or not parts[0].startswith("HTTP/")
        or not (parts[1].isascii() and parts[1].isdigit())
    ):
        raise ProxyError(f"the proxy did not answer HTTP: {line[:80]!r}")
    return int(parts[1])


def parse_frame(data: bytes) -> tuple[Frame, int] | None:
    """One WebSocket frame from the start of ``data`` and its length in bytes; None where
    more bytes are needed. Frames from a server are never masked (RFC 6455 5.1)."""
    if len(data) < 2:
        return None
    opcode, length, offset = data[0] & 0x0F, data[1] & 0x7F, 2
    if data[1] & 0x80:
        raise ProxyError("the proxy sent a masked frame")
    if length == 126:
        if len(data) < 4:
            return None
        length, offset = int.from_bytes(data[2:4], "big"), 4
    elif length == 127:
        if len(data) < 10:
            return None
        length, offset = int.from_bytes(data[2:10], "big"), 10
    if len(data) < offset + length:
        return None
    return Frame(opcode, data[offset : offset + length]), offset + length


def greeting_of(frames: list[Frame]) -> bytes | None:
    """The console's first bytes relayed (binary or text frames), None where the proxy closed
    first."""
    for frame in frames:
        if frame.opcode == 0x8:
            return None
        if frame.opcode in (0x0, 0x1, 0x2) and frame.payload:
            return frame.payload
    return None


def _connect(target: Target, timeout: float) -> socket.socket:
    try:
        sock = socket.create_connection((target.host, target.port), timeout)
    except OSError as exc:
        raise ProxyError(f"cannot reach the proxy {target.host}:{target.port}: {exc}") from None
    if target.tls:
        context = ssl.create_default_context()
        try:
            return context.wrap_socket(sock, server_hostname=target.host)
        except (OSError, ssl.SSLError) as exc:
            sock.close()
            raise ProxyError(f"TLS with the proxy failed: {exc}") from None
    return sock


def _read_head(sock: socket.socket, deadline: float) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > MAX_HEADER or time.monotonic() > deadline:
            raise ProxyError("the proxy did not finish its answer to the handshake")
        chunk = sock.recv(4096)
        if not chunk:
            raise ProxyError("the proxy closed the connection during the handshake")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _read_frames(sock: socket.socket, data: bytes, deadline: float) -> list[Frame]:
    frames: list[Frame] = []
    while time.monotonic() < deadline:
        while (parsed := parse_frame(data)) is not None:
            frames.append(parsed[0])
            data = data[parsed[1] :]
        if greeting_of(frames) is not None or any(f.opcode == 0x8 for f in frames):
            return frames
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            break
        if not chunk:
            break
        data += chunk
    return frames


def probe_proxy(url: str, token: str, timeout: float) -> bytes:
    """Open the console as noVNC would and return the console's greeting; ProxyError where the
    proxy fails, TokenRefused where it closes without relaying anything."""
    target = target_of(url, token)
    deadline = time.monotonic() + timeout
    sock = _connect(target, timeout)
    try:
        sock.settimeout(max(0.1, timeout))
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(handshake(target, key))
        head, rest = _read_head(sock, deadline)
        status = upgrade_status(head)
        if status != 101:
            raise ProxyError(f"the proxy answered HTTP {status}, not a WebSocket upgrade")
        greeting = greeting_of(_read_frames(sock, rest, deadline))
    except OSError as exc:
        raise ProxyError(f"the proxy connection failed: {exc}") from None
    finally:
        sock.close()
    if greeting is None:
        raise TokenRefused("the proxy closed the console without relaying it")
    return greeting
