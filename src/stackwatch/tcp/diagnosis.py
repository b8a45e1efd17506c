"""One diagnosis of a capture: its connections, their findings and what was skipped; as text
for a person and as a dictionary for --format json."""

from __future__ import annotations

import textwrap
from statistics import median
from typing import Any

from stackwatch.core.record import dataclass
from stackwatch.render.safe import printable
from stackwatch.tcp.flows import Connection, Side, connections, effective
from stackwatch.tcp.pcap import Capture, Options
from stackwatch.tcp.verdict import FIXES, Finding, human_rate, judge

SERIES_POINTS = 8  # window samples shown per side in the text view
WIDTH = 100


@dataclass(frozen=True)
class Diagnosed:
    connection: Connection
    findings: list[Finding]


@dataclass(frozen=True)
class Diagnosis:
    capture: Capture
    connections: list[Diagnosed]

    @property
    def problems(self) -> bool:
        return any(f.is_problem for d in self.connections for f in d.findings)


def diagnose(capture: Capture) -> Diagnosis:
    return Diagnosis(capture, [Diagnosed(c, judge(c)) for c in connections(capture.segments)])


# text ---------------------------------------------------------------------------------------------


def text(diagnosis: Diagnosis) -> str:
    lines = [_header(diagnosis)]
    for diagnosed in diagnosis.connections:
        lines.extend(_connection_lines(diagnosed))
    if diagnosis.problems:
        lines.append("")
        lines.append("What to do:")
        for number, fix in enumerate(FIXES, start=1):
            lines.extend(_wrapped(fix, f"  {number}. ", "     "))
    return "\n".join(printable(line) for line in lines) + "\n"


def _wrapped(message: str, first: str, rest: str) -> list[str]:
    return textwrap.wrap(message, WIDTH, initial_indent=first, subsequent_indent=rest)


def _header(diagnosis: Diagnosis) -> str:
    capture = diagnosis.capture
    skipped = capture.skipped
    line = (
        f"{capture.packets} packets, {len(capture.segments)} TCP segments, "
        f"{len(diagnosis.connections)} connections"
    )
    if skipped.hostile:
        counts = skipped.as_dict().items()
        reasons = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in counts if n and k != "not_tcp")
        line += f"; skipped {skipped.hostile} damaged ({reasons})"
    return line


def _connection_lines(diagnosed: Diagnosed) -> list[str]:
    c = diagnosed.connection
    verdict = "PROBLEM" if any(f.is_problem for f in diagnosed.findings) else "ok"
    rtt = f", handshake rtt {c.rtt * 1000:.2f} ms" if c.rtt is not None else ""
    lines = [
        "",
        f"{c.client.endpoint} -> {c.server.endpoint}  [{verdict}]  {c.last - c.first:.2f} s{rtt}",
        f"  {'SYN':8} {_options(c.client.handshake, c.client.handshake_window)}",
        f"  {'SYN-ACK':8} {_options(c.server.handshake, c.server.handshake_window)}",
        f"  window scaling: {_scaling(c)}",
    ]
    for side in c.sides():
        lines.extend(_wrapped(_side_summary(c, side), f"  {side.endpoint}: ", "      "))
    for finding in diagnosed.findings:
        lines.extend(_wrapped(finding.message, "  - ", "    "))
    return lines


def _options(options: Options | None, window: int | None) -> str:
    if options is None:
        return "not captured (windows shown as sent, scale unknown)"
    parts = [
        f"mss {options.mss if options.mss is not None else '-'}",
        f"wscale {options.wscale if options.wscale is not None else '-'}",
        f"sack {'yes' if options.sack_ok else 'no'}",
        f"timestamps {'yes' if options.timestamps else 'no'}",
        f"window {window}",
    ]
    return "  ".join(parts)


def _scaling(c: Connection) -> str:
    if not c.handshake_seen:
        return "unknown (handshake not captured)"
    if c.scaling:
        return f"on (client x{1 << c.shift(c.client)}, server x{1 << c.shift(c.server)})"
    return "off (windows are plain bytes, at most 65535)"


def _side_summary(c: Connection, side: Side) -> str:
    values = effective(c, side)
    if not values:
        return "no window advertised after the handshake"
    sizes = [v for _, v in values]
    series = _series(c, values)
    return (
        f"window {min(sizes)}/{median(sizes):g}/{max(sizes)} B (min/median/max) [{series}], "
        f"sent {side.bytes_sent} B{_rate(side)}, in flight max {side.max_in_flight} B, "
        f"zero windows {side.zero_windows}, retransmissions {side.retransmissions}"
    )


def _series(c: Connection, values: list[tuple[float, int]]) -> str:
    step = max(1, len(values) // SERIES_POINTS)
    picked = values[::step][:SERIES_POINTS]
    return " ".join(f"+{time - c.first:.2f}s:{value}" for time, value in picked)


def _rate(side: Side) -> str:
    if side.first_data is None or side.last_data is None or side.last_data <= side.first_data:
        return ""
    return f" ({human_rate(side.bytes_sent / (side.last_data - side.first_data))})"


# json ---------------------------------------------------------------------------------------------


def as_dict(diagnosis: Diagnosis) -> dict[str, Any]:
    capture = diagnosis.capture
    return {
        "packets": capture.packets,
        "segments": len(capture.segments),
        "skipped": capture.skipped.as_dict(),
        "problems": diagnosis.problems,
        "connections": [_connection_dict(d) for d in diagnosis.connections],
        "fixes": list(FIXES) if diagnosis.problems else [],
    }


def _connection_dict(diagnosed: Diagnosed) -> dict[str, Any]:
    c = diagnosed.connection
    return {
        "client": c.client.endpoint,
        "server": c.server.endpoint,
        "rtt_seconds": c.rtt,
        "scaling": c.scaling if c.handshake_seen else None,
        "sides": [_side_dict(c, side) for side in c.sides()],
        "findings": [{"kind": f.kind, "message": f.message} for f in diagnosed.findings],
    }


def _side_dict(c: Connection, side: Side) -> dict[str, Any]:
    options = side.handshake
    return {
        "endpoint": side.endpoint,
        "syn": None
        if options is None
        else {
            "mss": options.mss,
            "wscale": options.wscale,
            "sack": options.sack_ok,
            "timestamps": options.timestamps,
            "window": side.handshake_window,
        },
        "shift": c.shift(side),
        "windows": [[round(time - c.first, 6), value] for time, value in effective(c, side)],
        "bytes_sent": side.bytes_sent,
        "max_in_flight": side.max_in_flight,
        "window_limited_segments": side.window_limited,
        "zero_windows": side.zero_windows,
        "retransmissions": side.retransmissions,
        "data_segments": side.data_segments,
    }
