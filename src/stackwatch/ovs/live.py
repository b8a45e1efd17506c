"""The live bridge layout read from OVSDB in one snapshot, and its translation to a Layout."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from stackwatch.ovs.layout import BridgeSpec, Layout, PortSpec
from stackwatch.ovs.ovsdb import OvsdbClient, OvsdbError, Uuid, as_optional, as_set, to_python

MANAGED_KEY = "stackwatch-managed"  # external_ids mark on every row that apply created
T = TypeVar("T")
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


class _Malformed(ValueError):
    """A value of the wrong shape inside one row."""


def _uuid(value: Any) -> str:
    item = to_python(value)
    if not isinstance(item, Uuid) or not isinstance(item.value, str):
        raise _Malformed(f"malformed row reference {value!r}")
    return item.value


def _refs(value: Any, column: str) -> list[str]:
    items = as_set(value)
    if not all(isinstance(i, Uuid) and isinstance(i.value, str) for i in items):
        raise _Malformed(f"{column}: expected row references, got {value!r}")
    return [i.value for i in items]


def _str_map(value: Any) -> dict[str, str]:
    data = to_python(value) if value is not None else {}
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items()}


def _opt_str(value: Any, column: str) -> str | None:
    item = as_optional(value)
    if item is None or isinstance(item, str):
        return item
    raise _Malformed(f"{column}: expected a string, got {value!r}")


def _opt_int(value: Any, column: str) -> int | None:
    item = as_optional(value)
    if item is None or (isinstance(item, int) and not isinstance(item, bool)):
        return item
    raise _Malformed(f"{column}: expected an integer, got {value!r}")


def _ints(value: Any, column: str) -> list[int]:
    items = as_set(value)
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in items):
        raise _Malformed(f"{column}: expected integers, got {value!r}")
    return sorted(items)


def _name(row: dict[str, Any]) -> str:
    name = row.get("name", "")
    if not isinstance(name, str):
        raise _Malformed(f"name: expected a string, got {name!r}")
    return name


def _rows(tables: Any, table: str) -> list[dict[str, Any]]:
    rows = tables.get(table, [])
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise OvsdbError(f"malformed OVSDB reply: {table} is not a list of rows")
    return rows


def _interface(row: dict[str, Any]) -> LiveInterface:
    kind = row.get("type") or ""
    if not isinstance(kind, str):
        raise _Malformed(f"type: expected a string, got {kind!r}")
    error = _opt_str(row.get("error", ["set", []]), "error")
    return LiveInterface(
        _uuid(row.get("_uuid")),
        _name(row),
        kind if kind else "system",
        _str_map(row.get("options")),
        _str_map(row.get("external_ids")),
        error or None,
    )


def _port(row: dict[str, Any], interfaces: dict[str, LiveInterface]) -> LivePort:
    iface_uuids = _refs(row.get("interfaces", ["set", []]), "interfaces")
    members = [interfaces[u] for u in iface_uuids if u in interfaces]
    return LivePort(
        _uuid(row.get("_uuid")),
        _name(row),
        tuple(sorted(members, key=lambda i: i.name)),
        _opt_int(row.get("tag", ["set", []]), "tag"),
        tuple(_ints(row.get("trunks", ["set", []]), "trunks")),
        _opt_str(row.get("vlan_mode", ["set", []]), "vlan_mode"),
        _opt_str(row.get("bond_mode", ["set", []]), "bond_mode"),
        _opt_str(row.get("lacp", ["set", []]), "lacp"),
        _str_map(row.get("other_config")),
        _str_map(row.get("external_ids")),
    )


def _bridge(row: dict[str, Any], ports: dict[str, LivePort]) -> LiveBridge:
    port_uuids = _refs(row.get("ports", ["set", []]), "ports")
    bridge_ports = [ports[u] for u in port_uuids if u in ports]
    datapath = row.get("datapath_type") or ""
    if not isinstance(datapath, str):
        raise _Malformed(f"datapath_type: expected a string, got {datapath!r}")
    return LiveBridge(
        _uuid(row.get("_uuid")),
        _name(row),
        tuple(sorted(bridge_ports, key=lambda p: p.name)),
        tuple(port_uuids),
        _opt_str(row.get("fail_mode", ["set", []]), "fail_mode"),
        None if datapath in ("", "system") else datapath,
        _str_map(row.get("other_config")),
        _str_map(row.get("external_ids")),
    )


def _each(table: str, rows: list[dict[str, Any]], make: Callable[[dict[str, Any]], T]) -> list[T]:
    made = []
    for i, row in enumerate(rows):
        try:
            made.append(make(row))
        except (_Malformed, OvsdbError, TypeError, ValueError, RecursionError) as exc:
            # TypeError/ValueError: a set or map whose payload is not a list of the right shape
            raise OvsdbError(f"malformed OVSDB reply: {table} row {i + 1}: {exc}") from None
    return made


def parse_live(tables: dict[str, list[dict[str, Any]]]) -> LiveSwitch:
    """Rows of Open_vSwitch, Bridge, Port and Interface as a LiveSwitch (pure).

    The rows are what the server sent: anything of the wrong shape is an OvsdbError naming the
    table and row, never another exception.
    """
    if not isinstance(tables, dict):
        raise OvsdbError("malformed OVSDB reply: not a set of tables")
    roots = _rows(tables, "Open_vSwitch")
    if len(roots) != 1:
        raise OvsdbError(f"expected one Open_vSwitch row, found {len(roots)}")
    interfaces = {i.uuid: i for i in _each("Interface", _rows(tables, "Interface"), _interface)}
    ports = {
        p.uuid: p for p in _each("Port", _rows(tables, "Port"), lambda r: _port(r, interfaces))
    }
    bridges = {
        b.uuid: b for b in _each("Bridge", _rows(tables, "Bridge"), lambda r: _bridge(r, ports))
    }
    root_uuid, bridge_uuids = _each(
        "Open_vSwitch",
        roots,
        lambda r: (_uuid(r.get("_uuid")), _refs(r.get("bridges", ["set", []]), "bridges")),
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
