"""A table for a person: status coloured on a terminal, details and hints under problems."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from stackwatch.core.result import Result, Status

STYLES = {
    "OK": "green",
    "WARNING": "yellow",
    "CRITICAL": "bold red",
    "UNKNOWN": "magenta",
    "SKIP": "dim",
}


def render_text(results: Sequence[Result], stream: TextIO | None = None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(file=stream or sys.stdout, highlight=False, soft_wrap=False)
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("summary", overflow="fold")
    for result in results:
        style = STYLES[result.status_text]
        table.add_row(
            escape(result.check),
            f"[{style}]{result.status_text}[/]",
            escape(result.summary),
        )
    console.print(table)
    problems = [r for r in results if not r.skipped and r.status != Status.OK]
    for result in problems:
        style = STYLES[result.status_text]
        console.print()
        console.print(f"[{style}]{result.status_text}[/] [bold]{escape(result.check)}[/]")
        # Indented as a block, so that a long line wraps under itself, not under the margin.
        width = max(console.width, 40)
        for line in result.details:
            console.print(_indented(line, width), markup=False)
        if result.hint:
            console.print(_indented(f"what to do: {result.hint}", width), markup=False)


def _indented(text: str, width: int) -> str:
    import textwrap

    return textwrap.fill(
        text, width, initial_indent="  ", subsequent_indent="  ", break_on_hyphens=False
    )
