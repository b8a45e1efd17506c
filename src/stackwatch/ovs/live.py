"""The live bridge layout read from OVSDB in one snapshot, and its translation to a Layout."""

from __future__ import annotations

from typing import Any

from stackwatch.core.record import dataclass, field
from stackwatch.ovs.layout import BridgeSpec, Layout, PortSpec
from stackwatch.ovs.ovsdb import OvsdbClient, OvsdbError
from stackwatch.ovs.rows import each, ints, opt_int, opt_str, refs, str_map, string, uuid_of

MANAGED_KEY = "stackwatch-managed"  # external_ids mark on every row that apply created
ADDRESS_KEY = "stackwatch-address"  # the declared address of an internal port (Port external_ids)

BRIDGE_COLUMNS = ("name", "ports", "fail_mode", "datapath_type", "other_config", "external_ids")
PORT_COLUMNS = (
    "name",
    "interfaces",
    "tag",
    "trunks",
    "vlan_mode",
    "bond_mode",
    "lacp",
    "other_config",
    "external_ids",
)
INTERFACE_COLUMNS = ("name", "type", "options", "external_ids", "error", "ofport")


@dataclass(frozen=True)
class LiveInterface:
    uuid: str
    name: str
    type: str  # "system" for OVSDB's ""
    options: dict[str, str] = field(default_factory=dict)
    external_ids: dict[str, str] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class LivePort:
    uuid: str
    name: str
    interfaces: tuple[LiveInterface, ...]
    tag: int | None = None
    trunks: tuple[int, ...] = ()
    vlan_mode: str | None = None
    bond_mode: str | None = None
    lacp: str | None = None
    other_config: dict[str, str] = field(default_factory=dict)
    external_ids: dict[str, str] = field(default_factory=dict)

    @property
    def managed(self) -> bool:
        return self.external_ids.get(MANAGED_KEY) == "true"


@dataclass(frozen=True)
class LiveBridge:
    uuid: str
    name: str
    ports: tuple[LivePort, ...]
    port_uuids: tuple[str, ...]
    fail_mode: str | None = None
    datapath_type: str | None = None
    other_config: dict[str, str] = field(default_factory=dict)
    external_ids: dict[str, str] = field(default_factory=dict)

    @property
    def managed(self) -> bool:
        return self.external_ids.get(MANAGED_KEY) == "true"

    @property
    def user_ports(self) -> tuple[LivePort, ...]:
        """Ports other than the bridge's own local port (which Open vSwitch needs)."""
        return tuple(p for p in self.ports if p.name != self.name)


@dataclass(frozen=True)
class LiveSwitch:
    root_uuid: str
    bridge_uuids: tuple[str, ...]
    bridges: tuple[LiveBridge, ...]

    def bridge(self, name: str) -> LiveBridge | None:
        return next((b for b in self.bridges if b.name == name), None)


def _name(row: dict[str, Any]) -> str:
    return string(row, "name")


def _rows(tables: Any, table: str) -> list[dict[str, Any]]:
    rows = tables.get(table, [])
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise OvsdbError(f"malformed OVSDB reply: {table} is not a list of rows")
    return rows


def _interface(row: dict[str, Any]) -> LiveInterface:
    kind = string(row, "type", "")
    error = opt_str(row.get("error", ["set", []]), "error")
    return LiveInterface(
        uuid_of(row.get("_uuid")),
        _name(row),
        kind if kind else "system",
        str_map(row.get("options"), "options"),
        str_map(row.get("external_ids"), "external_ids"),
        error or None,
    )


def _port(row: dict[str, Any], interfaces: dict[str, LiveInterface]) -> LivePort:
    iface_uuids = refs(row.get("interfaces", ["set", []]), "interfaces")
    members = [interfaces[u] for u in iface_uuids if u in interfaces]
    return LivePort(
        uuid_of(row.get("_uuid")),
        _name(row),
        tuple(sorted(members, key=lambda i: i.name)),
        opt_int(row.get("tag", ["set", []]), "tag"),
        tuple(ints(row.get("trunks", ["set", []]), "trunks")),
        opt_str(row.get("vlan_mode", ["set", []]), "vlan_mode"),
        opt_str(row.get("bond_mode", ["set", []]), "bond_mode"),
        opt_str(row.get("lacp", ["set", []]), "lacp"),
        str_map(row.get("other_config"), "other_config"),
        str_map(row.get("external_ids"), "external_ids"),
    )


