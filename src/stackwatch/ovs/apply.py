"""Reading the live switch, planning against a layout, applying the plan: the bridges and ports in
one OVSDB transaction, then the addresses of internal ports on their network devices."""

from __future__ import annotations

import time

from stackwatch.core.host import Host
from stackwatch.core.record import dataclass, field
from stackwatch.ovs.address import (
    AddressError,
    DeviceChange,
    configure_devices,
    declared_addresses,
    plan_devices,
)
from stackwatch.ovs.layout import Layout
from stackwatch.ovs.live import ADDRESS_KEY, LiveSwitch, read_live
from stackwatch.ovs.ovsdb import OvsdbClient, OvsdbTransactionError
from stackwatch.ovs.plan import Plan, plan_layout


@dataclass(frozen=True)
class Devices:
    """Where the network devices of internal ports live, for their addresses."""

    host: Host = field(default_factory=Host)
    netns: str | None = None  # the namespace ovs-vswitchd runs in; None: the host's
    timeout: float = 5.0  # for a new port's device to appear


@dataclass(frozen=True)
class FullPlan:
    plan: Plan
    devices: tuple[DeviceChange, ...]

    @property
    def empty(self) -> bool:
        return self.plan.empty and not self.devices

    def lines(self) -> list[str]:
        return [str(c) for c in self.plan.changes] + [str(d) for d in self.devices]


@dataclass(frozen=True)
class ApplyOutcome:
    plan: Plan
    applied: bool  # the OVSDB transaction was sent
    devices: tuple[DeviceChange, ...] = ()  # what was done to network devices

    def lines(self) -> list[str]:
        return [str(c) for c in self.plan.changes] + [str(d) for d in self.devices]

    @property
    def changed(self) -> bool:
        return self.applied or bool(self.devices)


def _ports(live: LiveSwitch) -> set[str]:
    return {p.name for b in live.bridges for p in b.ports}


def plan_against(
    client: OvsdbClient, layout: Layout, prune: bool = False, devices: Devices | None = None
) -> FullPlan:
    if devices is not None:
        _check_netns(devices)
    live: LiveSwitch = read_live(client)
    plan = plan_layout(layout, live, prune)
    if devices is None:
        return FullPlan(plan, ())
    new_ports = frozenset(p.name for b in layout.bridges for p in b.ports) - _ports(live)
    return FullPlan(plan, tuple(plan_devices(layout, devices.host, devices.netns, new_ports)))


def apply_layout(
    client: OvsdbClient, layout: Layout, prune: bool = False, devices: Devices | None = None
) -> ApplyOutcome:
    """Make the switch match ``layout`` in one OVSDB transaction; nothing when it already does.

    The transaction carries ``wait`` operations on what was read: when another client changed the
    bridges in between, the server refuses the whole transaction and nothing is changed. Only
    after it succeeded are addresses set on the devices of internal ports (with ``devices``).
    """
    if devices is not None:
        _check_netns(devices)
    live = read_live(client)
    plan = plan_layout(layout, live, prune)
    if not plan.empty:
        try:
            client.transact(plan.operations)
        except OvsdbTransactionError as exc:
            if "timed out" in str(exc):
                raise OvsdbTransactionError(
                    "the bridges changed while applying (another client?); nothing was changed, "
                    "run apply again"
                ) from exc
            raise
    done: list[DeviceChange] = []
    if devices is not None and declared_addresses(layout):
        if not plan.empty:
            _wait_for_vswitchd(client, devices)
        previous = {p.name: p.external_ids.get(ADDRESS_KEY) for b in live.bridges for p in b.ports}
        try:
            done = configure_devices(
                layout, devices.host, devices.netns, previous, timeout=devices.timeout
            )
        except AddressError as exc:
            if plan.empty:
                raise
            raise AddressError(f"the OVSDB changes are made, but: {exc}") from None
    return ApplyOutcome(plan, not plan.empty, tuple(done))


def _check_netns(devices: Devices) -> None:
    """A namespace that does not exist is refused before anything changes."""
    if devices.netns is not None and not devices.host.exists(f"/run/netns/{devices.netns}"):
        raise AddressError(
            f"network namespace {devices.netns} does not exist (see ip netns list); nothing changed"
        )


def _wait_for_vswitchd(client: OvsdbClient, devices: Devices) -> None:
    """Wait until ovs-vswitchd has carried out the transaction (its cur_cfg reached next_cfg),
    as ovs-vsctl does: only then do the devices of new ports exist and removed ones are gone."""
    deadline = time.monotonic() + devices.timeout
    while True:
        rows = client.select("Open_vSwitch", ("next_cfg", "cur_cfg"))
        row = rows[0] if rows else {}
        wanted, current = row.get("next_cfg"), row.get("cur_cfg")
        if isinstance(wanted, int) and isinstance(current, int) and current >= wanted:
            return
        if time.monotonic() >= deadline:
            where = f"network namespace {devices.netns}" if devices.netns else "this host"
            raise AddressError(
                f"the OVSDB changes are made, but ovs-vswitchd did not carry them out within "
                f"{devices.timeout:g} s (is it running on {where}?); internal ports have no "
                "address yet: run apply again once it runs"
            )
        time.sleep(0.02)
