"""Captures written with dpkt for the tests: a handshake with chosen options, then data."""

from __future__ import annotations

import io
import socket
import struct

import dpkt

CLIENT = ("198.18.1.2", 40000)
SERVER = ("198.18.2.2", 5201)


def options(mss: int | None = 1460, wscale: int | None = 7, sack: bool = True) -> bytes:
    raw = b""
    if mss is not None:
        raw += struct.pack("!BBH", 2, 4, mss)
    if sack:
        raw += b"\x04\x02"
    if wscale is not None:
        raw += b"\x01" + struct.pack("!BBB", 3, 3, wscale)
    return raw + b"\x00" * (-len(raw) % 4)


def frame(
    src: tuple[str, int],
    dst: tuple[str, int],
    flags: int,
    seq: int,
    ack: int,
    win: int,
    payload: int = 0,
    opts: bytes = b"",
) -> bytes:
    tcp = dpkt.tcp.TCP(
        sport=src[1], dport=dst[1], seq=seq % (1 << 32), ack=ack % (1 << 32), flags=flags,
        win=win, opts=opts, data=b"x" * payload,
    )  # fmt: skip
    tcp.off = (20 + len(opts)) // 4
    ip = dpkt.ip.IP(
        src=socket.inet_aton(src[0]), dst=socket.inet_aton(dst[0]), p=dpkt.ip.IP_PROTO_TCP, data=tcp
    )
    ip.len = 20 + len(bytes(tcp))
    eth = dpkt.ethernet.Ethernet(
        src=b"\x02" * 6, dst=b"\x04" * 6, type=dpkt.ethernet.ETH_TYPE_IP, data=ip
    )
    return bytes(eth)


def pcap(frames: list[bytes], snaplen: int = 65535) -> bytes:
    out = io.BytesIO()
    writer = dpkt.pcap.Writer(out, snaplen=snaplen)
    for index, data in enumerate(frames):
        writer.writepkt(data, ts=1000.0 + index * 0.01)
    return out.getvalue()


SYN, ACK, PSH = dpkt.tcp.TH_SYN, dpkt.tcp.TH_ACK, dpkt.tcp.TH_PUSH


def transfer(
    client_wscale: int | None,
    server_wscale: int | None,
    server_windows: int,
    rounds: int = 10,
    chunk: int = 1000,
) -> list[bytes]:
    """A handshake, then the client sends ``chunk`` bytes per round, acked by the server with a
    raw window of ``server_windows``."""
    c_isn, s_isn = 4_294_967_000, 5000  # the client's sequence numbers wrap during the transfer
    frames = [
        frame(CLIENT, SERVER, SYN, c_isn, 0, 64240, opts=options(wscale=client_wscale)),
        frame(
            SERVER, CLIENT, SYN | ACK, s_isn, c_isn + 1, 65160, opts=options(wscale=server_wscale)
        ),
        frame(CLIENT, SERVER, ACK, c_isn + 1, s_isn + 1, 502),
    ]
    sent = 1
    for _ in range(rounds):
        frames.append(frame(CLIENT, SERVER, ACK | PSH, c_isn + sent, s_isn + 1, 502, chunk))
        sent += chunk
        frames.append(frame(SERVER, CLIENT, ACK, s_isn + 1, c_isn + sent, server_windows))
    return frames
