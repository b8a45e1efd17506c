"""``stackwatch tcp diagnose|profile``: window scaling stripped by a middlebox, found in a capture,
and the sysctl.d file that keeps the scale small.

Exit codes (core/exits.py): diagnose 0 when no connection shows a window problem, 4 (FOUND) when
one does, 2 (USAGE) for a file that cannot be read or is no capture, bad options, 1 (FAILED) when
tcpdump could not capture. profile 0 printed or written, 2 for a scale out of range, 1 when the
file could not be written.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from stackwatch.core.exits import FAILED, FOUND, fail, usage_error
from stackwatch.core.host import Host, HostError
from stackwatch.tcp.capture import take_capture
from stackwatch.tcp.diagnosis import Diagnosis, as_dict, diagnose, text
from stackwatch.tcp.pcap import PcapError, read_capture
from stackwatch.tcp.profile import ProfileError, profile

app = typer.Typer(
    rich_markup_mode=None,
    help="TCP window scaling: diagnose a capture, cap the scale.",
    no_args_is_help=True,
)

MAX_CAPTURE_SECONDS = 600.0


class Format(StrEnum):
    text = "text"
    json = "json"


@app.command("diagnose")
def diagnose_command(
    pcap: Annotated[Path | None, typer.Argument(help="a pcap or pcapng file")] = None,
    capture: Annotated[str | None, typer.Option(help="capture on this interface instead")] = None,
    seconds: Annotated[float, typer.Option(help="how long to capture")] = 10.0,
    netns: Annotated[str | None, typer.Option(help="capture inside this network namespace")] = None,
    bpf: Annotated[str, typer.Option("--filter", help="tcpdump filter for the capture")] = "tcp",
    save: Annotated[Path | None, typer.Option(help="keep the capture in this file")] = None,
    output: Annotated[Format, typer.Option("--format", help="text or json")] = Format.text,
) -> None:
    """Per connection: SYN/SYN-ACK options, windows over time, zero windows, retransmissions and
    the verdict, with the fixes when a window problem is found."""
    if (pcap is None) == (capture is None):
        usage_error("give a PCAP file or --capture IFACE (one of them)")
    host = Host()
    if capture is not None:
        result = _capture_and_read(host, capture, seconds, netns, bpf, save)
    else:
        assert pcap is not None
        result = _read(host, pcap)
    if output is Format.json:
        typer.echo(json.dumps(as_dict(result), indent=2))
    else:
        typer.echo(text(result), nl=False)
    if result.problems:
        raise SystemExit(FOUND)


def _capture_and_read(
    host: Host, interface: str, seconds: float, netns: str | None, bpf: str, save: Path | None
) -> Diagnosis:
    """Capture into ``save`` (kept) or a private scratch directory (removed afterwards)."""
    if not 0 < seconds <= MAX_CAPTURE_SECONDS:
        usage_error(f"--seconds must be above 0 and at most {MAX_CAPTURE_SECONDS:g}")
    with host.temporary_dir("stackwatch-tcp-") as scratch:
        target = save or Path(scratch) / "capture.pcap"
        try:
            summary = take_capture(host, interface, seconds, str(target.absolute()), bpf, netns)
        except HostError as exc:
            fail(f"capture on {interface} failed: {exc}", FAILED)
        if summary:
            typer.echo(f"tcpdump: {summary}", err=True)
        return _read(host, target)


def _read(host: Host, pcap: Path) -> Diagnosis:
    try:
        with host.open_binary(pcap.absolute()) as handle:
            return diagnose(read_capture(handle))
    except HostError as exc:
        usage_error(str(exc))
    except PcapError as exc:
        usage_error(f"{pcap}: {exc}")


@app.command("profile")
def profile_command(
    max_scale: Annotated[int, typer.Option(help="the largest window scale to offer (0-14)")],
    write: Annotated[Path | None, typer.Option(help="write this sysctl.d file")] = None,
) -> None:
    """Print (or write) the sysctl.d file that caps the buffers, and so the window scale."""
    try:
        chosen = profile(max_scale)
    except ProfileError as exc:
        usage_error(str(exc))
    content = chosen.sysctl()
    if write is None:
        typer.echo(content, nl=False)
        return
    try:
        Host().write_atomic(write.absolute(), content, 0o644)
    except HostError as exc:
        fail(str(exc), FAILED)
    typer.echo(f"wrote {write}; apply with: sysctl --system")
