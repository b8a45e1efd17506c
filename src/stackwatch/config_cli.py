"""``stackwatch config``: the configuration file, generated from the capabilities' dataclasses."""

from __future__ import annotations

import typer

app = typer.Typer(help="The configuration file: a commented example, the reference.",
                  no_args_is_help=True, add_completion=False)  # fmt: skip


@app.command("example")
def example() -> None:
    """Print a commented example configuration (every section, every key, its default)."""
    from stackwatch.core.config_doc import example_toml

    typer.echo(example_toml(), nl=False)


@app.command("reference")
def reference() -> None:
    """Print the configuration reference in Markdown (docs/configuration.md)."""
    from stackwatch.core.config_doc import reference_markdown

    typer.echo(reference_markdown(), nl=False)
