"""``stackwatch ovs plan|apply|verify|export|show``: declarative Open vSwitch bridge layouts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

from stackwatch.cli_support import fail, load_config_or_exit
from stackwatch.core.config import ConfigError, build
from stackwatch.core.host import HostError
from stackwatch.ovs.layout import Layout, LayoutError, dump_layout, load_layout
from stackwatch.ovs.ovsdb import DEFAULT_DB, DEFAULT_TIMEOUT, OvsdbClient

if TYPE_CHECKING:
    from stackwatch.ovs.apply import Devices

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


def _settings(config_path: str | None) -> OvsSettings:
    config = load_config_or_exit(config_path, ERROR)
    try:
        return build(OvsSettings, config.section("ovs"), config.where("ovs"))
    except ConfigError as exc:
        fail(str(exc), ERROR)


def _layout(path: str | None, settings: OvsSettings) -> Layout:
    chosen = path or settings.layout
    if not chosen:
        fail("name a layout file (or set [ovs] layout in the configuration)", ERROR)
    try:
        return load_layout(chosen)
    except LayoutError as exc:
        fail(f"layout refused: {exc}", ERROR)


def _devices(netns: str | None, settings: OvsSettings) -> Devices:
    from stackwatch.core.host import Host
    from stackwatch.ovs.apply import Devices

    chosen = netns or settings.netns
    if chosen is not None and (not chosen or "/" in chosen or chosen in (".", "..")):
        fail(f"--netns {chosen!r}: not a network namespace name", ERROR)
    return Devices(Host(), chosen, settings.timeout)


def _client(db: str | None, settings: OvsSettings) -> OvsdbClient:
    client = OvsdbClient(db or settings.db, settings.timeout)
    try:
        return client.connect()
    except HostError as exc:
        fail(str(exc), ERROR)


def _prepare(
    layout: str | None, netns: str | None, db: str | None, config: str | None
) -> tuple[Layout, Devices, OvsdbClient]:
    """What plan, apply and verify start from: the layout, where its devices are, the OVSDB."""
    settings = _settings(config)
    return _layout(layout, settings), _devices(netns, settings), _client(db, settings)


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

    wanted, devices, connection = _prepare(layout, netns, db, config)
    with connection as client:
        try:
            full = plan_against(client, wanted, prune, devices)
        except HostError as exc:
            fail(str(exc), ERROR)
    lines = full.lines()
    _echo(lines, full.plan.notes)
    if full.empty:
        typer.echo(f"no changes: the switch matches {wanted.source}")
        raise typer.Exit(0)
    typer.echo(f"{len(lines)} changes; run stackwatch ovs apply to make them")
    raise typer.Exit(CHANGES)


def _echo(lines: list[str], notes: list[str]) -> None:
    for line in lines:
        typer.echo(line)
    for note in notes:
        typer.echo(f"  note: {note}")


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
    from stackwatch.ovs.address import AddressError
    from stackwatch.ovs.apply import apply_layout

    wanted, devices, connection = _prepare(layout, netns, db, config)
    with connection as client:
        try:
            outcome = apply_layout(client, wanted, prune, devices)
        except AddressError as exc:
            fail(str(exc), ERROR)
        except HostError as exc:
            fail(f"nothing changed: {exc}", ERROR)
    _echo(outcome.lines(), outcome.plan.notes)
    if not outcome.changed:
        typer.echo(f"no changes: the switch matches {wanted.source}")
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
    output: Annotated[str, typer.Option("--format", help="text or nagios")] = "text",
) -> None:
    """The ovs-bridges check: every difference between the switch and the layout."""
    from stackwatch.ovs.checks import OvsBridgesOptions, compare_layout, judge_bridges
    from stackwatch.ovs.live import read_live

    wanted, devices, connection = _prepare(layout, netns, db, config)
    with connection as client:
        try:
            facts = compare_layout(wanted, read_live(client), devices.host, devices.netns)
        except HostError as exc:
            typer.echo(f"OVS-BRIDGES UNKNOWN - {exc}")
            raise typer.Exit(3) from None
    result = judge_bridges(facts, OvsBridgesOptions())
    if output == "nagios":
        from stackwatch.render.nagios import render_nagios

        typer.echo(render_nagios([result]), nl=False)
    else:
        typer.echo(f"{result.status.name}: {result.summary}")
        for line in result.details:
            typer.echo(f"  {line}")
        if result.hint:
            typer.echo(f"hint: {result.hint}")
    raise typer.Exit(int(result.status))


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
