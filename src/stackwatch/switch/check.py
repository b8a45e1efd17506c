"""The checks ``switch-ports`` (check_snmp_int's job, for every switch of the inventory at once)
and ``switch-vlans`` (``switch verify`` as a check).

switch-ports: per device, the ports that are down, that carry errors or discards, or whose
traffic is near their speed; one result with the failing ports named per device. The main
figure (-w/-c) is the busiest port's use of its speed, in percent. Rates come from the counters
saved per device on the previous run (state ``switch-ports.DEVICE``).
"""

from __future__ import annotations

import hashlib
import os
import re
from typing import TYPE_CHECKING

from stackwatch.core.findings import Findings
from stackwatch.core.host import Host
from stackwatch.core.ranges import Range, parse_range
from stackwatch.core.record import dataclass, field
from stackwatch.core.registry import Check, CheckContext, NotApplicable
from stackwatch.core.result import Metric, Result, Status, judge_value, worst
from stackwatch.core.state import StateStore
from stackwatch.switch.counters import PortRates, port_rates, port_sample
from stackwatch.switch.settings import SwitchSettings

if TYPE_CHECKING:  # the rest is imported when a switch inventory is configured
    from stackwatch.switch.device import DeviceFacts
    from stackwatch.switch.inventory import Inventory
    from stackwatch.switch.lldpctl import Uplink
    from stackwatch.switch.tables import Interface

LINK_DOWN_CHOICES = ("described", "all", "none")


@dataclass(frozen=True)
class PortsOptions:
    warning: Range | None = field(default_factory=lambda: parse_range("80"))  # % of port speed
    critical: Range | None = field(default_factory=lambda: parse_range("95"))  # % of port speed
    error_rate_warning: Range | None = field(default_factory=lambda: parse_range("1"))  # per s
    error_rate_critical: Range | None = field(default_factory=lambda: parse_range("10"))  # per s
    discard_rate_warning: Range | None = field(default_factory=lambda: parse_range("10"))  # /s
    discard_rate_critical: Range | None = None  # discards per second, in and out together
    link_down: str = "described"  # ports whose link down is CRITICAL: described, all or none


@dataclass(frozen=True)
class VlansOptions:
    """switch-vlans has no thresholds: the inventory says what each port must carry."""


@dataclass(frozen=True)
class DevicePorts:
    facts: DeviceFacts
    rates: PortRates
    expected: frozenset[str] = frozenset()  # ports the inventory names: watched when described


@dataclass(frozen=True)
class PortsFacts:
    devices: tuple[DevicePorts, ...]


def state_name(device: str) -> str:
    """A state file name for a device name (any text): readable, and unique by a hash."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", device)[:60]
    digest = hashlib.sha256(device.encode()).hexdigest()[:8]
    return f"switch-ports.{safe}.{digest}"


def _settings(ctx: CheckContext[object]) -> SwitchSettings:
    settings = ctx.settings if isinstance(ctx.settings, SwitchSettings) else SwitchSettings()
    if not settings.inventory:
        raise NotApplicable("no switch inventory ([switch] inventory in the configuration)")
    return settings


def _inventory(host: Host, path: str) -> Inventory:
    from stackwatch.switch.inventory import InventoryError, load_inventory

    try:
        return load_inventory(path, host)
    except InventoryError as exc:
        raise NotApplicable(f"inventory refused: {exc}") from None


def read_inventory_devices(
    inventory: Inventory, what: set[str], settings: SwitchSettings, host: Host
) -> list[DeviceFacts]:
    """Every device of the inventory, read at once; a device whose secrets cannot be read is
    a DeviceFacts with that error, the others are still read."""
    from stackwatch.switch.device import DeviceFacts, read_devices
    from stackwatch.switch.targets import TargetError, device_target

    targets, broken = [], []
    for device in inventory.devices:
        try:
            targets.append(device_target(device, host))
        except TargetError as exc:
            broken.append(DeviceFacts(device.name, str(exc)))
    facts = read_devices(targets, what, settings.timeout, settings.max_repetitions)
    return [*broken, *facts]


def rates_for(store: StateStore, facts: DeviceFacts, now: float) -> PortRates:
    """Rates since the device's saved sample; the new sample is saved for the next run."""
    if facts.error is not None:
        return PortRates()
    name = state_name(facts.name)
    rates = port_rates(store.load(name), facts.interfaces, facts.uptime, now)
    store.save(name, port_sample(facts.interfaces, facts.uptime, now))
    return rates


def collect_ports(ctx: CheckContext[PortsOptions]) -> PortsFacts:
    settings = _settings(ctx)  # type: ignore[arg-type]
    inventory = _inventory(ctx.host, str(settings.inventory))
    devices = read_inventory_devices(inventory, {"ports"}, settings, ctx.host)
    expected = {d.name: frozenset(d.ports) for d in inventory.devices}
    return PortsFacts(
        tuple(
            DevicePorts(
                f, rates_for(ctx.state.store, f, ctx.now), expected.get(f.name, frozenset())
            )
            for f in devices
        )
    )


# --- judging ports ------------------------------------------------------------------------


def _watched(interface: Interface, device: DevicePorts, link_down: str) -> bool:
    if link_down == "all":
        return True
    if link_down == "none":
        return False
    return bool(interface.alias) or interface.name in device.expected


def _use_percent(interface: Interface, rates: dict[str, float]) -> float | None:
    if not interface.speed_mbps or not rates:
        return None
    busiest = max(rates.get("in_octets", 0.0), rates.get("out_octets", 0.0))
    return 100.0 * busiest * 8 / (interface.speed_mbps * 1e6)


