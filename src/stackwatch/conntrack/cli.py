"""``stackwatch conntrack plan``: the settings for an expected number of connections.

Exit codes (core/exits.py): 0 printed or written; 2 (USAGE) for a bad --connections or
--headroom (not a number, zero, negative, not finite, or beyond what the kernel accepts), nothing
written; 1 (FAILED) where the sysctl.d file could not be written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stackwatch.cli_support import print_or_write
from stackwatch.conntrack.plan import (
    PlanError,
    parse_connections,
    parse_slabinfo_entry_size,
    plan_conntrack,
    render_sysctl,
)
from stackwatch.core.exits import usage_error
from stackwatch.core.host import Host, HostError

app = typer.Typer(
    rich_markup_mode=None, help="Connection-tracking table sizing.", no_args_is_help=True
)


def measured_entry_bytes(host: Host) -> int | None:
    """The size of one table entry on this kernel, from /proc/slabinfo; None where it cannot
    be read (root only on most kernels) or does not list nf_conntrack."""
    try:
        slabinfo = host.read_optional("/proc/slabinfo")
    except HostError:
        return None
    return parse_slabinfo_entry_size(slabinfo) if slabinfo else None


@app.command("plan")
def plan(
    connections: Annotated[str, typer.Option(help="connections expected at peak")],
    headroom: Annotated[float, typer.Option(help="extra share above the peak")] = 0.25,
    write: Annotated[Path | None, typer.Option(help="write this sysctl.d file")] = None,
    root: Annotated[str, typer.Option(help="read /proc under this root")] = "/",
) -> None:
    """Print (or write as a sysctl.d file) both max keys, the hash buckets and the memory cost."""
    try:
        count = parse_connections(connections)
        result = plan_conntrack(count, headroom, measured_entry_bytes(Host(root)))
    except PlanError as exc:
        usage_error(str(exc))
    text = render_sysctl(result)
    if print_or_write(text, None if write is None else str(write)):
        typer.echo(f"wrote {write}; apply with: sysctl --system")
