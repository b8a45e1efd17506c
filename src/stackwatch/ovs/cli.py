"""``stackwatch ovs plan|apply|verify|export|show``: declarative Open vSwitch bridge layouts.

Exit codes, from the one table (core/exits.py): 0 done; 1 (FAILED) OVSDB unreachable or apply
failed; 2 (USAGE) bad arguments, configuration or layout file, nothing done; 4 (FOUND) ``plan``
found changes to make. ``verify`` is the ovs-bridges check as a Nagios plugin: it answers exactly
as ``stackwatch check ovs-bridges`` does, its status as exit code, UNKNOWN (3) on every error.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from stackwatch.cli_support import (
    DEFAULT_STATE_DIR,
    fail,
    load_settings,
    plugin_command,
    print_or_write,
    usage_error,
)
from stackwatch.core import record
from stackwatch.core.exits import FAILED, FOUND, OK
from stackwatch.core.host import Host, HostError
from stackwatch.ovs.layout import Layout, LayoutError, load_layout
from stackwatch.ovs.ovsdb import OvsdbClient
from stackwatch.ovs.settings import DEFAULT_DB, OvsSettings, db_problem, netns_problem
from stackwatch.render.safe import printable

if TYPE_CHECKING:
    from stackwatch.core.config import Config
    from stackwatch.core.result import Result
    from stackwatch.core.state import StateStore
    from stackwatch.ovs.apply import Devices
    from stackwatch.ovs.live import LiveSwitch

T = TypeVar("T")

app = typer.Typer(
    rich_markup_mode=None,
    help="Open vSwitch bridge layouts: plan, apply, verify, export, show.",
    no_args_is_help=True,
)

VERIFY_CHECK = "ovs-bridges"
PLUGIN_TIMEOUT = 30.0  # seconds: the overall limit stackwatch check gives a check by default
NO_LAYOUT = "name a layout file (or set [ovs] layout in the configuration)"

DbOption = Annotated[
    str | None, typer.Option("--db", help=f"OVSDB to use (default {DEFAULT_DB}, or [ovs] db)")
]
NetnsOption = Annotated[
    str | None,
    typer.Option(
        "--netns",
        help="network namespace ovs-vswitchd runs in, where internal ports get their address "
        "(default: the host's, or [ovs] netns)",
    ),
]
ConfigOption = Annotated[str | None, typer.Option("--config", help="TOML configuration")]
StateDirOption = Annotated[
    str | None,
    typer.Option(
        "--state-dir",
        help=f"where apply --confirm keeps its saved layout (default {DEFAULT_STATE_DIR})",
    ),
]
LayoutArg = Annotated[
    str | None, typer.Argument(help="layout file (default: [ovs] layout in the configuration)")
]


class OutputFormat(StrEnum):
    """What verify prints: the same renderers as ``stackwatch check --format``."""

    text = "text"
    nagios = "nagios"
    json = "json"
    prometheus = "prometheus"


class CommandLineError(ValueError):
    """An option given on the command line that cannot be used; str() says which and why."""


# Settings: [ovs] with the command line over it ---------------------------------------------------


def command_line_settings(db: str | None, netns: str | None) -> dict[str, str]:
    """``--db`` and ``--netns`` where given, as [ovs] keys; CommandLineError where unusable."""
    given = {key: value for key, value in (("db", db), ("netns", netns)) if value}
    for key, check in (("db", db_problem), ("netns", netns_problem)):
        problem = check(given[key]) if key in given else None
        if problem:
            raise CommandLineError(f"--{key}: {problem}")
    return given


def _settings(config: str | None, db: str | None = None, netns: str | None = None) -> OvsSettings:
    """[ovs] from the configuration with --db and --netns over it; a bad one is a usage error."""
    settings: OvsSettings = load_settings(config, "ovs")[1]
    try:
        given = command_line_settings(db, netns)
    except CommandLineError as exc:
        usage_error(str(exc))
    return record.replace(
        settings, db=given.get("db", settings.db), netns=given.get("netns", settings.netns)
    )


def _load_layout(path: str) -> Layout:
    try:
        return load_layout(path)
    except LayoutError as exc:
        usage_error(f"layout refused: {exc}")


def _layout(path: str | None, settings: OvsSettings) -> Layout:
    chosen = path or settings.layout
    if not chosen:
        usage_error(NO_LAYOUT)
    return _load_layout(chosen)


def _client(settings: OvsSettings) -> OvsdbClient:
    try:
        return OvsdbClient(settings.db, settings.timeout).connect()
    except HostError as exc:
        fail(str(exc), FAILED)


def _live_switch(settings: OvsSettings) -> LiveSwitch:
    from stackwatch.ovs.live import read_live

    with _client(settings) as client:
        try:
            return read_live(client)
        except HostError as exc:
            fail(str(exc), FAILED)


# plan and apply ---------------------------------------------------------------------------------


def _against_switch(
    layout: str | None,
    netns: str | None,
    db: str | None,
    config: str | None,
    action: Callable[[OvsdbClient, Layout, Devices], T],
    failure: Callable[[HostError], str] = str,
) -> tuple[Layout, T]:
    """Run plan or apply's ``action`` on the switch; a HostError ends in one clear message."""
    from stackwatch.ovs.apply import Devices

    settings = _settings(config, db, netns)
    wanted = _layout(layout, settings)
    devices = Devices(Host(), settings.netns, settings.timeout)
    with _client(settings) as client:
        try:
            return wanted, action(client, wanted, devices)
        except HostError as exc:
            fail(failure(exc), FAILED)


