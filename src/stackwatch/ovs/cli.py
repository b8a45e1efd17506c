"""``stackwatch ovs plan|apply|verify|export|show``: declarative Open vSwitch bridge layouts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from stackwatch.cli_support import fail, load_config_or_exit
from stackwatch.core.config import Config, ConfigError, build
from stackwatch.core.host import Host, HostError
from stackwatch.ovs.layout import Layout, LayoutError, dump_layout, load_layout
from stackwatch.ovs.ovsdb import OvsdbClient
from stackwatch.ovs.settings import DEFAULT_DB, DEFAULT_TIMEOUT

if TYPE_CHECKING:
    from stackwatch.core.result import Result
    from stackwatch.ovs.apply import Devices

T = TypeVar("T")

app = typer.Typer(
    help="Open vSwitch bridge layouts: plan, apply, verify, export, show.",
    no_args_is_help=True,
)

ERROR = 1
CHANGES = 2


@dataclass(frozen=True)
class OvsSettings:
    """The [ovs] section of the configuration."""

    db: str = DEFAULT_DB
    layout: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    netns: str | None = None  # the network namespace ovs-vswitchd runs in (None: the host's)


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
LayoutArg = Annotated[
    str | None, typer.Argument(help="layout file (default: [ovs] layout in the configuration)")
]


class OutputFormat(StrEnum):
    """What verify prints: the same renderers as ``stackwatch check --format``."""

    text = "text"
    nagios = "nagios"
    json = "json"
    prometheus = "prometheus"


def _load(config_path: str | None) -> tuple[Config, OvsSettings]:
    config = load_config_or_exit(config_path, ERROR)
    try:
        return config, build(OvsSettings, config.section("ovs"), config.where("ovs"))
    except ConfigError as exc:
        fail(str(exc), ERROR)


def _settings(config_path: str | None) -> OvsSettings:
    return _load(config_path)[1]


def _layout(path: str | None, settings: OvsSettings) -> Layout:
    chosen = path or settings.layout
    if not chosen:
        fail("name a layout file (or set [ovs] layout in the configuration)", ERROR)
    try:
        return load_layout(chosen)
    except LayoutError as exc:
        fail(f"layout refused: {exc}", ERROR)


def _netns(netns: str | None, settings: OvsSettings) -> str | None:
    chosen = netns or settings.netns
    if chosen is not None and (not chosen or "/" in chosen or chosen in (".", "..")):
        fail(f"--netns {chosen!r}: not a network namespace name", ERROR)
    return chosen


def _devices(netns: str | None, settings: OvsSettings) -> Devices:
    from stackwatch.ovs.apply import Devices

    return Devices(Host(), _netns(netns, settings), settings.timeout)


def _client(db: str | None, settings: OvsSettings) -> OvsdbClient:
    client = OvsdbClient(db or settings.db, settings.timeout)
    try:
        return client.connect()
    except HostError as exc:
        fail(str(exc), ERROR)


def _prepare(
    layout: str | None, netns: str | None, db: str | None, config: str | None
) -> tuple[Layout, Devices, OvsdbClient]:
    """What plan and apply start from: the layout, where its devices are, the OVSDB."""
    settings = _settings(config)
    return _layout(layout, settings), _devices(netns, settings), _client(db, settings)


def _against_switch(
    layout: str | None,
    netns: str | None,
    db: str | None,
    config: str | None,
    action: Callable[[OvsdbClient, Layout, Devices], T],
    failure: Callable[[HostError], str] = str,
) -> tuple[Layout, T]:
    """Run plan or apply's ``action`` on the switch; a HostError ends in one clear message."""
    wanted, devices, connection = _prepare(layout, netns, db, config)
    with connection as client:
        try:
            return wanted, action(client, wanted, devices)
        except HostError as exc:
            fail(failure(exc), ERROR)


def _report(lines: list[str], notes: list[str], unchanged: bool, wanted: Layout) -> bool:
    """Print the changes and notes; True (after saying so) when there is nothing to do."""
    for line in lines:
        typer.echo(line)
    for note in notes:
        typer.echo(f"  note: {note}")
    if unchanged:
        typer.echo(f"no changes: the switch matches {wanted.source}")
    return unchanged


@app.command("plan")
def plan_command(
    layout: LayoutArg = None,
    db: DbOption = None,
    prune: Annotated[bool, typer.Option(help="also list what apply --prune removes")] = False,
    netns: NetnsOption = None,
    config: ConfigOption = None,
) -> None:
    """Print the changes apply would make (exit 0: none, 2: some)."""
    from stackwatch.ovs.apply import plan_against

    wanted, full = _against_switch(
        layout, netns, db, config, lambda c, w, d: plan_against(c, w, prune, d)
    )
    lines = full.lines()
    if _report(lines, full.plan.notes, full.empty, wanted):
        raise typer.Exit(0)
    typer.echo(f"{len(lines)} changes; run stackwatch ovs apply to make them")
    raise typer.Exit(CHANGES)


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
) -> None:
    """Make the switch match the layout: one OVSDB transaction, then internal ports' addresses."""
    from stackwatch.ovs.apply import apply_layout

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


