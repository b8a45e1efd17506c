"""``stackwatch switch ports|vlans|lldp|verify``: what switches say, and whether trunks carry
what the hypervisors behind them need."""

from __future__ import annotations

import os
import sys
import time
from enum import StrEnum
from typing import Annotated, NoReturn

import typer

from stackwatch.cli_support import load_settings, plugin_command
from stackwatch.core.exits import (
    FAILED,
    OK,
    PLUGIN_UNKNOWN,
    USAGE,
    fail,
    plugin_error,
    usage_error,
)
from stackwatch.core.host import Host
from stackwatch.core.state import DEFAULT_STATE_DIR, StateStore
from stackwatch.render.safe import printable
from stackwatch.switch.client import Target
from stackwatch.switch.device import DeviceFacts, read_devices
from stackwatch.switch.inventory import Inventory, InventoryError, load_inventory
from stackwatch.switch.settings import SwitchSettings
from stackwatch.switch.targets import TargetError, address_target, device_target

app = typer.Typer(
    rich_markup_mode=None,
    help="Switches over SNMP: ports, trunk VLANs, LLDP neighbours, and verify them against an "
    "inventory.",
    no_args_is_help=True,
)


class ViewFormat(StrEnum):
    text = "text"
    json = "json"


class PluginFormat(StrEnum):
    text = "text"
    nagios = "nagios"
    json = "json"
    prometheus = "prometheus"


DeviceArg = Annotated[
    str, typer.Argument(help="a device of the inventory, or HOST[:PORT] with a secrets file")
]
InventoryOpt = Annotated[
    str | None, typer.Option("--inventory", help="inventory YAML (default: [switch] inventory)")
]
CommunityOpt = Annotated[
    str | None, typer.Option("--community-file", help="file whose first line is the community")
]
V3Opt = Annotated[
    str | None,
    typer.Option("--v3-file", help="YAML file: user, auth/priv protocols and passwords"),
]
FormatOpt = Annotated[ViewFormat, typer.Option("--format", help="text or json")]
TimeoutOpt = Annotated[
    float | None, typer.Option("--timeout", help="seconds per device (default: [switch] timeout)")
]
ConfigOpt = Annotated[str | None, typer.Option("--config", help="TOML configuration")]


def _finish(code: int) -> NoReturn:
    """End the command; where a reader still runs past its deadline, without tearing the
    interpreter down under it (see client.still_reading)."""
    from stackwatch.switch.client import still_reading

    if still_reading():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    raise typer.Exit(code)


def _timeout(value: float | None, settings: SwitchSettings, code: int) -> float:
    chosen = settings.timeout if value is None else value
    if not 0 < chosen <= 600:  # also refuses nan and inf
        _fail(f"--timeout must be above 0 and at most 600 seconds, not {chosen}", code)
    return chosen


def _inventory(path: str | None, settings: SwitchSettings, code: int) -> Inventory | None:
    chosen = path or settings.inventory
    if not chosen:
        return None
    try:
        return load_inventory(chosen, Host())
    except InventoryError as exc:
        _fail(f"inventory refused: {exc}", code)


PLUGIN_NAME = "SWITCH-VLANS"  # the status line's name, as the switch-vlans check renders it


def _fail(message: str, code: int = PLUGIN_UNKNOWN) -> NoReturn:
    if code == PLUGIN_UNKNOWN:
        plugin_error(message, PLUGIN_NAME)
    fail(message, code)


def _target(
    device: str, inventory: Inventory | None, community: str | None, v3: str | None
) -> Target:
    declared = inventory.device(device) if inventory else None
    try:
        if declared is not None and community is None and v3 is None:
            return device_target(declared, Host())
        return address_target(device, Host(), community, v3)
    except TargetError as exc:
        if declared is None and community is None and v3 is None:
            usage_error(
                f"{device}: not a device of the inventory; for an address give "
                "--community-file or --v3-file"
            )
        usage_error(str(exc))


def _read_one(
    what: set[str],
    device: str,
    inventory: str | None,
    community: str | None,
    v3: str | None,
    timeout: float | None,
    config: str | None,
) -> tuple[DeviceFacts, SwitchSettings]:
    settings: SwitchSettings = load_settings(config, "switch")[1]
    target = _target(device, _inventory(inventory, settings, USAGE), community, v3)
    seconds = _timeout(timeout, settings, USAGE)
    facts = read_devices([target], what, seconds, settings.max_repetitions)[0]
    if facts.error is not None:
        typer.echo(f"stackwatch: {printable(device)}: {printable(facts.error)}", err=True)
        _finish(FAILED)
    return facts, settings


@app.command("ports")
def ports(
    device: DeviceArg,
    inventory: InventoryOpt = None,
    community_file: CommunityOpt = None,
    v3_file: V3Opt = None,
    output: FormatOpt = ViewFormat.text,
    timeout: TimeoutOpt = None,
    config: ConfigOpt = None,
    state_dir: Annotated[
        str | None, typer.Option("--state-dir", help="where counters are kept between runs")
    ] = None,
) -> None:
    """Interfaces: status, speed, counters and rates since the previous reading."""
    from stackwatch.switch.check import rates_for
    from stackwatch.switch.views import ports_json, ports_text

    args = (device, inventory, community_file, v3_file, timeout, config)
    facts, settings = _read_one({"ports"}, *args)
    chosen = state_dir or settings.state_dir
    store = StateStore(chosen or DEFAULT_STATE_DIR, fallback=chosen is None)
    rates = rates_for(store, facts, time.time())
    for warning in store.warnings:
        typer.echo(f"stackwatch: warning: {warning}", err=True)
    view = ports_json if output is ViewFormat.json else ports_text
    typer.echo(view(facts, rates), nl=False)
    _finish(OK)


