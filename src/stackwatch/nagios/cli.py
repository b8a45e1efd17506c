"""``stackwatch nagios assemble|generate|coverage|alerts``: Nagios configuration from one
repository and the inventory, and which alerts cry wolf."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from stackwatch.cli_support import DEFAULT_STATE_DIR, fail, usage_error
from stackwatch.core.durations import DurationError, parse_duration
from stackwatch.core.exits import BUSY, FAILED, FOUND, OK
from stackwatch.core.host import Host, HostError
from stackwatch.core.record import dataclass
from stackwatch.nagios.alertscmd import (
    check_statsd_address,
    checked_output,
    expand_all,
    hostgroups_of_objects,
    recovery_window_of,
    run_alerts,
    settings_of,
)

if TYPE_CHECKING:
    from stackwatch.nagios.assemble import Outcome, Places
    from stackwatch.nagios.coverage import Gap
    from stackwatch.nagios.generate import RoleTemplate
    from stackwatch.nagios.inventory import HostFacts
    from stackwatch.nagios.settings import NagiosSettings

app = typer.Typer(
    rich_markup_mode=None,
    help="Nagios configuration from one repository and the inventory; which alerts cry wolf.",
    no_args_is_help=True,
    add_completion=False,
)

ConfigOpt = Annotated[str | None, typer.Option("--config", help="TOML configuration")]
OutOpt = Annotated[str, typer.Option("--format", help="text or json")]


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
    jobs: Annotated[int, typer.Option(help="processes that read a large log (0: one per CPU)")] = 0,
    follow: Annotated[
        bool, typer.Option(help="follow the live log (rotation too), counters to --statsd")
    ] = False,
    duration: Annotated[
        str | None, typer.Option(help="with --follow: stop after this long (default: never)")
    ] = None,
    interval: Annotated[float, typer.Option(help="with --follow: seconds between polls")] = 1.0,
    from_start: Annotated[
        bool, typer.Option(help="with --follow: a log without saved offset read whole")
    ] = False,
    state_dir: Annotated[
        str, typer.Option(help="with --follow: where the offsets are kept")
    ] = DEFAULT_STATE_DIR,
    config: ConfigOpt = None,
) -> None:
    """Chatty services from nagios.log: alerts per day, HARD/SOFT, flapping, self-recovery."""
    if follow:
        _follow(logs, statsd, statsd_prefix, recovery_window, objects, config,
                FollowOptions(duration, interval, from_start, state_dir))  # fmt: skip
        return
    run_alerts(logs, output, limit, recovery_window, objects, plot, statsd, statsd_prefix, jobs,
               config)  # fmt: skip


@dataclass(frozen=True)
class FollowOptions:
    duration: str | None
    interval: float
    from_start: bool
    state_dir: str


def _follow(
    logs: list[str],
    statsd: str | None,
    prefix: str | None,
    recovery_window: str | None,
    objects: str | None,
    config: str | None,
    options: FollowOptions,
) -> None:
    """alerts --follow: the live logs followed, their counters sent to StatsD as they come."""
    from stackwatch.core.state import StateStore
    from stackwatch.nagios.alerts import CellFinder, Where
    from stackwatch.nagios.alerts_follow import Sink, archive_path, follow_alerts

    if not statsd:
        usage_error("--follow sends counters: give --statsd HOST:PORT")
    check_statsd_address(statsd)
    if not 0.05 <= options.interval <= 3600:
        usage_error("--interval must be between 0.05 and 3600 seconds")
    duration = _duration(options.duration)
    settings = settings_of(config)
    host = Host()
    paths = expand_all(host, logs)  # a log that is not there is a mistake, not a wait
    where = Where(CellFinder(settings.cell_pattern), hostgroups_of_objects(host, objects))
    window = recovery_window_of(recovery_window or settings.recovery_window)
    sink = Sink(statsd, prefix or settings.statsd_prefix, window, where)
    sys.stderr.write(f"following {len(paths)} logs, counters to {statsd}\n")
    stats = follow_alerts(paths, sink, StateStore(options.state_dir), duration=duration,
                          interval=options.interval, from_start=options.from_start,
                          report=_say, host=host,
                          archives=archive_path(host, settings.main_config))  # fmt: skip
    sys.stdout.write(
        f"{stats.lines} lines ({stats.malformed} malformed) in {stats.polls} polls, "
        f"{stats.datagrams} StatsD datagrams sent, {stats.send_errors} sends failed\n"
    )
    if stats.send_errors:
        raise typer.Exit(FAILED)


def _say(line: str) -> None:
    from stackwatch.render.safe import printable

    sys.stderr.write(printable(line) + "\n")


def _duration(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return parse_duration(text)
    except DurationError as exc:
        usage_error(f"--duration: {exc}")


# --- assemble ----------------------------------------------------------------------------------


@app.command()
def assemble(
    repo: Annotated[str | None, typer.Option(help="the repository (default [nagios] repo)")] = None,
    host_name: Annotated[
        str | None, typer.Option("--host", help="this server's name (default: the host name)")
    ] = None,
    dest: Annotated[
        str | None, typer.Option(help="the live conf.d (default [nagios] conf_dir)")
    ] = None,
    rollback: Annotated[bool, typer.Option(help="put the previous tree back")] = False,
    check: Annotated[bool, typer.Option(help="build and validate only; change nothing")] = False,
    config: ConfigOpt = None,
) -> None:
    """Build this server's conf.d from the repository, validate it with nagios -v, swap it in
    atomically and reload Nagios; a tree Nagios refuses changes nothing."""
    import os

    from stackwatch.nagios.assemble import AssembleError, Busy, Places, Refused, locked

    settings = settings_of(config)
    places = Places(os.path.abspath(dest or settings.conf_dir))
    host = Host()
    try:
        with locked(host, places):
            outcome = (
                _rollback(host, settings, places)
                if rollback
                else _assemble(host, settings, places, repo, host_name, check)
            )
    except Busy as exc:
        fail(str(exc), BUSY)
    except Refused as exc:
        _quote(exc.quoted)
        fail(str(exc), FAILED)
    except AssembleError as exc:
        fail(str(exc), FAILED)
    except HostError as exc:
        fail(f"{places.live}: {exc}", FAILED)
    sys.stdout.write("\n".join(outcome.lines) + "\n")
    raise typer.Exit(outcome.code)


def _quote(lines: tuple[str, ...]) -> None:
    """Nagios's own lines, on stderr before the one-line verdict."""
    from stackwatch.render.safe import printable

    for line in lines:
        sys.stderr.write(f"  {printable(line)}\n")


