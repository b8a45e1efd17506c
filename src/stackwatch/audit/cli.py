"""``stackwatch audit get|expect``: one key of one file, read in every container root.

Exit codes (core/exits.py): OK (0) every root read (``get``) or every root has the expected
values (``expect``); FOUND (4) ``expect`` found containers that differ or could not be read;
USAGE (2) bad arguments or configuration, or no root matches the glob.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from stackwatch.audit import views
from stackwatch.audit.check import differences
from stackwatch.audit.formats import FORMATS
from stackwatch.audit.read import ContainerValues, read_all
from stackwatch.audit.settings import AuditSettings
from stackwatch.cli_support import load_settings, usage_error
from stackwatch.core.exits import FOUND
from stackwatch.core.host import Host, HostError

app = typer.Typer(
    rich_markup_mode=None,
    help="One setting across every container root (CSF in OpenVZ, ...).",
    no_args_is_help=True,
    add_completion=False,
)

RootsOption = Annotated[str | None, typer.Option("--roots", help="glob of container roots")]
FileOption = Annotated[str | None, typer.Option("--file", help="file inside each root")]
ReadAs = Annotated[str | None, typer.Option("--read-as", help="auto, shell, ini, toml, yaml")]
Output = Annotated[str, typer.Option("--format", help="text or json")]
ConfigOption = Annotated[str | None, typer.Option("--config", help="stackwatch TOML file")]
RootOption = Annotated[str, typer.Option("--root", help="look at the machine under this root")]


def _target(
    config: str | None, roots: str | None, file: str | None, read_as: str | None
) -> tuple[str, str, str, int]:
    """Roots, file, format and size limit: the options, else the [audit] section."""
    _, settings = load_settings(config, "audit")
    assert isinstance(settings, AuditSettings)
    roots = roots or settings.roots
    file = file or settings.file
    fmt = read_as or settings.format
    if not roots or not roots.startswith("/"):
        usage_error("--roots: an absolute glob of container roots is needed, e.g. '/vz/private/*'")
    if not file or file.startswith("/") or ".." in file.split("/"):
        usage_error("--file: a path relative to each root is needed, e.g. etc/csf/csf.conf")
    if fmt not in ("auto", *FORMATS):
        usage_error(f"--read-as must be auto, {', '.join(FORMATS)}; not {fmt!r}")
    return roots, file, fmt, settings.max_bytes


def _read(root: str, target: tuple[str, str, str, int], keys: list[str]) -> list[ContainerValues]:
    roots, file, fmt, max_bytes = target
    try:
        rows = read_all(Host(root), roots, file, keys, fmt, max_bytes)
    except HostError as exc:
        usage_error(str(exc))
    if not rows:
        usage_error(f"no container roots match {roots}")
    return rows


def _output(value: str) -> str:
    if value not in ("text", "json"):
        usage_error(f"--format must be text or json, not {value!r}")
    return value


@app.command("get")
def get(
    key: Annotated[str, typer.Argument(help="KEY (shell), section.key (INI), a.b.c (TOML/YAML)")],
    roots: RootsOption = None,
    file: FileOption = None,
    read_as: ReadAs = None,
    output: Output = "text",
    config: ConfigOption = None,
    root: RootOption = "/",
) -> None:
    """Print each container's value of KEY, and what kept it from being read."""
    output = _output(output)
    rows = _read(root, _target(config, roots, file, read_as), [key])
    if output == "json":
        typer.echo(json.dumps(views.rows_json(rows, [key]), indent=2))
    else:
        typer.echo(views.table(rows, [key]), nl=False)


def _expectations(pairs: list[str]) -> list[tuple[str, str]]:
    out = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            usage_error(f"expected KEY=VALUE, got {pair!r}")
        out.append((key, value))
    return out


@app.command("expect")
def expect(
    pairs: Annotated[list[str], typer.Argument(help="KEY=VALUE, one or more")],
    roots: RootsOption = None,
    file: FileOption = None,
    read_as: ReadAs = None,
    output: Output = "text",
    config: ConfigOption = None,
    root: RootOption = "/",
) -> None:
    """List the containers whose values differ from KEY=VALUE (exit 4 where any does)."""
    output = _output(output)
    wanted = _expectations(pairs)
    rows = _read(root, _target(config, roots, file, read_as), [k for k, _ in wanted])
    differing = [(row, differences(row, tuple(wanted))) for row in rows]
    differing = [(row, diff) for row, diff in differing if diff]
    if output == "json":
        typer.echo(json.dumps(views.drift_json(rows, differing), indent=2))
    else:
        typer.echo(views.drift_text(rows, differing, wanted), nl=False)
    if differing:
        raise typer.Exit(FOUND)
