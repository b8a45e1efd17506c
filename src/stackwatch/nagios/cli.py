"""``stackwatch nagios assemble|generate|coverage|alerts``: Nagios configuration from one
repository and the inventory, and which alerts cry wolf."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from stackwatch.cli_support import fail, load_settings, usage_error
from stackwatch.core.durations import DurationError, parse_duration
from stackwatch.core.exits import FAILED, FOUND
from stackwatch.core.host import Host, HostError

if TYPE_CHECKING:
    from stackwatch.nagios.alerts import AlertReport
    from stackwatch.nagios.settings import NagiosSettings

app = typer.Typer(
    help="Nagios configuration from one repository and the inventory; which alerts cry wolf.",
    no_args_is_help=True,
    add_completion=False,
)

ConfigOpt = Annotated[str | None, typer.Option("--config", help="TOML configuration")]
OutOpt = Annotated[str, typer.Option("--format", help="text or json")]


def _settings(config: str | None) -> NagiosSettings:
    settings: NagiosSettings = load_settings(config, "nagios")[1]
    return settings


def _output(value: str) -> str:
    if value not in ("text", "json"):
        usage_error(f"--format must be text or json, not {value!r}")
    return value


# --- alerts ------------------------------------------------------------------------------------


@app.command()
def alerts(
    logs: Annotated[list[str], typer.Argument(help="nagios.log and archives (.gz too; globs)")],
    output: OutOpt = "text",
    limit: Annotated[int, typer.Option(help="rows of each table in text")] = 20,
    recovery_window: Annotated[
        str | None,
        typer.Option(help="a problem over within this recovered by itself (default [nagios])"),
    ] = None,
    objects: Annotated[
        str | None,
        typer.Option(help="objects.cache or a configuration tree: host groups of the hosts"),
    ] = None,
    plot: Annotated[str | None, typer.Option(help="draw alerts over time to this PNG")] = None,
    statsd: Annotated[
        str | None, typer.Option(help="also send the counters to StatsD at HOST:PORT")
    ] = None,
    statsd_prefix: Annotated[str | None, typer.Option(help="StatsD name prefix")] = None,
    config: ConfigOpt = None,
) -> None:
    """Chatty services from nagios.log: alerts per day, HARD/SOFT, flapping, self-recovery."""
    from stackwatch.nagios.alerts import AlertsError, CellFinder, Tally, Where, read_logs, summarize

    _output(output)
    if limit < 1:
        usage_error("--limit must be at least 1")
    settings = _settings(config)
    window = _window(recovery_window or settings.recovery_window)
    host = Host()
    paths = _expand_all(host, logs)
    where = Where(CellFinder(settings.cell_pattern), _hostgroups(host, objects))
    tally = Tally(window)
    try:
        for log in read_logs(host, paths):
            tally.add_log(log)
    except AlertsError as exc:
        usage_error(str(exc))
    report = summarize(tally, where)
    if plot:
        _plot(plot, report, paths)
    if statsd:
        _send(report, statsd, statsd_prefix or settings.statsd_prefix)
    from stackwatch.nagios.alerts_view import to_json, to_text

    sys.stdout.write(to_json(report) if output == "json" else to_text(report, limit))


def _window(text: str) -> float:
    try:
        return parse_duration(text)
    except DurationError as exc:
        usage_error(f"--recovery-window: {exc}")


def _expand_all(host: Host, patterns: list[str]) -> list[str]:
    paths: list[str] = []
    for pattern in patterns:
        found = expand(host, pattern)
        if not found:
            usage_error(f"{pattern}: no such log")
        paths += found
    return paths


def expand(host: Host, pattern: str) -> list[str]:
    """A path, or the files a glob in its last part matches (read through the Host)."""
    import fnmatch
    import os

    absolute = os.path.abspath(pattern)
    directory, name = os.path.split(absolute)
    if not any(c in name for c in "*?["):
        return [absolute] if host.exists(absolute) else []
    return [f"{directory}/{n}" for n in host.listdir(directory) if fnmatch.fnmatchcase(n, name)]


def _hostgroups(host: Host, objects: str | None) -> dict[str, tuple[str, ...]]:
    if objects is None:
        return {}
    import os

    from stackwatch.nagios.objects import ObjectsError, hostgroups_of, read_tree

    try:
        return hostgroups_of(read_tree(host, os.path.abspath(objects)))
    except (ObjectsError, HostError) as exc:
        usage_error(f"--objects: {exc}")


def _plot(path: str, report: AlertReport, paths: list[str]) -> None:
    from stackwatch.nagios.alerts_plot import plot_alerts

    title = f"Nagios alerts per hour: {paths[0]}" + (f" and {len(paths) - 1} more" if paths[1:] else "")
    try:
        plot_alerts(path, report, title)
    except (OSError, ValueError) as exc:
        fail(f"cannot write plot {path}: {exc}", FAILED)


def _send(report: AlertReport, address: str, prefix: str) -> None:
    from stackwatch.nagios.alerts_statsd import StatsdError, send_counters

    try:
        count = send_counters(report, address, prefix)
    except StatsdError as exc:
        fail(str(exc), FAILED)
    sys.stderr.write(f"sent {count} StatsD datagrams to {address}\n")


_ = FOUND  # used by coverage (below)
