"""The inventory: switches to read and what the hypervisors behind them need (YAML).

::

    defaults:                    # merged into every device
      version: 2c                # 2c or 3
      community_file: community  # v2c: the community, first line of this file
    devices:
      tor-a1:
        address: 192.0.2.10
        port: 161
        groups: [rack-a]
        v3_file: tor-a1.v3       # v3 authPriv: user, auth/priv protocols and passwords
        ports:                   # expectations per switch port, where no LLDP says who is there
          Gi0/48: {vlans: "15", native: 15}
    roles:                       # NICs every host of a role has, and what each needs
      compute:
        em1: {vlans: "15, 100-199", native: 15}
    hypervisors:
      cmp-a01: {role: compute}
      cmp-a02: {roles: [compute, storage], nics: {em2: {vlans: 300}}}
    known_neighbours: [spine-1]  # LLDP neighbours that are not hypervisors, and fine

Errors name the file and the line. Relative file names are relative to the inventory's folder.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import yaml

from stackwatch.core.host import Host, HostError
from stackwatch.core.record import dataclass, field
from stackwatch.switch.octets import DecodeError, parse_vlan_ranges

MAX_INVENTORY_BYTES = 8 * 1024 * 1024
DEVICE_KEYS = {"address", "port", "version", "community_file", "v3_file", "groups", "ports"}
TOP_KEYS = {"defaults", "devices", "roles", "hypervisors", "known_neighbours"}


class InventoryError(ValueError):
    """One line: FILE:LINE: what is wrong."""


@dataclass(frozen=True)
class Expectation:
    vlans: frozenset[int]
    native: int | None = None
    where: str = ""


@dataclass(frozen=True)
class Device:
    name: str
    address: str
    port: int = 161
    version: str = "2c"
    community_file: str | None = None
    v3_file: str | None = None
    groups: tuple[str, ...] = ()
    ports: Mapping[str, Expectation] = field(default_factory=dict)


@dataclass(frozen=True)
class Nic:
    host: str
    nic: str
    expect: Expectation


@dataclass(frozen=True)
class Inventory:
    path: str
    devices: tuple[Device, ...] = ()
    nics: tuple[Nic, ...] = ()
    known_neighbours: frozenset[str] = frozenset()

    def device(self, name: str) -> Device | None:
        return next((d for d in self.devices if d.name == name), None)

    @property
    def hypervisors(self) -> frozenset[str]:
        return frozenset(n.host for n in self.nics)


class _Reader:
    """Walks the YAML node tree so that every error can name its line."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.folder = os.path.dirname(os.path.abspath(path))

    def error(self, node: yaml.Node | None, message: str) -> InventoryError:
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        return InventoryError(f"{self.path}{line}: {message}")

    def mapping(self, node: yaml.Node, what: str) -> dict[str, yaml.Node]:
        if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
            return {}
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, f"{what} must be a mapping")
        found: dict[str, yaml.Node] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode) or not key.value:
                raise self.error(key, f"{what}: keys must be names")
            if key.value in found:
                raise self.error(key, f"{what}: {key.value!r} given twice")
            found[key.value] = value
        return found

    def scalar(self, node: yaml.Node, what: str) -> str:
        if not isinstance(node, yaml.ScalarNode):
            raise self.error(node, f"{what} must be a single value")
        return str(node.value)

    def names(self, node: yaml.Node, what: str) -> tuple[str, ...]:
        if isinstance(node, yaml.ScalarNode):
            return (node.value,)
        if not isinstance(node, yaml.SequenceNode):
            raise self.error(node, f"{what} must be a list of names")
        return tuple(self.scalar(item, what) for item in node.value)

    def known(self, fields: Mapping[str, yaml.Node], allowed: set[str], what: str) -> None:
        for key, value in fields.items():
            if key not in allowed:
                raise self.error(
                    value, f"{what}: unknown key {key!r} (known: {', '.join(sorted(allowed))})"
                )

    def file(self, node: yaml.Node, what: str) -> str:
        return os.path.join(self.folder, self.scalar(node, what))

    def expectation(self, node: yaml.Node, what: str) -> Expectation:
        fields = self.mapping(node, what)
        self.known(fields, {"vlans", "native"}, what)
        if "vlans" not in fields:
            raise self.error(node, f"{what}: 'vlans' is required (like \"15, 100-199\")")
        try:
            vlans = parse_vlan_ranges(self.scalar(fields["vlans"], f"{what}.vlans"))
            native = None
            if "native" in fields:
                native = min(parse_vlan_ranges(self.scalar(fields["native"], f"{what}.native")))
        except (DecodeError, ValueError) as exc:
            raise self.error(node, f"{what}: {exc}") from None
        return Expectation(vlans, native, f"{self.path}:{node.start_mark.line + 1}")