def _say(line: str) -> None:
    """One line for a person; names from the switch reach the terminal without control
    characters."""
    typer.echo(printable(line))


def _report(lines: list[str], notes: list[str], unchanged: bool, wanted: Layout) -> bool:
    """Print the changes and notes; True (after saying so) when there is nothing to do."""
    for line in lines:
        _say(line)
    for note in notes:
        _say(f"  note: {note}")
    if unchanged:
        _say(f"no changes: the switch matches {wanted.source}")
    return unchanged


@app.command("plan")
def plan_command(
    layout: LayoutArg = None,
    db: DbOption = None,
    prune: Annotated[bool, typer.Option(help="also list what apply --prune removes")] = False,
    netns: NetnsOption = None,
    config: ConfigOption = None,
) -> None:
    """Print the changes apply would make (exit 0: none, 4: some, 1: OVSDB failed, 2: usage)."""
    from stackwatch.ovs.apply import plan_against

    wanted, full = _against_switch(
        layout, netns, db, config, lambda c, w, d: plan_against(c, w, prune, d)
    )
    lines = full.lines()
    if _report(lines, full.plan.notes, full.empty, wanted):
        raise typer.Exit(OK)
    typer.echo(f"{len(lines)} changes; run stackwatch ovs apply to make them")
    raise typer.Exit(FOUND)


def _apply_failure(exc: HostError) -> str:
    from stackwatch.ovs.address import AddressError

    # the transaction is all or nothing: only the address step can fail after it
    return str(exc) if isinstance(exc, AddressError) else f"nothing changed: {exc}"


@app.command("apply")
def apply_command(
    layout: LayoutArg = None,
    db: DbOption = None,
    prune: Annotated[
        bool, typer.Option(help="remove bridges and ports stackwatch created that are not declared")
    ] = False,
    netns: NetnsOption = None,
    config: ConfigOption = None,
    confirm: Annotated[
        str | None,
        typer.Option(
            "--confirm",
            metavar="SECONDS",
            help="apply back the layout saved before unless stackwatch ovs confirm (or Enter "
            "here) comes within SECONDS (30, 2m)",
        ),
    ] = None,
    state_dir: StateDirOption = None,
) -> None:
    """Make the switch match the layout: one OVSDB transaction, then internal ports' addresses.

    With --confirm, the layout before is saved and comes back by itself, addresses included,
    unless the new one is confirmed in time (exit 0: applied, confirmed or waiting; 1: failed
    or not confirmed; 75: another apply --confirm waits).
    """
    from stackwatch.ovs.apply import apply_layout
    from stackwatch.ovs.confirm_cli import apply_confirmed, refuse_while_waiting

    if confirm is not None:
        seconds = _confirm_seconds(confirm)
        settings = _settings(config, db, netns)
        wanted = _layout(layout, settings)
        chosen = state_dir or DEFAULT_STATE_DIR
        raise typer.Exit(apply_confirmed(settings, wanted, prune, seconds, chosen))
    refuse_while_waiting(state_dir or DEFAULT_STATE_DIR)
    wanted, outcome = _against_switch(
        layout,
        netns,
        db,
        config,
        lambda c, w, d: apply_layout(c, w, prune, d),
        _apply_failure,
    )
    if _report(outcome.lines(), outcome.plan.notes, not outcome.changed, wanted):
        return
    if outcome.applied:
        typer.echo(f"applied {len(outcome.plan.changes)} changes in one transaction")
    if outcome.devices:
        typer.echo(f"set the address of {len(outcome.devices)} devices")


def _confirm_seconds(text: str) -> float:
    from stackwatch.core.durations import DurationError, parse_duration
    from stackwatch.ovs.confirm import MAX_CONFIRM_SECONDS

    try:
        seconds = parse_duration(text)
    except DurationError as exc:
        usage_error(f"--confirm: {exc}")
    if not 1 <= seconds <= MAX_CONFIRM_SECONDS:
        usage_error(f"--confirm: between 1 second and {MAX_CONFIRM_SECONDS / 3600:g} hours")
    return seconds