def _assemble(
    host: Host,
    settings: NagiosSettings,
    places: Places,
    repo: str | None,
    host_name: str | None,
    check_only: bool,
) -> Outcome:
    import os
    import socket

    from stackwatch.nagios.assemble import assemble
    from stackwatch.nagios.repo import RepoError, classify, plan
    from stackwatch.nagios.validate import ValidateError

    where = repo or settings.repo
    if where is None:
        usage_error("--repo DIR is required (or [nagios] repo)")
    try:
        server = classify(settings, host_name or socket.gethostname())
    except RepoError as exc:
        usage_error(str(exc))
    try:
        layout = plan(host, os.path.abspath(where), server)
        return assemble(host, settings, places, layout, check_only)
    except (RepoError, ValidateError) as exc:
        fail(str(exc), FAILED)


def _rollback(host: Host, settings: NagiosSettings, places: Places) -> Outcome:
    from stackwatch.nagios.assemble import rollback
    from stackwatch.nagios.validate import ValidateError

    try:
        return rollback(host, settings, places)
    except ValidateError as exc:
        fail(str(exc), FAILED)


# --- generate and coverage ---------------------------------------------------------------------


@app.command()
def generate(
    inventory: Annotated[str, typer.Option(help="Ansible inventory: INI, YAML or JSON")],
    templates: Annotated[str, typer.Option(help="directory of template sets, <role>.yaml")],
    out: Annotated[str, typer.Option(help="directory of the generated configuration")],
    validate_with: Annotated[
        str | None,
        typer.Option(help="main nagios.cfg: check the output with nagios -v beside what it reads"),
    ] = None,
    output: OutOpt = "text",
    config: ConfigOpt = None,
) -> None:
    """Host and service definitions from the inventory, one template set per role, stable and
    diffable: one file per role and cell, only changed files written."""
    import json
    import os

    from stackwatch.nagios.generate import GenerateError, place, render_files, write_tree
    from stackwatch.nagios.inventory import InventoryError

    checked_output(output)
    settings = settings_of(config)
    host = Host()
    try:
        roles, facts, vars_files = _inputs(host, settings, inventory, templates)
        placed = place(facts, roles)
        folder = os.path.basename(os.path.normpath(templates))
        source = f"{os.path.basename(inventory)} and the template sets {folder}"
        files = render_files(placed, roles, source)
        changes = write_tree(host, os.path.abspath(out), files)
    except (GenerateError, InventoryError) as exc:
        fail(str(exc), FAILED)
    except HostError as exc:
        fail(str(exc), FAILED)
    except OSError as exc:
        fail(f"{out}: {exc.strerror or exc}", FAILED)
    summary = {
        "hosts": len(placed),
        "without_role": len(facts) - len(placed),
        "files": len(files),
        "written": list(changes.written),
        "unchanged": changes.unchanged,
        "removed": list(changes.removed),
        "not_generated": list(changes.foreign),
        "vars_files": vars_files,
    }
    if output == "json":
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    else:
        _generate_text(summary, out)
    if validate_with:
        _validate_generated(host, settings, validate_with, os.path.abspath(out))


