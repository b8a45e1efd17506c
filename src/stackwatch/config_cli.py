"""``stackwatch config``: the configuration file, generated from the capabilities' dataclasses."""

# No "from __future__ import annotations": Typer reads the annotations of the commands.
from typing import Annotated

import typer

from stackwatch.cli_support import print_or_write

app = typer.Typer(
    rich_markup_mode=None,
    help="The configuration file: a commented example, the reference.",
    no_args_is_help=True,
    add_completion=False,
)

OutputOption = Annotated[
    str | None,
    typer.Option("--output", "-o", metavar="FILE", help="write this file (default stdout)"),
]


@app.command("example")
def example(output: OutputOption = None) -> None:
    """Print a commented example configuration (every section, every key, its default)."""
    from stackwatch.core.config_doc import example_toml

    _emit(example_toml(), output)


@app.command("reference")
def reference(output: OutputOption = None) -> None:
    """Print the configuration reference in Markdown (docs/configuration.md)."""
    from stackwatch.core.config_doc import reference_markdown

    _emit(reference_markdown(), output)


def _emit(text: str, output: str | None) -> None:
    """Print ``text``, or replace file ``output`` with it (a failed write leaves the old file)."""
    print_or_write(text, output)
