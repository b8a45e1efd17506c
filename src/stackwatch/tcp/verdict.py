"""The judgement of each connection's windows, in an operator's words, and the two fixes.

No I/O: connections (flows.py) in, findings out. The problems looked for:

- scale negotiated by one side only: one SYN offered window scaling, the other did not, and the
  side seen without it advertises windows that only make sense scaled (64 after offering 65160):
  it did negotiate scaling, a middlebox removed the option on the way, and this side reads every
  window as bytes;
- windows that only make sense unscaled: both offered scaling, but one side keeps advertising
  about what its SYN did, as a side that never saw the other's option does;
- throughput bounded by an unscaled window: the sender keeps the peer's window full and that
  window never grows past 64 KB;
- zero windows and retransmissions, counted (a slow reader, a lossy path).
"""

from __future__ import annotations

from statistics import median

from stackwatch.core.record import dataclass
from stackwatch.tcp.flows import Connection, Side, effective

UNSCALED_MAX = 65535
TINY_RATIO = 16  # a window this many times below the handshake's is one read without its scale
MIN_LIMITED = 3  # data segments at a full window before the window is called the bound
LIMITED_SHARE = 0.2
RETRANSMISSION_SHARE = 0.01

PROBLEMS = ("one-sided-scale", "unscaled-windows", "unscaled-bound")


@dataclass(frozen=True)
class Finding:
    kind: str  # one-sided-scale | unscaled-windows | unscaled-bound | zero-window | retransmissions
    message: str

    @property
    def is_problem(self) -> bool:
        return self.kind in PROBLEMS


def judge(connection: Connection) -> list[Finding]:
    """Everything worth telling about one connection, the problems first."""
    findings = [
        *_one_sided(connection),
        *_unscaled_windows(connection),
        *_bounded(connection),
        *_zero_windows(connection),
        *_retransmissions(connection),
    ]
    return sorted(findings, key=lambda f: not f.is_problem)


def _post_handshake_median(side: Side) -> float | None:
    values = [raw for _, raw in side.windows]
    return median(values) if values else None


def _one_sided(connection: Connection) -> list[Finding]:
    client, server = connection.client.handshake, connection.server.handshake
    if client is None or server is None or (client.wscale is None) == (server.wscale is None):
        return []
    offered, silent = (
        (connection.client, connection.server)
        if client.wscale is not None
        else (connection.server, connection.client)
    )
    assert offered.handshake is not None and offered.handshake.wscale is not None
    typical = _post_handshake_median(silent)
    start = silent.handshake_window or 0
    text = (
        f"window scale negotiated by one side only: {offered.endpoint} offered window scale "
        f"{offered.handshake.wscale}, the {_syn_name(connection, silent)} of {silent.endpoint} "
        "carries none, so from here on every window is read as plain bytes (at most 64 KB)."
    )
    if typical is not None and typical * TINY_RATIO <= start:
        text += (
            f" Yet {silent.endpoint} offered {start} bytes in its handshake and then advertises "
            f"about {typical:g}: a window that only makes sense scaled. {silent.endpoint} did "
            "negotiate scaling; a router or firewall between the two removed the option from "
            f"its {_syn_name(connection, silent)}, and {offered.endpoint} now believes the "
            f"window really is {typical:g} bytes. Transfers toward {silent.endpoint} crawl."
        )
    return [Finding("one-sided-scale", text)]


def _syn_name(connection: Connection, side: Side) -> str:
    return "SYN" if side is connection.client else "SYN-ACK"


