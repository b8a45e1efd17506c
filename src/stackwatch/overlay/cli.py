"""``stackwatch overlay measure``: iperf3 over the underlay and the overlay, the ratio, the path
MTUs and fragmentation, judged as the check overlay-throughput judges it.

Options on the command line override the [overlay] section. Exit codes (core/exits.py): 0
measured (the judgement is in the output; `stackwatch check overlay-throughput` is the Nagios
form), 1 (FAILED) where a measurement could not be made (no iperf3 server, no route), 2 (USAGE)
for bad options or configuration.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from stackwatch.cli_support import load_settings
from stackwatch.core.config import ConfigError
from stackwatch.core.exits import FAILED, fail, usage_error
from stackwatch.core.host import Host, HostError
from stackwatch.core.record import replace
from stackwatch.core.registry import NotApplicable
from stackwatch.overlay.check import OverlayOptions, judge, plan_from
from stackwatch.overlay.measure import measure
from stackwatch.overlay.settings import OverlaySettings
from stackwatch.render import render

app = typer.Typer(
    rich_markup_mode=None,
    help="Overlay against underlay throughput (iperf3).",
    no_args_is_help=True,
)


class Format(StrEnum):
    text = "text"
    json = "json"
    nagios = "nagios"
    prometheus = "prometheus"


@app.command("measure")
def measure_command(
    underlay: Annotated[str | None, typer.Option(help="the peer's underlay address")] = None,
    overlay: Annotated[str | None, typer.Option(help="the peer's overlay address")] = None,
    netns: Annotated[str | None, typer.Option(help="measure from this namespace")] = None,
    rounds: Annotated[int | None, typer.Option(help="measurements of each")] = None,
    seconds: Annotated[int | None, typer.Option(help="length of one measurement")] = None,
    port: Annotated[int | None, typer.Option(help="the peer's iperf3 port")] = None,
    config: Annotated[str | None, typer.Option(help="configuration file")] = None,
    output: Annotated[Format, typer.Option("--format", help="output format")] = Format.text,
) -> None:
    """Throughput over each path (median of alternated rounds), the ratio, MTUs, fragments."""
    _, settings = load_settings(config, "overlay")
    chosen = _overridden(
        settings or OverlaySettings(),
        underlay=underlay, overlay=overlay, netns=netns, rounds=rounds, seconds=seconds, port=port,
    )  # fmt: skip
    try:
        plan = plan_from(chosen)
    except NotApplicable:
        usage_error("give --underlay and --overlay (or set them in [overlay])")
    try:
        facts = measure(Host(), plan)
    except HostError as exc:
        fail(str(exc), FAILED)
    typer.echo(render([judge(facts, OverlayOptions())], output.value), nl=False)


def _overridden(settings: OverlaySettings, **given: object) -> OverlaySettings:
    changes = {key: value for key, value in given.items() if value is not None}
    chosen = replace(settings, **changes)  # type: ignore[arg-type]
    try:
        chosen.validate("options")
    except ConfigError as exc:
        usage_error(str(exc).replace("options.", "--"))
    return chosen