def parse_inventory(text: str, path: str) -> Inventory:
    """The inventory in ``text`` (read from ``path``, which errors name)."""
    reader = _Reader(path)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise InventoryError(f"{path}{line}: not YAML: {getattr(exc, 'problem', exc)}") from None
    if root is None:
        raise InventoryError(f"{path}: empty inventory")
    top = reader.mapping(root, "the inventory")
    reader.known(top, TOP_KEYS, "the inventory")
    defaults = reader.mapping(top["defaults"], "defaults") if "defaults" in top else {}
    reader.known(defaults, DEVICE_KEYS - {"address", "ports"}, "defaults")
    devices = tuple(
        _device(reader, name, node, defaults)
        for name, node in reader.mapping(top.get("devices", _EMPTY), "devices").items()
    )
    roles = _roles(reader, top.get("roles", _EMPTY))
    nics = _nics(reader, top.get("hypervisors", _EMPTY), roles)
    known = top.get("known_neighbours")
    neighbours = reader.names(known, "known_neighbours") if known is not None else ()
    return Inventory(path, devices, nics, frozenset(neighbours))


_EMPTY = yaml.ScalarNode("tag:yaml.org,2002:null", "")


def _device(reader: _Reader, name: str, node: yaml.Node, defaults: dict[str, yaml.Node]) -> Device:
    fields = {**defaults, **reader.mapping(node, f"device {name}")}
    reader.known(fields, DEVICE_KEYS, f"device {name}")
    if "address" not in fields:
        raise reader.error(node, f"device {name}: 'address' is required")
    version = reader.scalar(fields["version"], "version") if "version" in fields else "2c"
    if version not in ("2c", "3"):
        raise reader.error(fields["version"], f"device {name}: version must be 2c or 3")
    if version == "2c" and "community_file" not in fields:
        raise reader.error(node, f"device {name}: v2c needs community_file")
    if version == "3" and "v3_file" not in fields:
        raise reader.error(node, f"device {name}: version 3 needs v3_file")
    return Device(
        name=name,
        address=reader.scalar(fields["address"], "address"),
        port=_port(reader, fields.get("port"), name),
        version=version,
        community_file=_optional_file(reader, fields, "community_file"),
        v3_file=_optional_file(reader, fields, "v3_file"),
        groups=reader.names(fields["groups"], "groups") if "groups" in fields else (),
        ports=_expectations(reader, fields.get("ports", _EMPTY), f"device {name} ports"),
    )


def _optional_file(reader: _Reader, fields: Mapping[str, yaml.Node], key: str) -> str | None:
    return reader.file(fields[key], key) if key in fields else None


def _port(reader: _Reader, node: yaml.Node | None, name: str) -> int:
    if node is None:
        return 161
    text = reader.scalar(node, "port")
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= 65535):
        raise reader.error(node, f"device {name}: port must be 1-65535, not {text!r}")
    return int(text)


def _expectations(reader: _Reader, node: yaml.Node, what: str) -> dict[str, Expectation]:
    return {
        port: reader.expectation(value, f"{what} {port}")
        for port, value in reader.mapping(node, what).items()
    }


def _roles(reader: _Reader, node: yaml.Node) -> dict[str, dict[str, Expectation]]:
    return {
        role: _expectations(reader, value, f"role {role}")
        for role, value in reader.mapping(node, "roles").items()
    }


def _nics(
    reader: _Reader, node: yaml.Node, roles: Mapping[str, dict[str, Expectation]]
) -> tuple[Nic, ...]:
    nics: list[Nic] = []
    for host, value in reader.mapping(node, "hypervisors").items():
        fields = reader.mapping(value, f"hypervisor {host}")
        reader.known(fields, {"role", "roles", "nics"}, f"hypervisor {host}")
        merged: dict[str, Expectation] = {}
        for key in ("role", "roles"):
            for role in reader.names(fields[key], key) if key in fields else ():
                if role not in roles:
                    raise reader.error(fields[key], f"hypervisor {host}: no role {role!r}")
                merged.update(roles[role])
        merged.update(_expectations(reader, fields.get("nics", _EMPTY), f"hypervisor {host}"))
        if not merged:
            raise reader.error(value, f"hypervisor {host}: no NICs (give a role or nics)")
        nics.extend(Nic(host, nic, expect) for nic, expect in sorted(merged.items()))
    return tuple(nics)


def load_inventory(path: str, host: Host | None = None) -> Inventory:
    """Read and parse the inventory; an unreadable file is an InventoryError too."""
    try:
        raw = (host or Host()).read_bytes(os.path.abspath(path))
    except HostError as exc:
        raise InventoryError(str(exc)) from None
    if len(raw) > MAX_INVENTORY_BYTES:
        raise InventoryError(f"{path}: larger than 8 MiB")
    try:
        return parse_inventory(raw.decode("utf-8"), path)
    except UnicodeDecodeError as exc:
        raise InventoryError(f"{path}: not UTF-8 text (byte {exc.start})") from None