def _unscaled_windows(connection: Connection) -> list[Finding]:
    if not connection.scaling:
        return []
    findings = []
    for side in connection.sides():
        shift = connection.shift(side)
        typical = _post_handshake_median(side)
        start = side.handshake_window or 0
        if shift >= 2 and typical is not None and typical >= max(start / 2, 8192):
            findings.append(
                Finding(
                    "unscaled-windows",
                    f"windows that only make sense unscaled: {side.endpoint} offered window "
                    f"scale {shift} yet keeps advertising about {typical:g}, as in its "
                    f"handshake ({start}); scaled, that is {int(typical) << shift} bytes, more "
                    "than any receive buffer. It does not scale its windows: the other side's "
                    "option never reached it (removed by a middlebox on the way).",
                )
            )
    return findings


def _bounded(connection: Connection) -> list[Finding]:
    findings = []
    for sender in connection.sides():
        receiver = connection.peer(sender)
        windows = [value for _, value in effective(connection, receiver)]
        if not windows or sender.data_segments == 0:
            continue
        largest = max(windows)
        needed = max(MIN_LIMITED, LIMITED_SHARE * sender.data_segments)
        if largest > UNSCALED_MAX or sender.window_limited < needed:
            continue
        message = _bound_text(connection, sender, receiver, largest)
        findings.append(Finding("unscaled-bound", message))
    return findings


def _bound_text(connection: Connection, sender: Side, receiver: Side, largest: int) -> str:
    rtt = connection.rtt
    ceiling = ""
    if rtt:
        ceiling = f"; at a round trip of {rtt * 1000:.2f} ms that is at most "
        ceiling += human_rate(largest / rtt)
    return (
        f"throughput bounded by an unscaled window: {sender.endpoint} kept {receiver.endpoint}'s "
        f"window full in {sender.window_limited} of {sender.data_segments} data segments, and "
        f"that window never exceeded {largest} bytes: one window per round trip{ceiling}"
        f"{_measured(sender)}."
    )


def _measured(sender: Side) -> str:
    first, last = sender.first_data, sender.last_data
    if first is None or last is None or last <= first:
        return ""
    return f" (measured: {human_rate(sender.bytes_sent / (last - first))})"


def _zero_windows(connection: Connection) -> list[Finding]:
    return [
        Finding(
            "zero-window",
            f"{side.endpoint} advertised a zero window {side.zero_windows} times: its "
            "application reads more slowly than data arrives (a full receiver, not the network).",
        )
        for side in connection.sides()
        if side.zero_windows
    ]


def _retransmissions(connection: Connection) -> list[Finding]:
    return [
        Finding(
            "retransmissions",
            f"{side.endpoint} retransmitted {side.retransmissions} of {side.data_segments} data "
            "segments: loss on the path (or data sent beyond a window the receiver never had).",
        )
        for side in connection.sides()
        if side.retransmissions
        and side.retransmissions >= RETRANSMISSION_SHARE * side.data_segments
    ]


def human_rate(bytes_per_second: float) -> str:
    for unit, size in (("GB/s", 1e9), ("MB/s", 1e6), ("kB/s", 1e3)):
        if bytes_per_second >= size:
            return f"{bytes_per_second / size:.1f} {unit}"
    return f"{bytes_per_second:.0f} B/s"


FIXES = (
    "Fix the middlebox if you can: a router, firewall or load balancer that removes or zeroes the "
    "TCP window-scale option (an old 'TCP option stripping' or 'sequence randomisation' feature).",
    "Or disable window scaling on this host: sysctl -w net.ipv4.tcp_window_scaling=0 (and a line "
    "in /etc/sysctl.d/ to keep it). Cost: every connection's window is capped at 64 KB, so at most "
    "64 KB per round trip: 6.5 MB/s at 10 ms, 1.3 MB/s at 50 ms.",
    "Or keep scaling but cap the scale, so that a window read unscaled is only a little too small: "
    "stackwatch tcp profile --max-scale 2 --write /etc/sysctl.d/60-stackwatch-tcp.conf caps "
    "tcp_rmem/tcp_wmem (and net.core.rmem_max) at 256 KB, so windows are scaled by 4 at most. "
    "Cost: at most 256 KB per round trip per connection (26 MB/s at 10 ms).",
)