def _view_command(what: str, summary: str) -> None:
    """``switch vlans`` and ``switch lldp``: read one part of one device, print it."""

    def command(
        device: DeviceArg,
        inventory: InventoryOpt = None,
        community_file: CommunityOpt = None,
        v3_file: V3Opt = None,
        output: FormatOpt = ViewFormat.text,
        timeout: TimeoutOpt = None,
        config: ConfigOpt = None,
    ) -> None:
        from stackwatch.switch import views

        args = (device, inventory, community_file, v3_file, timeout, config)
        facts = _read_one({what}, *args)[0]
        shown = {
            ("vlans", ViewFormat.text): views.vlans_text,
            ("vlans", ViewFormat.json): views.vlans_json,
            ("lldp", ViewFormat.text): views.lldp_text,
            ("lldp", ViewFormat.json): views.lldp_json,
        }[what, output]
        typer.echo(shown(facts), nl=False)
        _finish(OK)

    command.__doc__ = summary
    app.command(what)(command)


_view_command(
    "vlans",
    "The VLANs each port carries (CISCO-VTP or Q-BRIDGE), its native VLAN, what is unknown.",
)
_view_command("lldp", "LLDP neighbours, each on the interface it was seen on.")


PluginCommand = plugin_command(PLUGIN_NAME)


@app.command("verify", cls=PluginCommand)
def verify(
    inventory: Annotated[
        str | None, typer.Argument(help="inventory YAML (default: [switch] inventory)")
    ] = None,
    output: Annotated[
        PluginFormat, typer.Option("--format", help="text, nagios, json or prometheus")
    ] = PluginFormat.text,
    timeout: TimeoutOpt = None,
    group: Annotated[
        str | None, typer.Option("--group", help="only the devices of this group")
    ] = None,
    lldpctl: Annotated[
        str | None,
        typer.Option(
            "--lldpctl",
            help="folder of HOST.json, `lldpctl -f json` of each hypervisor (default: "
            "[switch] lldpctl_dir)",
        ),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Per hypervisor NIC: VLANs missing or extra, native VLAN, link, neighbour. Exits like a
    Nagios plugin: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (every error included)."""
    from stackwatch.render import render
    from stackwatch.switch.check import read_inventory_devices, read_uplinks
    from stackwatch.switch.verify import judge_inventory

    settings = _plugin_settings(config)
    loaded = _inventory(inventory, settings, PLUGIN_UNKNOWN)
    if loaded is None:
        _fail("name an inventory file (or set [switch] inventory in the configuration)")
    seconds = _timeout(timeout, settings, PLUGIN_UNKNOWN)
    if group is not None:
        loaded = _in_group(loaded, group)
    budget = SwitchSettings(loaded.path, seconds, settings.max_repetitions)
    try:
        uplinks, problems = read_uplinks(Host(), lldpctl or settings.lldpctl_dir)
        devices = read_inventory_devices(loaded, {"vlans", "lldp"}, budget, Host())
        result = judge_inventory(loaded, devices, uplinks, problems)
    except Exception as exc:  # a plugin answers UNKNOWN with a reason, never a traceback
        _fail(f"failed: {type(exc).__name__}: {exc}")
    typer.echo(render([result], output.value), nl=False)
    _finish(int(result.status))


def _plugin_settings(config: str | None) -> SwitchSettings:
    """[switch] of the configuration; a configuration error is the plugin's UNKNOWN."""
    from stackwatch.core.config import DEFAULT_CONFIG, ConfigError, load_config, settings_for

    try:
        loaded = load_config(config or DEFAULT_CONFIG, required=config is not None)
        settings: SwitchSettings = settings_for(loaded, "switch")
    except ConfigError as exc:
        _fail(str(exc))
    return settings


@app.command("uplinks")
def uplinks(
    output: FormatOpt = ViewFormat.text,
    timeout: Annotated[float, typer.Option("--timeout", help="seconds for lldpctl")] = 10.0,
    socket: Annotated[
        str | None, typer.Option("--socket", help="lldpd's control socket (lldpctl -u)")
    ] = None,
) -> None:
    """On a hypervisor: which switch port each NIC is on, from lldpd (`lldpctl -f json`)."""
    from stackwatch.core.host import HostError
    from stackwatch.switch.lldpctl import parse_lldpctl
    from stackwatch.switch.octets import DecodeError
    from stackwatch.switch.views import uplinks_json, uplinks_text

    try:
        argv = ["lldpctl", *(["-u", socket] if socket else []), "-f", "json"]
        found = parse_lldpctl(Host().run(argv, timeout=timeout).stdout)
    except (HostError, DecodeError) as exc:
        fail(f"lldpctl: {exc}", FAILED)
    typer.echo((uplinks_json if output is ViewFormat.json else uplinks_text)(found), nl=False)


def _in_group(inventory: Inventory, group: str) -> Inventory:
    from stackwatch.core.record import replace

    devices = tuple(d for d in inventory.devices if group in d.groups)
    if not devices:
        _fail(f"no device of the inventory is in group {group!r}")
    return replace(inventory, devices=devices)
