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
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

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
        for line in result.details:
            console.print(Padding(Text(line), (0, 0, 0, 2), expand=False))
        if result.hint:
            hint = Text.assemble(("what to do: ", "bold"), result.hint)
            console.print(Padding(hint, (0, 0, 0, 2), expand=False))
