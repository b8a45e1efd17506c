"""The difference between a declared layout and the live switch, and the one OVSDB transaction
that closes it.

``plan_layout`` is pure: it takes the layout and a LiveSwitch snapshot and returns the changes (for
people) and the operations (for OVSDB). ``apply`` sends those operations as a single transaction,
guarded by ``wait`` operations on what was read, so a switch changed by someone else in between is
left untouched rather than half-changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stackwatch.core.record import dataclass, field
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


def describe_port(spec: PortSpec) -> str:
    """A port in one line: what it is (bond, type), its VLANs, options and address."""
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

    def change_refs(
        self,
        table: str,
        uuid: str,
        column: str,
        current: Sequence[str],
        remove: list[Any],
        add: list[Any],
    ) -> None:
        """Delete ``remove`` from and insert ``add`` into a column of references, guarded by a
        wait on its ``current`` uuids: a change made by someone else in between refuses the
        whole transaction instead of being overwritten."""
        if not (remove or add):
            return
        self.wait_unchanged(table, uuid, column, ovs_set([ref(u) for u in current]))
        if remove:
            self.mutate(table, uuid, column, "delete", ovs_set(remove))
        if add:
            self.mutate(table, uuid, column, "insert", ovs_set(add))

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
    planner = _Planner(layout, live, prune)
    for bridge in live.bridges:
        if layout.bridge(bridge.name) is None:
            planner.undeclared_bridge(bridge)
    for spec in layout.bridges:
        have = live.bridge(spec.name)
        if have is None:
            planner.new_bridge(spec)
        else:
            planner.existing_bridge(spec, have)
    return planner.finish()


def _displaced_ports(layout: Layout, live: LiveSwitch) -> dict[str, str]:
    """Live ports that must go, as uuid -> why: declared in another bridge, or holding an
    interface that the layout gives to another port."""
    declared_ports = {p.name: b.name for b in layout.bridges for p in b.ports}
    declared_ifaces = {i: p.name for b in layout.bridges for p in b.ports for i in p.interfaces}
    displaced: dict[str, str] = {}
    for bridge in live.bridges:
        for held in bridge.user_ports:
            home = declared_ports.get(held.name)
            if home is not None and home != bridge.name:
                displaced[held.uuid] = f"moves to bridge {home}"
                continue
            owners = ((i.name, declared_ifaces.get(i.name)) for i in held.interfaces)
            taken = next(((i, o) for i, o in owners if o is not None and o != held.name), None)
            if taken is not None:
                displaced[held.uuid] = f"its interface {taken[0]} is declared in {taken[1]}"
    return displaced


def _left_alone(what: str, managed: bool) -> str:
    """The note for a bridge or port that is not declared and that apply does not remove."""
    if managed:
        return f"{what}: no longer declared; apply --prune removes it"
    return f"{what}: not in the layout and not created by stackwatch; left alone"


def _bridge_row(spec: BridgeSpec, ports: list[Any]) -> dict[str, Any]:
    return {
        "name": spec.name,
        "ports": ovs_set(ports),
        "fail_mode": _optional(spec.fail_mode),
        "datapath_type": spec.datapath_type or "",
        "other_config": ovs_map(spec.other_config),
        "external_ids": ovs_map({MANAGED_KEY: "true"}),
    }


def _new_bridge_details(spec: BridgeSpec) -> tuple[str, ...]:
    details = [f"{len(spec.ports)} ports"]
    if spec.fail_mode:
        details.append(f"fail_mode {spec.fail_mode}")
    if spec.datapath_type:
        details.append(f"datapath {spec.datapath_type}")
    return tuple(details)


class _Planner:
    """Walks the layout beside the live switch, writing the changes (for people) and the
    operations (for OVSDB) of one plan, in the order the transaction needs them."""

    def __init__(self, layout: Layout, live: LiveSwitch, prune: bool) -> None:
        self.live = live
        self.prune = prune
        self.plan = Plan()
        self.ops = _Ops()
        self.declared_ports = {p.name: b.name for b in layout.bridges for p in b.ports}
        self.displaced = _displaced_ports(layout, live)
        self.new_bridges: list[Any] = []  # references to inserted Bridge rows
        self.removed_bridges: list[str] = []  # uuids

    def change(self, action: str, what: str, *details: str) -> None:
        self.plan.changes.append(Change(action, what, details))

    def undeclared_bridge(self, bridge: LiveBridge) -> None:
        """A live bridge the layout does not name: removed (with prune, if stackwatch made it)
        or left alone, less the ports that the layout moves elsewhere."""
        if bridge.managed and self.prune:
            self.change("remove", f"bridge {bridge.name}", "no longer declared")
            self.removed_bridges.append(bridge.uuid)
            return
        self.plan.notes.append(_left_alone(f"bridge {bridge.name}", bridge.managed))
        for gone in bridge.user_ports:
            if gone.uuid in self.displaced:
                self.change("remove", f"port {bridge.name}/{gone.name}", self.displaced[gone.uuid])
                self.ops.mutate("Bridge", bridge.uuid, "ports", "delete", ovs_set([ref(gone.uuid)]))

    def new_bridge(self, spec: BridgeSpec) -> None:
        """A declared bridge that does not exist: inserted with its ports and its local port."""
        ops = self.ops
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
        self.new_bridges.append(ops.insert("Bridge", _bridge_row(spec, [local_port, *port_refs])))
        self.change("add", f"bridge {spec.name}", *_new_bridge_details(spec))
        for port in spec.ports:
            self.change("add", f"port {spec.name}/{port.name}", describe_port(port))

    def existing_bridge(self, spec: BridgeSpec, have: LiveBridge) -> None:
        """A declared bridge that exists: its settings, its declared ports, the others."""
        diffs = bridge_differences(spec, have)
        if diffs:
            self.change("change", f"bridge {spec.name}", *diffs)
            self.ops.update(
                "Bridge",
                have.uuid,
                {
                    "fail_mode": _optional(spec.fail_mode),
                    "datapath_type": spec.datapath_type or "",
                    "other_config": ovs_map(spec.other_config),
                },
            )
        live_ports = {p.name: p for p in have.user_ports}
        added = [self.declared_port(spec.name, p, live_ports.get(p.name)) for p in spec.ports]
        removed = [
            self.undeclared_port(spec.name, name, current)
            for name, current in sorted(live_ports.items())
            if self.declared_ports.get(name) != spec.name
        ]
        self.ops.change_refs(
            "Bridge",
            have.uuid,
            "ports",
            have.port_uuids,
            [r for r in removed if r is not None],
            [r for r in added if r is not None],
        )

    def declared_port(self, bridge: str, port: PortSpec, current: LivePort | None) -> Any:
        """Insert or update one declared port; the reference of an inserted row, else None."""
        if current is not None and current.uuid in self.displaced:
            current = None  # cannot happen for a port declared here; kept for safety
        if current is None:
            inserted = _insert_port(self.ops, port)
            self.change("add", f"port {bridge}/{port.name}", describe_port(port))
            return inserted
        port_diffs = port_differences(port, port_to_spec(current))
        if port_diffs:
            _update_port(self.ops, port, current)
            self.change("change", f"port {bridge}/{port.name}", *port_diffs)
        return None

    def undeclared_port(self, bridge: str, name: str, current: LivePort) -> Any:
        """A live port this bridge should not hold: the reference to delete, or None (a note)."""
        what = f"port {bridge}/{name}"
        if current.uuid in self.displaced:
            reason = self.displaced[current.uuid]
        elif current.managed and self.prune:
            reason = "no longer declared"
        else:
            self.plan.notes.append(_left_alone(what, current.managed))
            return None
        self.change("remove", what, reason)
        return ref(current.uuid)

    def finish(self) -> Plan:
        """The switch's list of bridges, then the marks that close the transaction."""
        root = self.live.root_uuid
        removed = [ref(u) for u in self.removed_bridges]
        ops = self.ops
        ops.change_refs(
            "Open_vSwitch", root, "bridges", self.live.bridge_uuids, removed, self.new_bridges
        )
        if ops.ops:
            ops.mutate("Open_vSwitch", root, "next_cfg", "+=", 1)
            ops.ops.append({"op": "comment", "comment": "stackwatch ovs apply"})
        self.plan.operations = ops.ops
        return self.plan


def verify_differences(layout: Layout, live: LiveSwitch) -> list[str]:
    """Every difference between the layout and the live switch, whoever made it."""
    plan = plan_layout(layout, live, prune=True)
    found = [str(c) for c in plan.changes]
    found += plan.notes
    return found
