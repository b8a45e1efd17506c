"""TCP segments out of a pcap or pcapng file, read with dpkt (never parsed by hand).

A capture is untrusted input: a file cut short, packets cut by the snap length, option bytes that
make no sense. Every packet that cannot be read as a TCP segment with sound options is skipped and
counted by reason (``Skipped``), never guessed at; a record cut short ends the reading and is
counted too.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from typing import IO, Any

import dpkt

from stackwatch.core.record import dataclass, field

# pcap link types (tcpdump's DLT_ numbers) this reader knows how to open
LINK_ETHERNET = 1
LINK_NULL = 0
LINK_LOOP = 108
LINK_RAW = (12, 14, 101)
LINK_SLL = 113
LINK_SLL2 = 276

PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
MAX_WSCALE = 14  # RFC 7323: larger shifts are invalid

FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10


class PcapError(Exception):
    """The file is not a capture this reader can open (the whole file, not one packet)."""


@dataclass(frozen=True)
class Options:
    """The TCP options that matter to the handshake (None: absent)."""

    mss: int | None = None
    wscale: int | None = None
    sack_ok: bool = False
    timestamps: bool = False


@dataclass(frozen=True)
class Segment:
    time: float
    src: str  # "address:port" ("[v6]:port" for IPv6)
    dst: str
    flags: int
    seq: int
    ack: int
    window: int  # as on the wire, before any scaling
    length: int  # payload bytes, from the IP header (a snap length does not shrink it)
    options: Options

    @property
    def is_syn(self) -> bool:
        return bool(self.flags & SYN)


@dataclass
class Skipped:
    """Packets that were not read, by reason."""

    not_tcp: int = 0
    cut: int = 0  # cut by the snap length before the end of the TCP header
    undecodable: int = 0  # bytes that are not the packet their link type says
    bad_options: int = 0  # TCP options with impossible lengths or values
    truncated_file: int = 0  # a record header or body cut short at the end of the file

    @property
    def hostile(self) -> int:
        """Packets skipped because they were damaged (not merely some other protocol)."""
        return self.cut + self.undecodable + self.bad_options + self.truncated_file

    def as_dict(self) -> dict[str, int]:
        return {
            "not_tcp": self.not_tcp,
            "cut": self.cut,
            "undecodable": self.undecodable,
            "bad_options": self.bad_options,
            "truncated_file": self.truncated_file,
        }


@dataclass
class Capture:
    segments: list[Segment] = field(default_factory=list)
    skipped: Skipped = field(default_factory=Skipped)
    packets: int = 0


class _Skip(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def read_capture(handle: IO[bytes]) -> Capture:
    """Every TCP segment of the capture on ``handle`` (pcap or pcapng), the rest counted."""
    watched = _Watched(handle)
    reader, link = _open(watched)
    watched.records_start()
    capture = Capture()
    records = iter(reader)
    while True:
        try:
            time, frame = next(records)
        except StopIteration:
            break
        except (dpkt.UnpackError, ValueError, struct.error):
            capture.skipped.truncated_file += 1
            break
        if watched.cut_short:  # dpkt hands over a record body the file ended inside
            capture.skipped.truncated_file += 1
            break
        capture.packets += 1
        _add(capture, float(time), bytes(frame), link)
    return capture


class _Watched:
    """The capture file as dpkt reads it, noticing a record cut short at the end: dpkt's pcap
    reader reads a record header, then the body, and yields a short body without a word."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self._reads: int | None = None  # reads since the file header (None: still in it)
        self.cut_short = False

    def records_start(self) -> None:
        self._reads = 0

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        if self._reads is not None:
            is_body = self._reads % 2 == 1
            self._reads += 1
            if size > 0 and len(data) < size and (data or is_body):
                self.cut_short = True
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._handle.seek(offset, whence)

    def tell(self) -> int:
        return self._handle.tell()


def _open(handle: _Watched) -> tuple[Any, int]:
    magic = handle.read(4)
    handle.seek(0)
    try:
        reader: Any = (
            dpkt.pcapng.Reader(handle) if magic == PCAPNG_MAGIC else dpkt.pcap.Reader(handle)
        )
    except (dpkt.UnpackError, ValueError, struct.error) as exc:
        raise PcapError(f"not a pcap or pcapng capture ({exc or 'bad header'})") from None
    link = int(reader.datalink())
    if link not in (LINK_ETHERNET, LINK_NULL, LINK_LOOP, LINK_SLL, LINK_SLL2, *LINK_RAW):
        raise PcapError(f"link type {link} is not one this reader knows (Ethernet, SLL, raw IP)")
    return reader, link


def _add(capture: Capture, time: float, frame: bytes, link: int) -> None:
    try:
        segment = _segment(time, frame, link)
    except _Skip as skip:
        setattr(capture.skipped, skip.reason, getattr(capture.skipped, skip.reason) + 1)
        return
    except (dpkt.UnpackError, ValueError, IndexError, struct.error):
        capture.skipped.undecodable += 1
        return
    capture.segments.append(segment)