def _inputs(
    host: Host, settings: NagiosSettings, inventory: str, templates: str
) -> tuple[dict[str, RoleTemplate], dict[str, HostFacts], list[str]]:
    from stackwatch.nagios.generate import GenerateError, load_templates
    from stackwatch.nagios.inventory import parse_inventory, resolve
    from stackwatch.nagios.inventory_vars import read_vars_dirs

    try:
        text = host.read_text(os.path.abspath(inventory))
    except HostError as exc:
        raise GenerateError(str(exc)) from None
    roles = load_templates(host, os.path.abspath(templates), settings.nrpe_command)
    parsed = parse_inventory(text, inventory)
    dirs = read_vars_dirs(host, inventory, parsed)
    facts = resolve(
        parsed, settings.cell_variable, settings.cell_pattern, settings.default_cell, dirs
    )
    return roles, facts, dirs.files


def _generate_text(summary: dict[str, Any], out: str) -> None:
    lines = [
        f"{summary['hosts']} hosts with a role ({summary['without_role']} without one, left out), "
        f"{summary['files']} files in {out}: {len(summary['written'])} written, "
        f"{summary['unchanged']} unchanged, {len(summary['removed'])} removed"
    ]
    if summary["vars_files"]:
        lines.append(f"  variables from {len(summary['vars_files'])} group_vars/host_vars files")
    lines += [f"  written  {path}" for path in summary["written"][:50]]
    lines += [f"  removed  {path}" for path in summary["removed"][:50]]
    lines += [f"  left alone (not generated)  {path}" for path in summary["not_generated"]]
    sys.stdout.write("\n".join(lines) + "\n")


def _validate_generated(host: Host, settings: NagiosSettings, main: str, out: str) -> None:
    from stackwatch.nagios.validate import ValidateError, validate

    try:
        verdict = validate(host, settings.nagios, main, None, out, settings.validate_timeout)
    except ValidateError as exc:
        fail(str(exc), FAILED)
    if not verdict.ok:
        _quote(verdict.errors)
        fail(f"{settings.nagios} -v refused the generated configuration", FAILED)
    sys.stdout.write(f"{settings.nagios} -v accepted it in {verdict.seconds:.1f} s\n")


@app.command()
def coverage(
    templates: Annotated[str, typer.Option(help="directory of template sets, <role>.yaml")],
    repo: Annotated[
        str | None, typer.Option(help="the repository: every environment (default [nagios] repo)")
    ] = None,
    tree: Annotated[
        str | None, typer.Option(help="one assembled tree instead, such as the live conf.d")
    ] = None,
    output: OutOpt = "text",
    config: ConfigOpt = None,
) -> None:
    """Hosts whose role requires a service their environment's configuration lacks (exit 4 when
    there is one)."""
    import json

    from stackwatch.nagios.generate import GenerateError, load_templates
    from stackwatch.nagios.objects import ObjectsError

    checked_output(output)
    settings = settings_of(config)
    host = Host()
    try:
        roles = load_templates(host, os.path.abspath(templates), settings.nrpe_command)
        found, counted = _coverage(host, roles, tree, repo or settings.repo)
    except (GenerateError, ObjectsError, HostError) as exc:
        fail(str(exc), FAILED)
    if output == "json":
        doc = {"environments": counted, "gaps": [g.__dict__ for g in found]}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        sys.stdout.write(_coverage_text(found, counted))
    raise typer.Exit(FOUND if found else OK)


def _coverage(
    host: Host, roles: dict[str, RoleTemplate], tree: str | None, repo: str | None
) -> tuple[list[Gap], dict[str, int]]:
    from stackwatch.nagios.coverage import gaps
    from stackwatch.nagios.objects import read_tree

    if tree is None and repo is None:
        usage_error("--repo DIR or --tree DIR is required")
    trees = (
        {tree: [os.path.abspath(tree)]}
        if tree
        else _environments(host, os.path.abspath(repo or ""))
    )
    found: list[Gap] = []
    counted: dict[str, int] = {}
    for name, roots in trees.items():
        definitions = [d for root in roots for d in read_tree(host, root)]
        missing, hosts = gaps(name, definitions, roles)
        found += missing
        counted[name] = hosts
    return found, counted


def _environments(host: Host, repo: str) -> dict[str, list[str]]:
    """Each environment of the repository with everything in common/: the services a class
    defines for a host group count for every environment."""
    if not host.is_dir(f"{repo}/environments"):
        usage_error(f"{repo}: no environments/ folder: not a configuration repository")
    common = [f"{repo}/common"] if host.is_dir(f"{repo}/common") else []
    return {
        name: [*common, f"{repo}/environments/{name}"]
        for name in host.listdir(f"{repo}/environments")
        if host.is_dir(f"{repo}/environments/{name}") and not name.startswith(".")
    }


def _coverage_text(found: list[Gap], counted: dict[str, int]) -> str:
    from stackwatch.render.safe import printable

    lines = []
    for environment, hosts in counted.items():
        mine = [g for g in found if g.environment == environment]
        lines.append(f"{printable(environment)}: {hosts} hosts, {len(mine)} missing services")
        lines += [
            f"  {printable(g.host)} ({printable(g.role)}) lacks {printable(g.service)}  [{g.where}]"
            for g in mine
        ]
    return "\n".join(lines) + "\n"
