"""``stackwatch conntrack plan``: the settings for an expected number of connections."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stackwatch.cli_support import fail
from stackwatch.conntrack.plan import (
    PlanError,
    parse_slabinfo_entry_size,
    plan_conntrack,
    render_sysctl,
)
from stackwatch.core.files import write_atomic
from stackwatch.core.host import Host, HostError

app = typer.Typer(help="Connection-tracking table sizing.", no_args_is_help=True)


@app.command("plan")
def plan(
    connections: Annotated[int, typer.Option(help="connections expected at peak")],
    headroom: Annotated[float, typer.Option(help="extra share above the peak")] = 0.25,
    write: Annotated[Path | None, typer.Option(help="write this sysctl.d file")] = None,
    root: Annotated[str, typer.Option(help="read /proc under this root")] = "/",
) -> None:
    """Print (or write as a sysctl.d file) both max keys, the hash buckets and the memory cost."""
    entry_bytes = None
    try:
        slabinfo = Host(root).read_optional("/proc/slabinfo")
    except HostError:
        slabinfo = None  # unreadable without root: fall back to the typical size
    if slabinfo:
        entry_bytes = parse_slabinfo_entry_size(slabinfo)
    try:
        result = plan_conntrack(connections, headroom, entry_bytes)
    except PlanError as exc:
        fail(str(exc), 2)
    text = render_sysctl(result)
    if write is None:
        typer.echo(text, nl=False)
        return
    try:
        write_atomic(write, text, 0o644)
    except OSError as exc:
        fail(f"cannot write {write}: {exc.strerror or exc}")
    typer.echo(f"wrote {write}; apply with: sysctl --system")