@app.command("confirm")
def confirm_command(state_dir: StateDirOption = None) -> None:
    """Keep the layout an apply --confirm applied (exit 0: kept; 1: nothing waits, too late).

    Its watchdog ends without applying the saved layout back.
    """
    from stackwatch.ovs.confirm_cli import confirm

    confirm(state_dir or DEFAULT_STATE_DIR)


@app.command("rollback")
def rollback_command(state_dir: StateDirOption = None) -> None:
    """Apply back now the layout an apply --confirm saved (exit 0: done; 1: failed, none).

    For an apply --confirm that waits, whose watchdog died, or whose rollback failed; addresses
    included.
    """
    from stackwatch.ovs.confirm_cli import rollback

    rollback(state_dir or DEFAULT_STATE_DIR)


@app.command("watchdog", hidden=True)
def watchdog_command(state_dir: StateDirOption = None) -> None:
    """The process apply --confirm starts: waits for the deadline, then rolls back."""
    from stackwatch.ovs.confirm_cli import run_watchdog

    raise typer.Exit(run_watchdog(state_dir or DEFAULT_STATE_DIR))


# verify: the ovs-bridges check as a Nagios plugin ------------------------------------------------


PluginCommand = plugin_command("OVS-BRIDGES")


@app.command("verify", cls=PluginCommand)
def verify_command(
    layout: LayoutArg = None,
    db: DbOption = None,
    netns: NetnsOption = None,
    config: ConfigOption = None,
    output: Annotated[
        OutputFormat,
        typer.Option("--format", help="output, as for stackwatch check ovs-bridges --format"),
    ] = OutputFormat.text,
    state_dir: StateDirOption = None,
) -> None:
    """The ovs-bridges check: every difference between the switch and the layout.

    A Nagios plugin that answers as stackwatch check ovs-bridges: exit 0 matches, 1 drift,
    2 a bridge missing (or drift with critical_on_drift), 3 on any error (bad arguments,
    configuration or layout, OVSDB unreachable).
    """
    from stackwatch.core.result import overall_status
    from stackwatch.render import render

    result = verify_result(layout, db, netns, config, state_dir)
    sys.stdout.write(render([result], output.value))
    raise typer.Exit(int(overall_status([result])))


def verify_result(
    layout: str | None,
    db: str | None,
    netns: str | None,
    config_path: str | None,
    state_dir: str | None = None,
) -> Result:
    """The ovs-bridges check run as ``stackwatch check`` runs it, with the layout, --db and
    --netns of the command line over [ovs]; every error is an UNKNOWN result saying why."""
    from stackwatch.cli_support import DEFAULT_STATE_DIR
    from stackwatch.core.config import ConfigError
    from stackwatch.core.engine import run_check
    from stackwatch.core.registry import get_check
    from stackwatch.core.result import Result
    from stackwatch.core.state import StateStore

    try:
        config = _verify_config(layout, db, netns, config_path)
    except (ConfigError, CommandLineError) as exc:
        return Result.unknown(VERIFY_CHECK, str(exc))
    check = get_check(VERIFY_CHECK)
    store = StateStore(state_dir or DEFAULT_STATE_DIR)
    return run_check(check, Host(), config, store, timeout=PLUGIN_TIMEOUT)


def _verify_config(
    layout: str | None, db: str | None, netns: str | None, config_path: str | None
) -> Config:
    """The configuration with the command line's values in its [ovs] table, where the check
    reads (and validates) them; ConfigError or CommandLineError where it cannot be used."""
    from stackwatch.core.config import DEFAULT_CONFIG, Config, check_sections_known, load_config

    loaded = load_config(config_path or DEFAULT_CONFIG, required=config_path is not None)
    check_sections_known(loaded)
    section = {**loaded.section("ovs"), **command_line_settings(db, netns)}
    if layout:
        section["layout"] = layout
    if not section.get("layout"):
        raise CommandLineError(NO_LAYOUT)
    return Config(loaded.path, {**loaded.data, "ovs": section})


# export and show --------------------------------------------------------------------------------