def _port_problems(
    interface: Interface, device: DevicePorts, options: PortsOptions
) -> list[tuple[Status, str]]:
    problems: list[tuple[Status, str]] = []
    if (
        interface.admin_up
        and interface.oper != "up"
        and _watched(interface, device, options.link_down)
    ):
        problems.append((Status.CRITICAL, f"{interface.name} {interface.oper}"))
    rates = device.rates.rates.get(interface.ifindex, {})
    errors = rates.get("in_errors", 0.0) + rates.get("out_errors", 0.0)
    discards = rates.get("in_discards", 0.0) + rates.get("out_discards", 0.0)
    use = _use_percent(interface, rates)
    for value, warn, crit, what in (
        (errors, options.error_rate_warning, options.error_rate_critical, "errors"),
        (discards, options.discard_rate_warning, options.discard_rate_critical, "discards"),
    ):
        status = judge_value(value, warn, crit) if rates else Status.OK
        if status != Status.OK:
            problems.append((status, f"{interface.name} {what} {value:.2f}/s"))
    if use is not None and (status := judge_value(use, options.warning, options.critical)):
        problems.append((status, f"{interface.name} at {use:.0f}% of {interface.speed_mbps}M"))
    return problems


def _judge_device(findings: Findings, device: DevicePorts, options: PortsOptions) -> None:
    facts = device.facts
    labels = {"device": facts.name}
    if facts.error is not None:
        findings.problem(Status.UNKNOWN, f"{facts.name}: {facts.error}")
        return
    problems = [p for i in facts.interfaces for p in _port_problems(i, device, options)]
    if problems:
        findings.problem(
            worst(s for s, _ in problems),
            f"{facts.name}: {', '.join(t for _, t in problems)}",
            "look at the ports named (cable, optic, the host behind, the load)",
        )
    uses = [
        u
        for i in facts.interfaces
        if (u := _use_percent(i, device.rates.rates.get(i.ifindex, {}))) is not None
    ]
    up = sum(i.oper == "up" for i in facts.interfaces)
    findings.metrics.extend(
        [
            Metric("ports_up", up, min=0, max=len(facts.interfaces), labels=labels),
            Metric("ports_failing", len({t.split()[0] for _, t in problems}), min=0, labels=labels),
            Metric(
                "busiest_port",
                round(max(uses, default=0.0), 2),
                "%",
                options.warning,
                options.critical,
                min=0,
                max=100,
                labels=labels,
            ),
        ]
    )
    findings.details.extend(_rate_details(facts.name, device.rates))


def _rate_details(name: str, rates: PortRates) -> list[str]:
    if rates.restarted:
        return [f"{name}: agent restarted (sysUpTime went back): no rates this run"]
    if rates.first_run:
        return [f"{name}: first reading: rates from the next run on"]
    notes = (
        [f"{name}: counters discontinuous on ifIndex {', '.join(map(str, rates.discontinuous))}"]
        if rates.discontinuous
        else []
    )
    return notes


def judge_ports(facts: PortsFacts, options: PortsOptions) -> Result:
    if options.link_down not in LINK_DOWN_CHOICES:
        return Result.unknown("switch-ports", f"link_down: one of {', '.join(LINK_DOWN_CHOICES)}")
    findings = Findings()
    for device in facts.devices:
        _judge_device(findings, device, options)
    return findings.result("switch-ports", f"{len(facts.devices)} switches: every port well")


# --- switch-vlans -------------------------------------------------------------------------


@dataclass(frozen=True)
class VlansFacts:
    inventory: Inventory
    devices: tuple[DeviceFacts, ...]
    uplinks: dict[str, tuple[Uplink, ...]] = field(default_factory=dict)
    problems: tuple[str, ...] = ()


def read_uplinks(host: Host, folder: str | None) -> tuple[dict[str, tuple[Uplink, ...]], list[str]]:
    """Per hypervisor (the file's name without .json), what its lldpd says; and the files that
    could not be read or parsed, one line each."""
    from stackwatch.core.host import HostError
    from stackwatch.switch.lldpctl import parse_lldpctl
    from stackwatch.switch.octets import DecodeError

    if not folder:
        return {}, []
    base = os.path.abspath(folder)
    uplinks: dict[str, tuple[Uplink, ...]] = {}
    problems: list[str] = []
    try:
        names = sorted(n for n in host.listdir(base) if n.endswith(".json"))
    except HostError as exc:
        return {}, [f"lldpctl files: {exc}"]
    for name in names:
        try:
            uplinks[name.removesuffix(".json")] = parse_lldpctl(host.read_text(f"{base}/{name}"))
        except (HostError, DecodeError) as exc:
            problems.append(f"{base}/{name}: {exc}")
    return uplinks, problems


def collect_vlans(ctx: CheckContext[VlansOptions]) -> VlansFacts:
    settings = _settings(ctx)  # type: ignore[arg-type]
    inventory = _inventory(ctx.host, str(settings.inventory))
    uplinks, problems = read_uplinks(ctx.host, settings.lldpctl_dir)
    return VlansFacts(
        inventory,
        uplinks=uplinks,
        problems=tuple(problems),
        devices=tuple(read_inventory_devices(inventory, {"vlans", "lldp"}, settings, ctx.host)),
    )


def judge_vlans(facts: VlansFacts, options: VlansOptions) -> Result:
    from stackwatch.switch.verify import judge_inventory

    return judge_inventory(facts.inventory, facts.devices, facts.uplinks, facts.problems)


CHECKS = [
    Check(
        "switch-ports",
        "switch ports down, error and discard rates, bandwidth against speed",
        collect_ports,
        judge_ports,
        PortsOptions,
    ),
    Check(
        "switch-vlans",
        "trunk VLANs against what the hypervisor NICs behind them need",
        collect_vlans,
        judge_vlans,
        VlansOptions,
    ),
]
