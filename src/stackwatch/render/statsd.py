"""StatsD gauges, many per UDP datagram (newline-separated), each datagram at most 1432 bytes."""

from __future__ import annotations

import math
import re
import socket
from collections.abc import Iterable, Sequence
from typing import Any

from stackwatch.core.result import Result

MAX_DATAGRAM = 1432  # fits an Ethernet MTU of 1500 with IP and UDP headers, as StatsD advises
_INVALID = re.compile(r"[^A-Za-z0-9_.-]")


class StatsdError(Exception):
    pass


def _part(text: str) -> str:
    return _INVALID.sub("_", text.replace(".", "_")) or "_"


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.6g}"


def statsd_lines(results: Sequence[Result], prefix: str) -> list[str]:
    """One gauge line per metric: ``PREFIX.CHECK.METRIC:VALUE|g``.

    A leading sign makes a StatsD gauge a relative change, so a negative value is sent as a reset
    to 0 followed by the negative value.
    """
    lines: list[str] = []
    for result in results:
        if result.skipped:
            continue
        lines.append(f"{prefix}.{_part(result.check)}.status:{int(result.status)}|g")
        for metric in result.metrics:
            if math.isnan(metric.value) or math.isinf(metric.value):
                continue
            name = f"{prefix}.{_part(result.check)}.{_part(metric.label)}"
            if metric.value < 0:
                lines.append(f"{name}:0|g")
            lines.append(f"{name}:{_number(metric.value)}|g")
    return lines


def pack_datagrams(lines: Iterable[str], limit: int = MAX_DATAGRAM) -> list[bytes]:
    """Join lines with newlines into as few datagrams as fit ``limit`` bytes each."""
    datagrams: list[bytes] = []
    current = b""
    for line in lines:
        data = line.encode()
        if len(data) > limit:
            continue  # cannot be sent whole; a cut gauge would be a wrong value
        if current and len(current) + 1 + len(data) > limit:
            datagrams.append(current)
            current = b""
        current = data if not current else current + b"\n" + data
    if current:
        datagrams.append(current)
    return datagrams


def parse_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise StatsdError(f"invalid StatsD address {text!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


def send_statsd(results: Sequence[Result], address: str, prefix: str, timeout: float = 5.0) -> int:
    """Send every metric; returns the number of datagrams. UDP never blocks the check, and the
    name lookup of the StatsD host is bounded by ``timeout`` seconds."""
    return send_lines(statsd_lines(results, prefix), address, timeout)


def send_lines(lines: Iterable[str], address: str, timeout: float = 5.0) -> int:
    """Send StatsD lines packed into as few datagrams as fit; returns the number of datagrams.
    The name lookup of the StatsD host is bounded by ``timeout`` seconds."""
    host, port = parse_address(address)
    datagrams = pack_datagrams(lines)
    family, kind, proto, _, sockaddr = resolve(host, port, timeout)[0]
    with socket.socket(family, kind, proto) as sock:
        for datagram in datagrams:
            try:
                sock.sendto(datagram, sockaddr)
            except OSError as exc:
                raise StatsdError(f"cannot send to StatsD at {address}: {exc}") from exc
    return len(datagrams)


def resolve(host: str, port: int, timeout: float) -> list[tuple[Any, ...]]:
    """getaddrinfo within ``timeout`` seconds: a resolver that does not answer (a dead DNS
    server) must not hold a Nagios plugin past its limit. The lookup runs in a daemon thread,
    which is left behind if it does not finish."""
    import threading

    outcome: list[Any] = []

    def lookup() -> None:
        try:
            outcome.append(socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM))
        except (OSError, UnicodeError) as exc:
            outcome.append(exc)

    worker = threading.Thread(target=lookup, name="statsd-resolve", daemon=True)
    worker.start()
    worker.join(max(timeout, 0.0))
    if not outcome:
        raise StatsdError(f"cannot resolve StatsD host {host}: no answer within {timeout:g} s")
    if isinstance(outcome[0], Exception):
        raise StatsdError(f"cannot resolve StatsD host {host}: {outcome[0]}")
    return list(outcome[0])
