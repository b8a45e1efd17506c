"""The live bridge layout read from OVSDB in one snapshot, and its translation to a Layout."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stackwatch.ovs.layout import BridgeSpec, Layout, PortSpec
from stackwatch.ovs.ovsdb import OvsdbClient, OvsdbError, Uuid, as_optional, as_set, to_python

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


def _uuid(value: Any) -> str:
    item = to_python(value)
    if not isinstance(item, Uuid):
        raise OvsdbError(f"malformed row reference {value!r}")
    return item.value


def _str_map(value: Any) -> dict[str, str]:
    data = to_python(value) if value is not None else {}
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items()}


def parse_live(tables: dict[str, list[dict[str, Any]]]) -> LiveSwitch:
    """Rows of Open_vSwitch, Bridge, Port and Interface as a LiveSwitch (pure)."""
    roots = tables.get("Open_vSwitch", [])
    if len(roots) != 1:
        raise OvsdbError(f"expected one Open_vSwitch row, found {len(roots)}")
    root = roots[0]
    interfaces: dict[str, LiveInterface] = {}
    for row in tables.get("Interface", []):
        uuid = _uuid(row["_uuid"])
        kind = row.get("type") or ""
        error = as_optional(row.get("error", ["set", []]))
        interfaces[uuid] = LiveInterface(
            uuid,
            str(row.get("name", "")),
            kind if kind else "system",
            _str_map(row.get("options")),
            _str_map(row.get("external_ids")),
            str(error) if error else None,
        )
    ports: dict[str, LivePort] = {}
    for row in tables.get("Port", []):
        uuid = _uuid(row["_uuid"])
        members = [interfaces[u.value] for u in as_set(row.get("interfaces", ["set", []]))]
        tag = as_optional(row.get("tag", ["set", []]))
        trunks = sorted(int(t) for t in as_set(row.get("trunks", ["set", []])))
        ports[uuid] = LivePort(
            uuid,
            str(row.get("name", "")),
            tuple(sorted(members, key=lambda i: i.name)),
            int(tag) if tag is not None else None,
            tuple(trunks),
            as_optional(row.get("vlan_mode", ["set", []])),
            as_optional(row.get("bond_mode", ["set", []])),
            as_optional(row.get("lacp", ["set", []])),
            _str_map(row.get("other_config")),
            _str_map(row.get("external_ids")),
        )
    bridges: dict[str, LiveBridge] = {}
    for row in tables.get("Bridge", []):
        uuid = _uuid(row["_uuid"])
        port_uuids = [u.value for u in as_set(row.get("ports", ["set", []]))]
        bridge_ports = [ports[u] for u in port_uuids if u in ports]
        datapath = row.get("datapath_type") or ""
        bridges[uuid] = LiveBridge(
            uuid,
            str(row.get("name", "")),
            tuple(sorted(bridge_ports, key=lambda p: p.name)),
            tuple(port_uuids),
            as_optional(row.get("fail_mode", ["set", []])),
            None if datapath in ("", "system") else datapath,
            _str_map(row.get("other_config")),
            _str_map(row.get("external_ids")),
        )
    bridge_uuids = [u.value for u in as_set(root.get("bridges", ["set", []]))]
    in_use = [bridges[u] for u in bridge_uuids if u in bridges]
    return LiveSwitch(
        _uuid(root["_uuid"]), tuple(bridge_uuids), tuple(sorted(in_use, key=lambda b: b.name))
    )


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