@app.command("verify")
def verify_command(
    layout: LayoutArg = None,
    db: DbOption = None,
    netns: NetnsOption = None,
    config: ConfigOption = None,
    output: Annotated[
        OutputFormat,
        typer.Option("--format", help="output, as for stackwatch check ovs-bridges --format"),
    ] = OutputFormat.text,
) -> None:
    """The ovs-bridges check: every difference between the switch and the layout.

    Exit status as a Nagios plugin: 0 matches, 1 drift, 2 a bridge missing, 3 OVSDB unreadable.
    """
    from stackwatch.core.result import Result
    from stackwatch.ovs.checks import OvsBridgesOptions, compare_layout, judge_bridges
    from stackwatch.ovs.live import read_live

    loaded, settings = _load(config)
    try:
        options = loaded.check_options("ovs-bridges", OvsBridgesOptions)
    except ConfigError as exc:
        fail(str(exc), ERROR)
    wanted = _layout(layout, settings)
    where = _netns(netns, settings)  # verify needs no more of apply than this
    try:
        with OvsdbClient(db or settings.db, settings.timeout) as client:
            live = read_live(client)
        result = judge_bridges(compare_layout(wanted, live, Host(), where), options)
    except HostError as exc:  # as the check says it: UNKNOWN with the reason
        result = Result.unknown("ovs-bridges", str(exc))
    _render(result, output)
    raise typer.Exit(int(result.status))


def _render(result: Result, output: OutputFormat) -> None:
    if output is OutputFormat.nagios:
        from stackwatch.render.nagios import render_nagios

        typer.echo(render_nagios([result]), nl=False)
    elif output is OutputFormat.json:
        from stackwatch.render.json import render_json

        typer.echo(render_json([result]), nl=False)
    elif output is OutputFormat.prometheus:
        from stackwatch.render.prometheus import render_prometheus

        typer.echo(render_prometheus([result]), nl=False)
    else:
        typer.echo(f"{result.status.name}: {result.summary}")
        for line in result.details:
            typer.echo(f"  {line}")
        if result.hint:
            typer.echo(f"hint: {result.hint}")


@app.command("export")
def export_command(
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="write this file (default stdout)")
    ] = None,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Write the live layout as a layout file."""
    from stackwatch.core.files import write_atomic
    from stackwatch.ovs.live import live_to_layout, read_live

    settings = _settings(config)
    with _client(db, settings) as client:
        try:
            live = read_live(client)
        except HostError as exc:
            fail(str(exc), ERROR)
    text = "# exported by stackwatch ovs export\n" + dump_layout(live_to_layout(live))
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        write_atomic(output, text, 0o644)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}", ERROR)
    typer.echo(f"wrote {output}")


def render_layout(layout: Layout) -> str:
    """A readable tree of bridges and ports."""
    from stackwatch.ovs.plan import _describe

    lines = []
    for bridge in layout.bridges:
        attrs = [f"fail_mode {bridge.fail_mode}"] if bridge.fail_mode else []
        attrs.append(f"datapath {bridge.datapath_type or 'system'}")
        attrs += [f"{k}={v}" for k, v in sorted(bridge.other_config.items())]
        lines.append(f"{bridge.name}  ({', '.join(attrs)})")
        for i, port in enumerate(bridge.ports):
            branch = "└─" if i == len(bridge.ports) - 1 else "├─"
            lines.append(f"  {branch} {port.name}: {_describe(port)}")
    return "\n".join(lines) + "\n" if lines else "(no bridges)\n"


@app.command("show")
def show_command(
    layout: Annotated[
        str | None, typer.Argument(help="layout file; without it, the live switch")
    ] = None,
    db: DbOption = None,
    config: ConfigOption = None,
) -> None:
    """Print a layout file, or the live switch, readably."""
    from stackwatch.ovs.live import live_to_layout, read_live

    settings = _settings(config)
    if layout is not None:
        try:
            shown = load_layout(layout)
        except LayoutError as exc:
            fail(f"layout refused: {exc}", ERROR)
    else:
        with _client(db, settings) as client:
            try:
                shown = live_to_layout(read_live(client))
            except HostError as exc:
                fail(str(exc), ERROR)
    typer.echo(render_layout(shown), nl=False)
