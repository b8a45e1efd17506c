"""``stackwatch nagios alerts`` without Typer: its body, what the nagios commands share to read
their options, and a reader of the plain command lines of ``alerts``.

Counting a million lines takes under a second, and importing Typer and building the command
group took a twentieth of that again. So the command line's entry (cli.py) hands ``nagios alerts
...`` to ``quick`` first, through the capability's ``quick_commands``; a command line this small
reader does not know for sure (help, a mistake, ``--follow``, an option given twice) is left to
Typer, which answers it as it always did. Both run ``run_alerts``. Interrupted (Ctrl-C), both exit
130; the quick path also says "interrupted" on stderr, as every command outside Typer does.
"""

from __future__ import annotations

import sys
from typing import Any

from stackwatch.cli_support import (
    fail,
    load_settings,
    plain_command_line,
    plain_int,
    usage_error,
)
from stackwatch.core.durations import DurationError, parse_duration
from stackwatch.core.exits import FAILED
from stackwatch.core.host import Host, HostError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from stackwatch.nagios.alerts import AlertReport
    from stackwatch.nagios.settings import NagiosSettings

# Option -> name of run_alerts's argument; each takes one value (see nagios/cli.py's ``alerts``).
OPTIONS = {
    "--format": "output",
    "--limit": "limit",
    "--recovery-window": "recovery_window",
    "--objects": "objects",
    "--plot": "plot",
    "--statsd": "statsd",
    "--statsd-prefix": "statsd_prefix",
    "--jobs": "jobs",
    "--config": "config",
}
NUMBERS = ("limit", "jobs")


def quick(argv: Sequence[str]) -> int | None:
    """Run ``nagios alerts`` from its arguments (after ``nagios alerts``), or None to leave them
    to Typer."""
    parsed = plain_command_line(argv, OPTIONS)
    if parsed is None:
        return None
    paths, options = parsed
    numbers = {name: plain_int(options.pop(name)) for name in NUMBERS if name in options}
    if None in numbers.values():
        return None  # Typer says what is wrong with it
    arguments: dict[str, Any] = {**options, **numbers}
    run_alerts(paths, **arguments)
    return 0


def run_alerts(
    logs: list[str],
    output: str = "text",
    limit: int = 20,
    recovery_window: str | None = None,
    objects: str | None = None,
    plot: str | None = None,
    statsd: str | None = None,
    statsd_prefix: str | None = None,
    jobs: int = 0,
    config: str | None = None,
) -> None:
    """The alert report of the logs, printed (and drawn, and sent): the command's whole work."""
    from stackwatch.nagios.alerts import (
        PARALLEL_BYTES,
        AlertsError,
        CellFinder,
        Where,
        read_logs,
        summarize,
        tally_logs,
    )

    checked_output(output)
    if limit < 1 or not 0 <= jobs <= 64:
        usage_error("--limit must be at least 1 and --jobs between 0 and 64")
    settings = settings_of(config)
    window = recovery_window_of(recovery_window or settings.recovery_window)
    if statsd:
        check_statsd_address(statsd)
    host = Host()
    paths = expand_all(host, logs)
    where = Where(CellFinder(settings.cell_pattern), hostgroups_of_objects(host, objects))
    try:
        tally = tally_logs(read_logs(host, paths, PARALLEL_BYTES), window, jobs)
    except AlertsError as exc:
        usage_error(str(exc))
    report = summarize(tally, where, top_timelines=5 if plot else 0)
    if plot:
        plot_report(plot, report, paths)
    if statsd:
        send_report(report, statsd, statsd_prefix or settings.statsd_prefix)
    from stackwatch.nagios.alerts_view import to_json, to_text

    sys.stdout.write(to_json(report) if output == "json" else to_text(report, limit))


# Shared with the Typer commands of nagios/cli.py ----------------------------------------------


def settings_of(config: str | None) -> NagiosSettings:
    settings: NagiosSettings = load_settings(config, "nagios")[1]
    return settings


def checked_output(value: str) -> str:
    if value not in ("text", "json"):
        usage_error(f"--format must be text or json, not {value!r}")
    return value


def check_statsd_address(text: str) -> None:
    from stackwatch.render.statsd import StatsdError, parse_address

    try:
        parse_address(text)
    except StatsdError as exc:
        usage_error(f"--statsd: {exc}")


def recovery_window_of(text: str) -> float:
    try:
        return parse_duration(text)
    except DurationError as exc:
        usage_error(f"--recovery-window: {exc}")


def expand_all(host: Host, patterns: list[str]) -> list[str]:
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


def hostgroups_of_objects(host: Host, objects: str | None) -> dict[str, tuple[str, ...]]:
    if objects is None:
        return {}
    import os

    from stackwatch.nagios.objects import ObjectsError, hostgroups_of, read_tree

    try:
        return hostgroups_of(read_tree(host, os.path.abspath(objects)))
    except (ObjectsError, HostError) as exc:
        usage_error(f"--objects: {exc}")


def plot_report(path: str, report: AlertReport, paths: list[str]) -> None:
    from stackwatch.nagios.alerts_plot import plot_alerts

    title = f"Nagios alerts per hour: {paths[0]}" + (
        f" and {len(paths) - 1} more" if paths[1:] else ""
    )
    try:
        plot_alerts(path, report, title)
    except (OSError, ValueError) as exc:
        fail(f"cannot write plot {path}: {exc}", FAILED)


def send_report(report: AlertReport, address: str, prefix: str) -> None:
    from stackwatch.nagios.alerts_statsd import StatsdError, send_counters

    try:
        count = send_counters(report, address, prefix)
    except StatsdError as exc:
        fail(str(exc), FAILED)
    sys.stderr.write(f"sent {count} StatsD datagrams to {address}\n")
