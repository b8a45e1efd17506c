"""The difference between a declared layout and the live switch, and the one OVSDB transaction
that closes it.

``plan_layout`` is pure: it takes the layout and a LiveSwitch snapshot and returns the changes (for
people) and the operations (for OVSDB). ``apply`` sends those operations as a single transaction,
guarded by ``wait`` operations on what was read, so a switch changed by someone else in between is
left untouched rather than half-changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stackwatch.ovs.layout import BridgeSpec, Layout, PortSpec
from stackwatch.ovs.live import (
    ADDRESS_KEY,
    MANAGED_KEY,
    LiveBridge,
    LivePort,
    LiveSwitch,
    port_to_spec,
)
from stackwatch.ovs.ovsdb import named, ovs_map, ovs_set, ref


@dataclass(frozen=True)
class Change:
    action: str  # "add", "change", "remove"
    what: str  # "bridge br-ex", "port br-ex/bond0"
    details: tuple[str, ...] = ()

    def __str__(self) -> str:
        sign = {"add": "+", "change": "~", "remove": "-"}[self.action]
        text = f"{sign} {self.what}"
        if self.details:
            text += ": " + "; ".join(self.details)
        return text


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # drift apply leaves alone, and why
    operations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.changes


def _optional(value: Any) -> Any:
    return ovs_set([] if value is None else [value])


def _describe(spec: PortSpec) -> str:
    parts = []
    if spec.is_bond:
        parts.append("bond of " + "+".join(spec.members))
        if spec.bond_mode:
            parts.append(spec.bond_mode)
        if spec.lacp:
            parts.append(f"lacp {spec.lacp}")
    elif spec.type != "system":
        parts.append(spec.type)
    if spec.tag is not None:
        parts.append(f"tag {spec.tag}")
    if spec.trunks:
        parts.append("trunks " + ",".join(map(str, spec.trunks)))
    for key, value in sorted(spec.options.items()):
        parts.append(f"{key}={value}")
    if spec.address:
        parts.append(f"address {spec.address}")
    return ", ".join(parts) if parts else "system interface"


def _fmt(value: Any) -> str:
    if value is None or value == () or value == {}:
        return "(none)"
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={v}" for k, v in sorted(value.items())) + "}"
    return str(value)


def port_differences(want: PortSpec, have: PortSpec) -> list[str]:
    """What differs between a declared and a live port, in words."""
    diffs = []
    if want.is_bond or have.is_bond:
        if set(want.members) != set(have.members):
            diffs.append(f"members {_fmt(tuple(have.members))} -> {_fmt(tuple(want.members))}")
    elif want.type != have.type:
        diffs.append(f"type {have.type} -> {want.type}")
    for name in ("tag", "trunks", "vlan_mode", "bond_mode", "lacp", "options", "other_config"):
        if name == "options" and want.is_bond:
            continue
        a, b = getattr(have, name), getattr(want, name)
        if (a or None) != (b or None):
            diffs.append(f"{name} {_fmt(a)} -> {_fmt(b)}")
    if want.address != have.address:
        diffs.append(f"address {_fmt(have.address)} -> {_fmt(want.address)}")
    return diffs


def bridge_differences(want: BridgeSpec, have: LiveBridge) -> list[str]:
    diffs = []
    if want.fail_mode != have.fail_mode:
        diffs.append(f"fail_mode {_fmt(have.fail_mode)} -> {_fmt(want.fail_mode)}")
    if want.datapath_type != have.datapath_type:
        diffs.append(
            f"datapath_type {have.datapath_type or 'system'} -> {want.datapath_type or 'system'}"
        )
    if want.other_config != have.other_config:
        diffs.append(f"other_config {_fmt(have.other_config)} -> {_fmt(want.other_config)}")
    return diffs


class _Ops:
    """Builds the operations of one transaction, naming new rows."""

    def __init__(self) -> None:
        self.ops: list[dict[str, Any]] = []
        self._count = 0

    def new_name(self) -> str:
        self._count += 1
        return f"row{self._count}"

    def insert(self, table: str, row: dict[str, Any]) -> list[str]:
        name = self.new_name()
        self.ops.append({"op": "insert", "table": table, "row": row, "uuid-name": name})
        return named(name)

    def update(self, table: str, uuid: str, row: dict[str, Any]) -> None:
        self.ops.append(
            {"op": "update", "table": table, "where": [["_uuid", "==", ref(uuid)]], "row": row}
        )

    def mutate(self, table: str, uuid: str, column: str, mutator: str, value: Any) -> None:
        self.ops.append(
            {
                "op": "mutate",
                "table": table,
                "where": [["_uuid", "==", ref(uuid)]],
                "mutations": [[column, mutator, value]],
            }
        )

    def wait_unchanged(self, table: str, uuid: str, column: str, value: Any) -> None:
        self.ops.append(
            {
                "op": "wait",
                "table": table,
                "timeout": 0,
                "where": [["_uuid", "==", ref(uuid)]],
                "columns": [column],
                "until": "==",
                "rows": [{column: value}],
            }
        )


def _interface_row(name: str, kind: str, options: dict[str, str]) -> dict[str, Any]:
    return {
        "name": name,
        "type": "" if kind == "system" else kind,
        "options": ovs_map(options),
        "external_ids": ovs_map({MANAGED_KEY: "true"}),
    }


def _port_row(spec: PortSpec, external_ids: dict[str, str]) -> dict[str, Any]:
    ids = dict(external_ids)
    ids.pop(ADDRESS_KEY, None)
    if spec.address:
        ids[ADDRESS_KEY] = spec.address
    return {
        "tag": _optional(spec.tag),
        "trunks": ovs_set(spec.trunks),
        "vlan_mode": _optional(spec.vlan_mode),
        "bond_mode": _optional(spec.bond_mode),
        "lacp": _optional(spec.lacp),
        "other_config": ovs_map(spec.other_config),
        "external_ids": ovs_map(ids),
    }


def _insert_port(ops: _Ops, spec: PortSpec) -> list[str]:
    options = {} if spec.is_bond else spec.options
    kind = "system" if spec.is_bond else spec.type
    ifaces = [ops.insert("Interface", _interface_row(n, kind, options)) for n in spec.interfaces]
    row = _port_row(spec, {MANAGED_KEY: "true"})
    row["name"] = spec.name
    row["interfaces"] = ovs_set(ifaces)
    return ops.insert("Port", row)


def _update_port(ops: _Ops, spec: PortSpec, live: LivePort) -> None:
    existing = {i.name: i for i in live.interfaces}
    refs: list[Any] = []
    kind = "system" if spec.is_bond else spec.type
    options = {} if spec.is_bond else spec.options
    for name in spec.interfaces:
        iface = existing.get(name)
        if iface is None:
            refs.append(ops.insert("Interface", _interface_row(name, kind, options)))
            continue
        refs.append(ref(iface.uuid))
        if iface.type != kind or iface.options != options:
            ops.update(
                "Interface",
                iface.uuid,
                {"type": "" if kind == "system" else kind, "options": ovs_map(options)},
            )
    row = _port_row(spec, live.external_ids)
    row["interfaces"] = ovs_set(refs)
    ops.update("Port", live.uuid, row)


def plan_layout(layout: Layout, live: LiveSwitch, prune: bool = False) -> Plan:
    """The changes that make ``live`` match ``layout``, and their OVSDB operations."""
    plan = Plan()
    ops = _Ops()
    declared_bridges = {b.name for b in layout.bridges}
    declared_ports = {p.name: b.name for b in layout.bridges for p in b.ports}
    declared_ifaces = {i: p.name for b in layout.bridges for p in b.ports for i in p.interfaces}

    # Live ports that must go: declared in another bridge, or holding a declared interface.
    displaced: dict[str, str] = {}  # live port uuid -> why it goes
    for bridge in live.bridges:
        for held in bridge.user_ports:
            home = declared_ports.get(held.name)
            if home is not None and home != bridge.name:
                displaced[held.uuid] = f"moves to bridge {home}"
            else:
                for iface in held.interfaces:
                    owner = declared_ifaces.get(iface.name)
                    if owner is not None and owner != held.name:
                        displaced[held.uuid] = f"its interface {iface.name} is declared in {owner}"
                        break

    bridge_refs: list[Any] = []
    removed_bridges: list[str] = []
    for bridge in live.bridges:
        if bridge.name in declared_bridges:
            continue
        moving = [p for p in bridge.user_ports if p.uuid in displaced]
        if bridge.managed and prune:
            plan.changes.append(Change("remove", f"bridge {bridge.name}", ("no longer declared",)))
            removed_bridges.append(bridge.uuid)
            continue
        if bridge.managed:
            plan.notes.append(f"bridge {bridge.name}: no longer declared; apply --prune removes it")
        else:
            plan.notes.append(
                f"bridge {bridge.name}: not in the layout and not created by stackwatch; left alone"
            )
        for gone in moving:
            plan.changes.append(
                Change("remove", f"port {bridge.name}/{gone.name}", (displaced[gone.uuid],))
            )
            ops.mutate("Bridge", bridge.uuid, "ports", "delete", ovs_set([ref(gone.uuid)]))

    for spec in layout.bridges:
        have = live.bridge(spec.name)
        if have is None:
            port_refs = [_insert_port(ops, p) for p in spec.ports]
            local_iface = ops.insert("Interface", _interface_row(spec.name, "internal", {}))
            local_port = ops.insert(
                "Port",
                {
                    "name": spec.name,
                    "interfaces": ovs_set([local_iface]),
                    "external_ids": ovs_map({MANAGED_KEY: "true"}),
                },
            )
            bridge_row: dict[str, Any] = {
                "name": spec.name,
                "ports": ovs_set([local_port, *port_refs]),
                "fail_mode": _optional(spec.fail_mode),
                "datapath_type": spec.datapath_type or "",
                "other_config": ovs_map(spec.other_config),
                "external_ids": ovs_map({MANAGED_KEY: "true"}),
            }
            bridge_refs.append(ops.insert("Bridge", bridge_row))
            details = [f"{len(spec.ports)} ports"]
            if spec.fail_mode:
                details.append(f"fail_mode {spec.fail_mode}")
            if spec.datapath_type:
                details.append(f"datapath {spec.datapath_type}")
            plan.changes.append(Change("add", f"bridge {spec.name}", tuple(details)))
            for port in spec.ports:
                plan.changes.append(
                    Change("add", f"port {spec.name}/{port.name}", (_describe(port),))
                )
            continue

        diffs = bridge_differences(spec, have)
        if diffs:
            plan.changes.append(Change("change", f"bridge {spec.name}", tuple(diffs)))
            ops.update(
                "Bridge",
                have.uuid,
                {
                    "fail_mode": _optional(spec.fail_mode),
                    "datapath_type": spec.datapath_type or "",
                    "other_config": ovs_map(spec.other_config),
                },
            )
        live_ports = {p.name: p for p in have.user_ports}
        add_refs: list[Any] = []
        remove_refs: list[Any] = []
        for port in spec.ports:
            current = live_ports.get(port.name)
            if current is not None and current.uuid in displaced:
                current = None  # cannot happen for a port declared here; kept for safety
            if current is None:
                add_refs.append(_insert_port(ops, port))
                plan.changes.append(
                    Change("add", f"port {spec.name}/{port.name}", (_describe(port),))
                )
                continue
            port_diffs = port_differences(port, port_to_spec(current))
            if port_diffs:
                _update_port(ops, port, current)
                plan.changes.append(
                    Change("change", f"port {spec.name}/{port.name}", tuple(port_diffs))
                )
        for name, current in sorted(live_ports.items()):
            if name in declared_ports and declared_ports[name] == spec.name:
                continue
            if current.uuid in displaced:
                remove_refs.append(ref(current.uuid))
                plan.changes.append(
                    Change("remove", f"port {spec.name}/{name}", (displaced[current.uuid],))
                )
            elif current.managed and prune:
                remove_refs.append(ref(current.uuid))
                plan.changes.append(
                    Change("remove", f"port {spec.name}/{name}", ("no longer declared",))
                )
            elif current.managed:
                plan.notes.append(
                    f"port {spec.name}/{name}: no longer declared; apply --prune removes it"
                )
            else:
                plan.notes.append(
                    f"port {spec.name}/{name}: not in the layout and not created by stackwatch; "
                    "left alone"
                )
        if add_refs or remove_refs:
            ops.wait_unchanged(
                "Bridge", have.uuid, "ports", ovs_set([ref(u) for u in have.port_uuids])
            )
        if remove_refs:
            ops.mutate("Bridge", have.uuid, "ports", "delete", ovs_set(remove_refs))
        if add_refs:
            ops.mutate("Bridge", have.uuid, "ports", "insert", ovs_set(add_refs))

    if bridge_refs or removed_bridges:
        ops.wait_unchanged(
            "Open_vSwitch",
            live.root_uuid,
            "bridges",
            ovs_set([ref(u) for u in live.bridge_uuids]),
        )
    if removed_bridges:
        ops.mutate(
            "Open_vSwitch",
            live.root_uuid,
            "bridges",
            "delete",
            ovs_set([ref(u) for u in removed_bridges]),
        )
    if bridge_refs:
        ops.mutate("Open_vSwitch", live.root_uuid, "bridges", "insert", ovs_set(bridge_refs))
    if ops.ops:
        ops.mutate("Open_vSwitch", live.root_uuid, "next_cfg", "+=", 1)
        ops.ops.append({"op": "comment", "comment": "stackwatch ovs apply"})
    plan.operations = ops.ops
    return plan


def verify_differences(layout: Layout, live: LiveSwitch) -> list[str]:
    """Every difference between the layout and the live switch, whoever made it."""
    plan = plan_layout(layout, live, prune=True)
    found = [str(c) for c in plan.changes]
    found += plan.notes
    return found
