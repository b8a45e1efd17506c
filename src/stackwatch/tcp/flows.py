"""Connections out of TCP segments: the handshake options, each side's effective window over time,
bytes in flight against it, zero windows and retransmissions. Facts only; verdict.py judges.

Sequence numbers wrap at 2**32: each side's are made relative to its first one and unwrapped, so a
capture that crosses the wrap is read as one stream.
"""

from __future__ import annotations

from collections.abc import Iterable

from stackwatch.core.record import dataclass, field
from stackwatch.tcp.pcap import ACK, RST, SYN, Options, Segment

SEQ_SPACE = 1 << 32
MAX_SAMPLES = 400  # window samples kept per side: enough for a plot, bounded for a long capture


@dataclass
class Side:
    """One direction's sender: what it offered and what it advertised."""

    endpoint: str
    handshake: Options | None = None  # the options of its SYN (or SYN-ACK)
    handshake_window: int | None = None
    windows: list[tuple[float, int]] = field(default_factory=list)  # (time, raw) after the SYN
    zero_windows: int = 0
    retransmissions: int = 0
    data_segments: int = 0
    bytes_sent: int = 0
    max_in_flight: int = 0
    window_limited: int = 0  # data segments sent with the peer's window (nearly) full
    first_data: float | None = None
    last_data: float | None = None
    last_window: int | None = None  # the latest raw window (samples stop at MAX_SAMPLES)
    # sequence tracking (unwrapped, relative to the first sequence number seen)
    seq_base: int | None = None
    seq_last: int = 0
    seq_high: int = 0  # highest sequence number sent + 1
    seq_acked: int | None = None  # highest acknowledgement received from the peer


@dataclass
class Connection:
    client: Side  # the side that sent the SYN (or the first segment seen)
    server: Side
    syn_time: float | None = None
    synack_time: float | None = None
    first: float = 0.0
    last: float = 0.0

    @property
    def handshake_seen(self) -> bool:
        return self.client.handshake is not None and self.server.handshake is not None

    @property
    def scaling(self) -> bool:
        """Whether both SYNs carried the window-scale option, as this capture saw them."""
        return bool(
            self.client.handshake
            and self.server.handshake
            and self.client.handshake.wscale is not None
            and self.server.handshake.wscale is not None
        )

    def shift(self, side: Side) -> int:
        """The shift applied to ``side``'s advertised windows (0 unless both offered scaling)."""
        if not self.scaling or side.handshake is None or side.handshake.wscale is None:
            return 0
        return side.handshake.wscale

    @property
    def rtt(self) -> float | None:
        """SYN to SYN-ACK as this capture saw it (the whole round trip from the client's side)."""
        if self.syn_time is None or self.synack_time is None:
            return None
        return max(self.synack_time - self.syn_time, 0.0)

    def sides(self) -> tuple[Side, Side]:
        return self.client, self.server

    def peer(self, side: Side) -> Side:
        return self.server if side is self.client else self.client


def connections(segments: Iterable[Segment]) -> list[Connection]:
    """Segments grouped by connection, in the order they started."""
    found: dict[tuple[str, str], Connection] = {}
    for segment in sorted(segments, key=lambda s: s.time):
        key = (min(segment.src, segment.dst), max(segment.src, segment.dst))
        connection = found.get(key)
        if connection is None or _new_handshake(connection, segment):
            connection = _start(segment)
            found[key] = connection
        _account(connection, segment)
    return sorted(found.values(), key=lambda c: c.first)


def _new_handshake(connection: Connection, segment: Segment) -> bool:
    """A fresh SYN on a reused port pair after the old connection carried data."""
    fresh = segment.is_syn and not segment.flags & ACK
    return fresh and connection.client.data_segments + connection.server.data_segments > 0


def _start(segment: Segment) -> Connection:
    if segment.is_syn and segment.flags & ACK:  # the SYN itself was not captured
        client, server = Side(segment.dst), Side(segment.src)
    else:
        client, server = Side(segment.src), Side(segment.dst)
    return Connection(client, server, first=segment.time, last=segment.time)


def _account(connection: Connection, segment: Segment) -> None:
    side = connection.client if segment.src == connection.client.endpoint else connection.server
    peer = connection.peer(side)
    connection.last = segment.time
    if segment.is_syn:
        _handshake(connection, side, segment)
    elif not segment.flags & RST:
        _window(connection, side, segment)
    _sequence(connection, side, peer, segment)


def _handshake(connection: Connection, side: Side, segment: Segment) -> None:
    side.handshake = segment.options
    side.handshake_window = segment.window
    if segment.flags & ACK:
        connection.synack_time = connection.synack_time or segment.time
    else:
        connection.syn_time = connection.syn_time or segment.time


def _window(connection: Connection, side: Side, segment: Segment) -> None:
    if segment.window == 0:
        side.zero_windows += 1
    side.last_window = segment.window
    if len(side.windows) < MAX_SAMPLES:
        side.windows.append((segment.time, segment.window))


def _unwrap(side: Side, raw: int) -> int:
    """``raw`` as a position in the side's stream, relative to its first sequence number."""
    if side.seq_base is None:
        side.seq_base = raw
        side.seq_last = 0
    relative = (raw - side.seq_base) % SEQ_SPACE
    # choose the unwrapped value nearest to the last one seen
    candidates = (relative + k * SEQ_SPACE for k in range(-1, 2 + side.seq_last // SEQ_SPACE))
    best = min(candidates, key=lambda value: abs(value - side.seq_last))
    side.seq_last = best
    return best


def _sequence(connection: Connection, side: Side, peer: Side, segment: Segment) -> None:
    if segment.flags & ACK and peer.seq_base is not None:
        acked = _unwrap_ack(peer, segment.ack)
        peer.seq_acked = acked if peer.seq_acked is None else max(peer.seq_acked, acked)
    start = _unwrap(side, segment.seq)
    if segment.length <= 0:
        side.seq_high = max(side.seq_high, start + (1 if segment.flags & SYN else 0))
        return
    _data(connection, side, peer, segment, start)


def _unwrap_ack(peer: Side, raw: int) -> int:
    assert peer.seq_base is not None
    relative = (raw - peer.seq_base) % SEQ_SPACE
    base = peer.seq_high - peer.seq_high % SEQ_SPACE
    candidates = (base + relative - SEQ_SPACE, base + relative, base + relative + SEQ_SPACE)
    return min(candidates, key=lambda value: abs(value - peer.seq_high))


def _data(connection: Connection, side: Side, peer: Side, segment: Segment, start: int) -> None:
    end = start + segment.length
    side.data_segments += 1
    side.first_data = side.first_data if side.first_data is not None else segment.time
    side.last_data = segment.time
    if end <= side.seq_high:
        side.retransmissions += 1
        return
    side.bytes_sent += end - max(start, side.seq_high)
    side.seq_high = end
    if side.seq_acked is None or peer.last_window is None:
        return
    in_flight = side.seq_high - side.seq_acked
    side.max_in_flight = max(side.max_in_flight, in_flight)
    peer_window = peer.last_window << connection.shift(peer)
    if peer_window and in_flight >= peer_window - segment.length:
        side.window_limited += 1


def effective(connection: Connection, side: Side) -> list[tuple[float, int]]:
    """The side's advertised windows in bytes over time (raw << its scale, where negotiated)."""
    shift = connection.shift(side)
    return [(time, raw << shift) for time, raw in side.windows]
