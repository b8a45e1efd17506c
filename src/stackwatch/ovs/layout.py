"""The declared bridge layout: a YAML file of bridges and their ports, validated with file:line.

A layout file looks like this (the classic OpenStack hypervisor)::

    bridges:
      br-int:
        fail_mode: secure
        datapath_type: netdev          # optional; system (kernel) when left out
        ports:
          patch-tun: {type: patch, peer: patch-int}
      br-tun:
        fail_mode: secure
        ports:
          patch-int: {type: patch, peer: patch-tun}
          vxlan-0a000002: {type: vxlan, options: {remote_ip: 10.0.0.2, key: flow}}
      br-ex:
        other_config: {hwaddr: "52:54:00:00:00:01"}
        ports:
          bond0: {members: [em1, em2], bond_mode: balance-slb, lacp: "off"}
          mgmt: {type: internal, tag: 15, address: 10.0.15.11/24}

Everything is checked before anything changes: unknown keys, duplicate names (bridges, ports
and interfaces share one namespace in Open vSwitch), bonds of fewer than two members, VLAN tags
outside 1-4094, tunnels without a remote_ip. Each refusal names the file and line.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable
from typing import Any

import yaml

from stackwatch.core.host import Host, HostError
from stackwatch.core.record import dataclass, field

FAIL_MODES = ("secure", "standalone")
BOND_MODES = ("active-backup", "balance-slb", "balance-tcp")
LACP_MODES = ("active", "passive", "off")
VLAN_MODES = ("trunk", "access", "native-tagged", "native-untagged", "dot1q-tunnel")
TUNNEL_TYPES = ("vxlan", "gre", "geneve", "stt", "erspan", "ip6gre", "ip6erspan", "gtpu", "bareudp")
PORT_TYPES = ("system", "internal", "patch", *TUNNEL_TYPES, "dpdk", "dpdkvhostuserclient", "tap")
BRIDGE_KEYS = ("fail_mode", "datapath_type", "other_config", "ports")
PORT_KEYS = (
    "type",
    "tag",
    "trunks",
    "vlan_mode",
    "peer",
    "options",
    "members",
    "bond_mode",
    "lacp",
    "other_config",
    "address",
)
IFNAMSIZ = 15  # the kernel's limit for interface names (system and internal ports)
LAYOUT_LIMIT = 4 * 1024 * 1024  # bytes; a layout of thousands of ports is far smaller


class LayoutError(ValueError):
    """A layout refused before anything changes; str() is ``file:line: reason``."""

    def __init__(self, source: str, line: int | None, reason: str) -> None:
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {reason}")
        self.source = source
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class PortSpec:
    """One port: a single interface of the same name, or a bond of member interfaces."""

    name: str
    type: str = "system"  # of the interface; "system" is OVSDB's empty type
    tag: int | None = None
    trunks: tuple[int, ...] = ()
    vlan_mode: str | None = None
    options: dict[str, str] = field(default_factory=dict)  # interface options (peer, remote_ip)
    members: tuple[str, ...] = ()  # a bond where non-empty
    bond_mode: str | None = None
    lacp: str | None = None
    other_config: dict[str, str] = field(default_factory=dict)  # of the port (lacp-time...)
    address: str | None = None  # recorded for internal ports; Open vSwitch does not assign it
    line: int = 0

    @property
    def is_bond(self) -> bool:
        return bool(self.members)

    @property
    def interfaces(self) -> tuple[str, ...]:
        return self.members if self.members else (self.name,)


@dataclass(frozen=True)
class BridgeSpec:
    name: str
    fail_mode: str | None = None
    datapath_type: str | None = None  # None: the system (kernel) datapath, OVSDB's ""
    other_config: dict[str, str] = field(default_factory=dict)
    ports: tuple[PortSpec, ...] = ()
    line: int = 0


@dataclass(frozen=True)
class Layout:
    bridges: tuple[BridgeSpec, ...]
    source: str = "layout"

    def bridge(self, name: str) -> BridgeSpec | None:
        return next((b for b in self.bridges if b.name == name), None)


# Loading --------------------------------------------------------------------------------------


# libyaml's loader where PyYAML was built with it: several times faster on big layouts
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Reader:
    """Walks the composed YAML nodes so that every value keeps its line."""

    def __init__(self, source: str, loader: yaml.SafeLoader) -> None:
        self.source = source
        self.loader = loader

    def error(self, node: yaml.Node | None, reason: str) -> LayoutError:
        line = node.start_mark.line + 1 if node is not None else None
        return LayoutError(self.source, line, reason)

    def mapping(self, node: yaml.Node, what: str) -> list[tuple[str, yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, f"{what}: expected a mapping")
        seen: dict[str, int] = {}
        items = []
        for key_node, value_node in node.value:
            key = self.scalar(key_node, f"{what}: key")
            if not isinstance(key, str | int) or isinstance(key, bool):
                raise self.error(key_node, f"{what}: keys must be names")
            key = str(key)
            if key in seen:
                raise self.error(
                    key_node, f"{what}: duplicate key {key!r} (first on line {seen[key]})"
                )
            seen[key] = key_node.start_mark.line + 1
            items.append((key, key_node, value_node))
        return items

    def scalar(self, node: yaml.Node, what: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise self.error(node, f"{what}: expected a single value")
        try:
            return self.loader.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            raise self.error(node, f"{what}: unreadable value ({exc})") from None

    def string(self, node: yaml.Node, what: str) -> str:
        value = self.scalar(node, what)
        if isinstance(value, bool) or value is None or not isinstance(value, str | int | float):
            raise self.error(node, f"{what}: expected a text value, got {value!r}")
        return str(value)

    def choice(self, node: yaml.Node, what: str, allowed: tuple[str, ...]) -> str:
        # YAML 1.1 reads a bare off as false; lacp: off means the text "off"
        value = self.scalar(node, what)
        if value is False and "off" in allowed:
            value = "off"
        if not isinstance(value, str) or value not in allowed:
            raise self.error(node, f"{what}: {value!r} is not one of {', '.join(allowed)}")
        return value

    def integer(self, node: yaml.Node, what: str, low: int, high: int) -> int:
        value = self.scalar(node, what)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(node, f"{what}: expected a whole number, got {value!r}")
        if not low <= value <= high:
            raise self.error(node, f"{what}: {value} is out of range {low}-{high}")
        return value

    def string_map(self, node: yaml.Node, what: str) -> dict[str, str]:
        result = {}
        for key, _key_node, value_node in self.mapping(node, what):
            value = self.scalar(value_node, f"{what}.{key}")
            if value is None or isinstance(value, list | dict):
                raise self.error(value_node, f"{what}.{key}: expected a text value")
            if isinstance(value, bool):
                value = "true" if value else "false"
            result[key] = str(value)
        return result

    def name_list(self, node: yaml.Node, what: str) -> list[tuple[str, yaml.Node]]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.error(node, f"{what}: expected a list")
        return [(self.string(item, what), item) for item in node.value]


def name_problem(name: str, kernel: bool) -> str | None:
    """Why ``name`` cannot name a bridge, port or interface (``kernel``: one that is a network
    device too, as system and internal ports are), or None."""
    if not name or any(c in name for c in "/ \t\n\0") or name in (".", ".."):
        return "not a valid name"
    if not name.isprintable():
        # control characters, escape sequences, invisible or non-ASCII spaces: a name a person
        # can neither read in a terminal nor type
        return "not a valid name (it holds a character that is not printable)"
    if kernel and ":" in name:
        return "not a valid name for a network device (the kernel refuses ':')"
    if kernel and len(name) > IFNAMSIZ:
        return f"longer than {IFNAMSIZ} characters (the kernel's limit)"
    if kernel and len(name.encode("utf-8", "surrogatepass")) > IFNAMSIZ:
        return f"longer than {IFNAMSIZ} bytes in UTF-8 (the kernel's limit)"
    return None


def _check_name(reader: _Reader, node: yaml.Node, name: str, what: str, kernel: bool) -> None:
    problem = name_problem(name, kernel)
    if problem:
        raise reader.error(node, f"{what} {name!r}: {problem}")


def _blank(node: yaml.Node, *spellings: str) -> bool:
    """A value left empty (``ports:`` with nothing after it) rather than a mapping."""
    return isinstance(node, yaml.ScalarNode) and node.value in spellings


@dataclass
class _Table:
    """The keys of one mapping as read, and their nodes (for the line of a later refusal)."""

    values: dict[str, Any] = field(default_factory=dict)
    nodes: dict[str, yaml.Node] = field(default_factory=dict)


ValueReader = Callable[[_Reader, yaml.Node, str], Any]


def _read_table(
    reader: _Reader,
    node: yaml.Node,
    what: str,
    readers: dict[str, ValueReader],
    known: tuple[str, ...],
) -> _Table:
    """Each key of a bridge or port read by its own reader; an unknown key names the known."""
    table = _Table()
    if _blank(node, "", "~", "null"):
        return table
    for key, key_node, value_node in reader.mapping(node, what):
        if key not in readers:
            raise reader.error(key_node, f"{what}: unknown key {key!r} (known: {', '.join(known)})")
        table.nodes[key] = value_node
        table.values[key] = readers[key](reader, value_node, what)
    return table


def _trunks(reader: _Reader, node: yaml.Node, what: str) -> tuple[int, ...]:
    if not isinstance(node, yaml.SequenceNode):
        raise reader.error(node, f"{what}: trunks: expected a list of VLANs")
    trunks = [reader.integer(v, f"{what}: trunks", 0, 4095) for v in node.value]
    if len(set(trunks)) != len(trunks):
        raise reader.error(node, f"{what}: trunks: a VLAN is listed twice")
    return tuple(sorted(trunks))


def _address(reader: _Reader, node: yaml.Node, what: str) -> str:
    text = reader.string(node, f"{what}: address")
    try:
        ipaddress.ip_interface(text)
    except ValueError:
        raise reader.error(node, f"{what}: address {text!r} is not an address/prefix") from None
    return text


_PORT_READERS: dict[str, ValueReader] = {
    "type": lambda reader, node, what: reader.choice(node, f"{what}: type", PORT_TYPES),
    "tag": lambda reader, node, what: reader.integer(node, f"{what}: tag", 1, 4094),
    "trunks": _trunks,
    "vlan_mode": lambda reader, node, what: reader.choice(node, f"{what}: vlan_mode", VLAN_MODES),
    "peer": lambda reader, node, what: reader.string(node, f"{what}: peer"),
    "options": lambda reader, node, what: reader.string_map(node, f"{what}: options"),
    "members": lambda reader, node, what: reader.name_list(node, f"{what}: members"),
    "bond_mode": lambda reader, node, what: reader.choice(node, f"{what}: bond_mode", BOND_MODES),
    "lacp": lambda reader, node, what: reader.choice(node, f"{what}: lacp", LACP_MODES),
    "other_config": lambda reader, node, what: reader.string_map(node, f"{what}: other_config"),
    "address": _address,
}


def _check_bond(reader: _Reader, what: str, table: _Table, port_type: str) -> None:
    """A bond has two members or more, all system interfaces; bond settings need a bond."""
    values, nodes = table.values, table.nodes
    if "members" not in values:
        for key in ("bond_mode", "lacp"):
            if key in values:
                raise reader.error(nodes[key], f"{what}: {key} needs members (a bond)")
        return
    members: list[tuple[str, yaml.Node]] = values["members"]
    if len(members) < 2:
        raise reader.error(
            nodes["members"], f"{what}: a bond needs at least two members, got {len(members)}"
        )
    if "type" in values and port_type != "system":
        raise reader.error(nodes["type"], f"{what}: a bond's members are system interfaces")
    for member, member_node in members:
        _check_name(reader, member_node, member, f"{what}: member", kernel=True)


def _port_options(
    reader: _Reader, what: str, name_node: yaml.Node, table: _Table, port_type: str
) -> dict[str, str]:
    """The interface options, with ``peer`` folded in; patch ports and tunnels need theirs."""
    options = dict(table.values.get("options", {}))
    if "peer" in table.values:
        if port_type != "patch":
            raise reader.error(table.nodes["peer"], f"{what}: peer is for ports of type patch")
        options["peer"] = table.values["peer"]
    if port_type == "patch" and not options.get("peer"):
        raise reader.error(name_node, f"{what}: a patch port needs a peer")
    if port_type in TUNNEL_TYPES and port_type != "bareudp" and "remote_ip" not in options:
        raise reader.error(name_node, f"{what}: a {port_type} tunnel needs options.remote_ip")
    return options


def _check_address_and_vlans(reader: _Reader, what: str, table: _Table, port_type: str) -> None:
    values, nodes = table.values, table.nodes
    if "address" in values and port_type != "internal":
        raise reader.error(nodes["address"], f"{what}: an address needs a port of type internal")
    if "tag" in values and "trunks" in values and values.get("vlan_mode") is None:
        raise reader.error(nodes["trunks"], f"{what}: tag and trunks together need a vlan_mode")


def _port(reader: _Reader, name: str, name_node: yaml.Node, node: yaml.Node) -> PortSpec:
    what = f"port {name}"
    table = _read_table(reader, node, what, _PORT_READERS, PORT_KEYS)
    values = table.values
    port_type = values.get("type", "system")
    _check_bond(reader, what, table, port_type)
    options = _port_options(reader, what, name_node, table, port_type)
    _check_address_and_vlans(reader, what, table, port_type)
    _check_name(reader, name_node, name, "port", kernel=port_type in ("system", "internal"))
    return PortSpec(
        name=name,
        type=port_type,
        tag=values.get("tag"),
        trunks=values.get("trunks", ()),
        vlan_mode=values.get("vlan_mode"),
        options=options,
        members=tuple(m for m, _ in values.get("members", [])),
        bond_mode=values.get("bond_mode"),
        lacp=values.get("lacp"),
        other_config=values.get("other_config", {}),
        address=values.get("address"),
        line=name_node.start_mark.line + 1,
    )


def _ports(reader: _Reader, node: yaml.Node, what: str) -> list[PortSpec]:
    if _blank(node, "", "~"):
        return []
    return [
        _port(reader, port_name, port_key, port_node)
        for port_name, port_key, port_node in reader.mapping(node, f"{what}: ports")
    ]


_BRIDGE_READERS: dict[str, ValueReader] = {
    "fail_mode": lambda reader, node, what: reader.choice(node, f"{what}: fail_mode", FAIL_MODES),
    "datapath_type": lambda reader, node, what: reader.choice(
        node, f"{what}: datapath_type", ("system", "netdev")
    ),
    "other_config": lambda reader, node, what: reader.string_map(node, f"{what}: other_config"),
    "ports": _ports,
}


def _bridge(reader: _Reader, name: str, name_node: yaml.Node, node: yaml.Node) -> BridgeSpec:
    what = f"bridge {name}"
    _check_name(reader, name_node, name, "bridge", kernel=True)
    values = _read_table(reader, node, what, _BRIDGE_READERS, BRIDGE_KEYS).values
    datapath = values.get("datapath_type")
    return BridgeSpec(
        name=name,
        fail_mode=values.get("fail_mode"),
        datapath_type=None if datapath == "system" else datapath,
        other_config=values.get("other_config", {}),
        ports=tuple(values.get("ports", ())),
        line=name_node.start_mark.line + 1,
    )


def parse_layout(text: str, source: str = "layout") -> Layout:
    """Parse and validate layout text; raises LayoutError naming ``source`` and the line."""
    try:
        loader = _Loader(text)
    except yaml.YAMLError as exc:  # the reader refuses control characters up front
        raise LayoutError(source, None, f"not valid YAML: {exc}") from None
    try:
        root = _root_node(loader, source)
        bridges = _bridges(_Reader(source, loader), root)
    finally:
        loader.dispose()
    _check_unique(source, bridges)
    return Layout(tuple(bridges), source)


def _root_node(loader: yaml.SafeLoader, source: str) -> yaml.Node:
    """The document's one node; YAML errors as LayoutError with their line."""
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise LayoutError(source, line, f"not valid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise LayoutError(source, None, f"not valid YAML: {exc}") from None
    except RecursionError:
        raise LayoutError(source, None, "not valid YAML: nested too deeply") from None
    if root is None:
        raise LayoutError(source, None, "empty layout (expected a bridges: mapping)")
    return root


def _bridges(reader: _Reader, root: yaml.Node) -> list[BridgeSpec]:
    """The ``bridges:`` mapping, the only key of a layout."""
    bridges: list[BridgeSpec] = []
    bridges_node = None
    for key, key_node, value_node in reader.mapping(root, "layout"):
        if key != "bridges":
            raise reader.error(key_node, f"unknown key {key!r} (known: bridges)")
        bridges_node = value_node
        if _blank(value_node, "", "~"):
            continue
        for name, name_node, node in reader.mapping(value_node, "bridges"):
            bridges.append(_bridge(reader, name, name_node, node))
    if bridges_node is None:
        raise LayoutError(reader.source, root.start_mark.line + 1, "no bridges: mapping")
    return bridges


def _check_unique(source: str, bridges: list[BridgeSpec]) -> None:
    """Bridges, ports and interfaces each have one namespace across the whole switch."""
    ports: dict[str, tuple[str, int]] = {}
    interfaces: dict[str, tuple[str, int]] = {}
    for bridge in bridges:
        ports[bridge.name] = (f"bridge {bridge.name}", bridge.line)
        interfaces[bridge.name] = (f"bridge {bridge.name}", bridge.line)
    for bridge in bridges:
        for port in bridge.ports:
            if port.name in ports:
                first, line = ports[port.name]
                raise LayoutError(
                    source,
                    port.line,
                    f"duplicate port {port.name!r} in bridge {bridge.name} "
                    f"(already {first}, line {line})",
                )
            ports[port.name] = (f"a port of bridge {bridge.name}", port.line)
            for iface in port.interfaces:
                if iface in interfaces and not (iface == port.name and not port.is_bond):
                    first, line = interfaces[iface]
                    raise LayoutError(
                        source,
                        port.line,
                        f"duplicate interface {iface!r} in port {port.name} "
                        f"(already {first}, line {line})",
                    )
                interfaces[iface] = (f"in port {port.name}", port.line)
        for port in bridge.ports:
            if port.type == "patch" and port.options.get("peer") == port.name:
                raise LayoutError(source, port.line, f"patch port {port.name} peers with itself")


def load_layout(path: str, host: Host | None = None) -> Layout:
    """Read and parse a layout file; an unreadable file is a LayoutError too.

    A layout is configuration: it is read from this machine (``Host()``), also where a check
    judges a captured tree.
    """
    raw = _read_layout(path, host or Host())
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LayoutError(path, None, f"not UTF-8 text (byte {exc.start})") from None
    return parse_layout(text, path)


def _read_layout(path: str, host: Host) -> bytes:
    try:
        # A bounded read: a file that fits the limit comes whole; one larger (or a device
        # such as /dev/zero) yields one byte more than the limit, never more.
        raw = host.read_tail(os.path.abspath(path), LAYOUT_LIMIT + 1)
    except HostError as exc:
        cause = exc.__cause__
        reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else str(exc)
        raise LayoutError(path, None, f"cannot read layout: {reason}") from None
    if len(raw) > LAYOUT_LIMIT:
        raise LayoutError(path, None, "layout larger than 4 MiB")
    return raw


# Writing --------------------------------------------------------------------------------------


def _port_data(port: PortSpec) -> dict[str, Any]:
    """One port as the file writes it: only what differs from the defaults."""
    options = dict(port.options)
    has_peer = port.type == "patch" and "peer" in options
    peer = options.pop("peer") if has_peer else None
    fields: tuple[tuple[str, Any, bool], ...] = (
        ("type", port.type, port.type != "system"),
        ("members", list(port.members), bool(port.members)),
        ("bond_mode", port.bond_mode, bool(port.bond_mode)),
        ("lacp", port.lacp, bool(port.lacp)),
        ("tag", port.tag, port.tag is not None),
        ("trunks", list(port.trunks), bool(port.trunks)),
        ("vlan_mode", port.vlan_mode, bool(port.vlan_mode)),
        ("peer", peer, has_peer),
        ("options", dict(sorted(options.items())), bool(options)),
        ("other_config", dict(sorted(port.other_config.items())), bool(port.other_config)),
        ("address", port.address, bool(port.address)),
    )
    return {key: value for key, value, written in fields if written}


def _bridge_data(bridge: BridgeSpec) -> dict[str, Any]:
    ports = {port.name: _port_data(port) for port in bridge.ports}
    fields: tuple[tuple[str, Any, bool], ...] = (
        ("fail_mode", bridge.fail_mode, bool(bridge.fail_mode)),
        ("datapath_type", bridge.datapath_type, bool(bridge.datapath_type)),
        ("other_config", dict(sorted(bridge.other_config.items())), bool(bridge.other_config)),
        ("ports", ports, bool(ports)),
    )
    return {key: value for key, value, written in fields if written}


def layout_to_data(layout: Layout) -> dict[str, Any]:
    """The layout as plain data in the file's shape (for export)."""
    return {"bridges": {bridge.name: _bridge_data(bridge) for bridge in layout.bridges}}


def dump_layout(layout: Layout) -> str:
    """YAML text that ``parse_layout`` reads back to the same layout."""
    text: str = yaml.safe_dump(
        layout_to_data(layout), sort_keys=False, default_flow_style=False, width=100
    )
    return text
