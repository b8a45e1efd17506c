"""A table for a person: status coloured on a terminal, details and hints under problems."""

from __future__ import annotations

import io
import shutil
import sys
from collections.abc import Sequence

from stackwatch.core.result import Result, Status
from stackwatch.render.safe import printable

STYLES = {
    "OK": "green",
    "WARNING": "yellow",
    "CRITICAL": "bold red",
    "UNKNOWN": "magenta",
    "SKIP": "dim",
}


def render_text(results: Sequence[Result], *, color: bool | None = None) -> str:
    """The table and the problems' details as text; coloured where ``color`` (default: when
    standard output is a terminal). Names from the machine reach it without control characters."""
    from rich.console import Console
    from rich.markup import escape

    buffer = io.StringIO()
    terminal = sys.stdout.isatty() if color is None else color
    width = shutil.get_terminal_size().columns if terminal and sys.stdout.isatty() else None
    console = Console(
        file=buffer,
        force_terminal=terminal,
        no_color=not terminal,
        width=width,
        highlight=False,
        soft_wrap=False,
    )
    console.print(_table(results))
    for result in (r for r in results if not r.skipped and r.status != Status.OK):
        style = STYLES[result.status_text]
        console.print()
        name = escape(printable(result.check))
        console.print(f"[{style}]{result.status_text}[/] [bold]{name}[/]")
        # Indented as a block, so that a long line wraps under itself, not under the margin.
        width = max(console.width, 40)
        for line in result.details:
            console.print(_indented(printable(line), width), markup=False)
        if result.hint:
            console.print(_indented(f"what to do: {printable(result.hint)}", width), markup=False)
    return buffer.getvalue()


def _table(results: Sequence[Result]) -> object:
    from rich.markup import escape
    from rich.table import Table

    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("summary", overflow="fold")
    for result in results:
        style = STYLES[result.status_text]
        table.add_row(
            escape(printable(result.check)),
            f"[{style}]{result.status_text}[/]",
            escape(printable(result.summary)),
        )
    return table


def _indented(text: str, width: int) -> str:
    import textwrap

    return textwrap.fill(
        text, width, initial_indent="  ", subsequent_indent="  ", break_on_hyphens=False
    )