def _bridge(row: dict[str, Any], ports: dict[str, LivePort]) -> LiveBridge:
    port_uuids = refs(row.get("ports", ["set", []]), "ports")
    bridge_ports = [ports[u] for u in port_uuids if u in ports]
    datapath = string(row, "datapath_type", "")
    return LiveBridge(
        uuid_of(row.get("_uuid")),
        _name(row),
        tuple(sorted(bridge_ports, key=lambda p: p.name)),
        tuple(port_uuids),
        opt_str(row.get("fail_mode", ["set", []]), "fail_mode"),
        None if datapath in ("", "system") else datapath,
        str_map(row.get("other_config"), "other_config"),
        str_map(row.get("external_ids"), "external_ids"),
    )


def parse_live(tables: dict[str, list[dict[str, Any]]]) -> LiveSwitch:
    """Rows of Open_vSwitch, Bridge, Port and Interface as a LiveSwitch (pure).

    The rows are what the server sent: anything of the wrong shape is an OvsdbError naming the
    table and row, never another exception.
    """
    if not isinstance(tables, dict):
        raise OvsdbError("malformed OVSDB reply: not a set of tables")
    roots = _rows(tables, "Open_vSwitch")
    if len(roots) != 1:
        raise OvsdbError(
            f"malformed OVSDB reply: expected one Open_vSwitch row, found {len(roots)}"
        )
    interfaces = {i.uuid: i for i in each("Interface", _rows(tables, "Interface"), _interface)}
    ports = {p.uuid: p for p in each("Port", _rows(tables, "Port"), lambda r: _port(r, interfaces))}
    bridges = {
        b.uuid: b for b in each("Bridge", _rows(tables, "Bridge"), lambda r: _bridge(r, ports))
    }
    root_uuid, bridge_uuids = each(
        "Open_vSwitch",
        roots,
        lambda r: (uuid_of(r.get("_uuid")), refs(r.get("bridges", ["set", []]), "bridges")),
    )[0]
    in_use = [bridges[u] for u in bridge_uuids if u in bridges]
    return LiveSwitch(root_uuid, tuple(bridge_uuids), tuple(sorted(in_use, key=lambda b: b.name)))


def read_live(client: OvsdbClient) -> LiveSwitch:
    """One consistent snapshot of the bridges, ports and interfaces."""
    tables = client.select_many(
        [
            ("Open_vSwitch", ("bridges",)),
            ("Bridge", BRIDGE_COLUMNS),
            ("Port", PORT_COLUMNS),
            ("Interface", INTERFACE_COLUMNS),
        ]
    )
    return parse_live(tables)


def port_to_spec(port: LivePort) -> PortSpec:
    if len(port.interfaces) >= 2:
        return PortSpec(
            name=port.name,
            members=tuple(i.name for i in port.interfaces),
            bond_mode=port.bond_mode,
            lacp=port.lacp,
            tag=port.tag,
            trunks=port.trunks,
            vlan_mode=port.vlan_mode,
            other_config=dict(port.other_config),
        )
    iface = port.interfaces[0] if port.interfaces else None
    return PortSpec(
        name=port.name,
        type=iface.type if iface else "system",
        tag=port.tag,
        trunks=port.trunks,
        vlan_mode=port.vlan_mode,
        options=dict(iface.options) if iface else {},
        bond_mode=port.bond_mode,
        lacp=port.lacp,
        other_config=dict(port.other_config),
        address=port.external_ids.get(ADDRESS_KEY),
    )


def live_to_layout(live: LiveSwitch, source: str = "live switch") -> Layout:
    """The live switch as a layout (for export and comparison)."""
    bridges = []
    for bridge in live.bridges:
        bridges.append(
            BridgeSpec(
                name=bridge.name,
                fail_mode=bridge.fail_mode,
                datapath_type=bridge.datapath_type,
                other_config=dict(bridge.other_config),
                ports=tuple(port_to_spec(p) for p in bridge.user_ports),
            )
        )
    return Layout(tuple(bridges), source)