def _network_layer(frame: bytes, link: int) -> Any:
    """The IPv4 or IPv6 packet of a frame, or _Skip."""
    if link == LINK_ETHERNET:
        packet = dpkt.ethernet.Ethernet(frame).data
    elif link == LINK_SLL:
        packet = dpkt.sll.SLL(frame).data
    elif link == LINK_SLL2:
        packet = dpkt.sll2.SLL2(frame).data
    elif link in (LINK_NULL, LINK_LOOP):
        packet = dpkt.loopback.Loopback(frame).data
    else:
        packet = _raw_ip(frame)
    if not isinstance(packet, (dpkt.ip.IP, dpkt.ip6.IP6)):
        raise _Skip("not_tcp")
    return packet


def _raw_ip(frame: bytes) -> Any:
    if not frame:
        raise _Skip("undecodable")
    version = frame[0] >> 4
    if version == 4:
        return dpkt.ip.IP(frame)
    if version == 6:
        return dpkt.ip6.IP6(frame)
    raise _Skip("undecodable")


def _segment(time: float, frame: bytes, link: int) -> Segment:
    packet = _network_layer(frame, link)
    tcp = packet.data
    if not isinstance(tcp, dpkt.tcp.TCP):
        raise _Skip("cut" if _is_tcp_cut(packet) else "not_tcp")
    header = tcp.off * 4
    if header < 20 or len(tcp.opts) != header - 20:
        raise _Skip("bad_options" if header < 20 else "cut")
    family = socket.AF_INET6 if isinstance(packet, dpkt.ip6.IP6) else socket.AF_INET
    return Segment(
        time=time,
        src=_endpoint(family, packet.src, tcp.sport),
        dst=_endpoint(family, packet.dst, tcp.dport),
        flags=int(tcp.flags),
        seq=int(tcp.seq),
        ack=int(tcp.ack),
        window=int(tcp.win),
        length=_payload_length(packet, header),
        options=parse_options(bytes(tcp.opts)),
    )


def _is_tcp_cut(packet: Any) -> bool:
    """A packet that says it carries TCP but whose TCP header did not fit in the capture."""
    protocol = int(getattr(packet, "p", getattr(packet, "nxt", -1)))
    return protocol == int(dpkt.ip.IP_PROTO_TCP)


def _payload_length(packet: Any, tcp_header: int) -> int:
    """Payload bytes as sent: from the IP length (a snap length cuts what was captured only)."""
    if isinstance(packet, dpkt.ip.IP):
        sent: int = int(packet.len) - int(packet.hl) * 4 - tcp_header
    else:
        extensions = len(bytes(packet)) - 40 - len(bytes(packet.data))
        sent = int(packet.plen) - max(0, extensions) - tcp_header
    if sent < 0:
        raise _Skip("undecodable")
    return sent


def _endpoint(family: int, raw: bytes, port: int) -> str:
    address = ipaddress.ip_address(socket.inet_ntop(family, raw))
    return f"[{address}]:{port}" if family == socket.AF_INET6 else f"{address}:{port}"


_OPTION_SIZES = {
    dpkt.tcp.TCP_OPT_MSS: 2,
    dpkt.tcp.TCP_OPT_WSCALE: 1,
    dpkt.tcp.TCP_OPT_SACKOK: 0,
    dpkt.tcp.TCP_OPT_TIMESTAMP: 8,
}


def parse_options(raw: bytes) -> Options:
    """The handshake options of a segment's option bytes (split by dpkt); _Skip("bad_options")
    for an option whose length runs past the header or does not fit its kind."""
    found: dict[int, bytes] = {}
    position = 0
    for item in dpkt.tcp.parse_opts(raw):
        if item is None:
            raise _Skip("bad_options")
        kind, data = item
        if kind == dpkt.tcp.TCP_OPT_EOL:
            break
        position += _checked_size(raw, position, kind, data)
        found[kind] = data
    return _options(found)


def _checked_size(raw: bytes, position: int, kind: int, data: bytes) -> int:
    """The bytes one option takes; _Skip where its length byte disagrees with what dpkt could
    take (an option running past the header) or with its kind."""
    if kind == dpkt.tcp.TCP_OPT_NOP:
        return 1
    if raw[position + 1] != len(data) + 2:
        raise _Skip("bad_options")
    expected = _OPTION_SIZES.get(kind)
    if expected is not None and len(data) != expected:
        raise _Skip("bad_options")
    return len(data) + 2


def _options(found: dict[int, bytes]) -> Options:
    wscale = found.get(dpkt.tcp.TCP_OPT_WSCALE)
    if wscale is not None and wscale[0] > MAX_WSCALE:
        raise _Skip("bad_options")
    mss = found.get(dpkt.tcp.TCP_OPT_MSS)
    return Options(
        mss=int.from_bytes(mss, "big") if mss is not None else None,
        wscale=wscale[0] if wscale is not None else None,
        sack_ok=dpkt.tcp.TCP_OPT_SACKOK in found,
        timestamps=dpkt.tcp.TCP_OPT_TIMESTAMP in found,
    )