@app.command("export")
def export_command(
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="write this file (default stdout)")
    ] = None,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Write the live layout as a layout file (what a layout cannot express is left out, and
    said, on standard error and in the file's head)."""
    from stackwatch.ovs.export import export_layout

    live = _live_switch(_settings(config, db))
    try:
        exported = export_layout(live)
    except LayoutError as exc:  # never expected: each object was read back before
        fail(str(exc), FAILED)
    for item in exported.left_out:
        sys.stderr.write(f"stackwatch: left out {printable(str(item))}\n")
    text = exported.text()
    if print_or_write(text, output) and output:
        typer.echo(f"wrote {printable(output)}")


def render_layout(layout: Layout) -> str:
    """A readable tree of bridges and ports (names from the switch made printable)."""
    from stackwatch.ovs.plan import describe_port

    lines = []
    for bridge in layout.bridges:
        attrs = [f"fail_mode {bridge.fail_mode}"] if bridge.fail_mode else []
        attrs.append(f"datapath {bridge.datapath_type or 'system'}")
        attrs += [f"{k}={v}" for k, v in sorted(bridge.other_config.items())]
        lines.append(f"{bridge.name}  ({', '.join(attrs)})")
        for i, port in enumerate(bridge.ports):
            branch = "└─" if i == len(bridge.ports) - 1 else "├─"
            lines.append(f"  {branch} {port.name}: {describe_port(port)}")
    return "".join(f"{printable(line)}\n" for line in lines) if lines else "(no bridges)\n"


@app.command("show")
def show_command(
    layout: Annotated[
        str | None, typer.Argument(help="layout file; without it, the live switch")
    ] = None,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Print a layout file, or the live switch, readably."""
    from stackwatch.ovs.live import live_to_layout

    settings = _settings(config, db)  # a bad configuration is refused also when showing a file
    shown = _load_layout(layout) if layout is not None else live_to_layout(_live_switch(settings))
    typer.echo(render_layout(shown), nl=False)


# kmod guard: a boot entry that keeps the network -------------------------------------------------

kmod_app = typer.Typer(
    rich_markup_mode=None,
    help="The openvswitch kernel module across kernel updates.",
    no_args_is_help=True,
)
app.add_typer(kmod_app, name="kmod")


@kmod_app.command("guard")
def kmod_guard_command(
    apply: Annotated[bool, typer.Option("--apply", help="run the plan after printing it")] = False,
    undo: Annotated[
        bool, typer.Option("--undo", help="put back what the last --apply changed")
    ] = False,
    once: Annotated[
        bool, typer.Option("--once", help="change the next boot only (as grub-reboot)")
    ] = False,
    root: Annotated[
        str, typer.Option("--root", help="the machine's tree (a captured copy); default /")
    ] = "/",
    state_dir: Annotated[
        str | None,
        typer.Option("--state-dir", help="where --apply keeps the previous setting for --undo"),
    ] = None,
) -> None:
    """Where the kernel that boots next has no openvswitch module: print the fix (its module
    package, or GRUB booting the newest kernel that has the module); --apply runs it.

    Exit 0: nothing to do, or done; 4: a plan printed, not applied; 1: it cannot be fixed here
    or a command failed; 2: usage.
    """
    from stackwatch.core.state import StateStore

    if apply and undo:
        usage_error("--apply and --undo: choose one")
    host = Host(os.path.abspath(root))
    if not host.is_dir("/boot"):
        usage_error(f"--root {printable(root)}: no /boot there")
    store = StateStore(state_dir or DEFAULT_STATE_DIR)
    try:
        if undo:
            _guard_undo(host, store)
        else:
            _guard(host, store, apply, once)
    except HostError as exc:
        fail(str(exc), FAILED)


def _guard(host: Host, store: StateStore, apply: bool, once: bool) -> None:
    from stackwatch.ovs.guard import (
        STATE_NAME,
        GuardError,
        collect_guard,
        plan_guard,
        previous_setting,
        run_steps,
    )

    facts = collect_guard(host)
    plan = plan_guard(facts, once)
    for line in plan.lines():
        _say(line)
    if not plan.possible:
        raise typer.Exit(FAILED)
    if not plan.steps:
        raise typer.Exit(OK)
    if not apply:
        typer.echo("run again with --apply to make these changes")
        raise typer.Exit(FOUND)
    if not store.save(STATE_NAME, previous_setting(facts)):
        raise GuardError(f"nothing changed: {'; '.join(store.warnings)} (needed for --undo)")
    for ran in run_steps(host, [argv for _what, argv in plan.steps]):
        _say(f"ran {ran}")
    typer.echo("done; stackwatch ovs kmod guard --undo puts the previous setting back")


def _guard_undo(host: Host, store: StateStore) -> None:
    from stackwatch.ovs.guard import STATE_NAME, run_steps, undo_steps

    saved = store.load(STATE_NAME)
    steps = undo_steps(saved, host)
    for ran in run_steps(host, steps):
        _say(f"ran {ran}")
    store.save(STATE_NAME, {})
    typer.echo("previous setting restored")
