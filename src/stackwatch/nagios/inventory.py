"""Ansible inventories as facts: groups, their children and variables, hosts and theirs.

Three forms, each read by a pure function of its text that remembers where (file and line) every
group, host and variable was declared, so that a mistake can be shown where it is:

- INI: ``[group]`` host lines (``name key=value ...``, numeric ranges ``cmp[01:20]``),
  ``[group:vars]`` and ``[group:children]``;
- YAML: ``all: {hosts: {...}, vars: {...}, children: {group: {...}}}``;
- JSON of ``ansible-inventory --list`` (dynamic inventories such as OpenStack's): groups with
  ``hosts``/``children``/``vars`` and ``_meta.hostvars``.

``resolve`` then checks what Ansible would only warn about or take silently: a cycle of children
and a host that two cells claim are errors, with the file and line of each side.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from typing import Any

from stackwatch.core.record import dataclass, field


class InventoryError(Exception):
    """An inventory that cannot be used: the message starts with FILE:LINE."""


@dataclass(frozen=True)
class Where:
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class Group:
    name: str
    where: Where
    hosts: dict[str, Where] = field(default_factory=dict)
    children: dict[str, Where] = field(default_factory=dict)
    vars: dict[str, tuple[Any, Where]] = field(default_factory=dict)


@dataclass
class Inventory:
    file: str
    groups: dict[str, Group] = field(default_factory=dict)
    host_vars: dict[str, dict[str, tuple[Any, Where]]] = field(default_factory=dict)
    host_where: dict[str, Where] = field(default_factory=dict)

    def group(self, name: str, where: Where) -> Group:
        if name not in self.groups:
            self.groups[name] = Group(name, where)
        return self.groups[name]

    def add_host(self, group: str, host: str, where: Where) -> None:
        self.group(group, where).hosts.setdefault(host, where)
        self.host_where.setdefault(host, where)
        self.host_vars.setdefault(host, {})


def parse_inventory(text: str, file: str) -> Inventory:
    """Any of the three forms, told apart by the file name or, failing that, the content."""
    lower = file.lower()
    stripped = text.lstrip()
    if lower.endswith(".json") or stripped.startswith("{"):
        return parse_json(text, file)
    if lower.endswith((".yml", ".yaml")):
        return parse_yaml(text, file)
    if lower.endswith(".ini") or re.search(r"^\s*\[[^\]]+\]\s*$", text, re.M):
        return parse_ini(text, file)
    return parse_yaml(text, file)


# --- INI ---------------------------------------------------------------------------------------

_RANGE = re.compile(r"\[(\d+):(\d+)\]")


def parse_ini(text: str, file: str) -> Inventory:
    inventory = Inventory(file)
    section, kind = "ungrouped", "hosts"
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        where = Where(file, number)
        if line.startswith("[") and line.endswith("]"):
            section, _, kind = line[1:-1].strip().partition(":")
            kind = kind or "hosts"
            if kind not in ("hosts", "vars", "children") or not section:
                raise InventoryError(f"{where}: unknown section [{line[1:-1]}]")
            inventory.group(section, where)
            continue
        _ini_line(inventory, section, kind, line, where)
    return inventory


def _ini_line(inventory: Inventory, section: str, kind: str, line: str, where: Where) -> None:
    group = inventory.group(section, where)
    if kind == "children":
        group.children.setdefault(line.split()[0], where)
        inventory.group(line.split()[0], where)
        return
    try:
        words = shlex.split(line, comments=True)
    except ValueError as exc:
        raise InventoryError(f"{where}: {exc}") from None
    if kind == "vars":
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise InventoryError(f"{where}: expected key=value in [{section}:vars]")
        group.vars[key.strip()] = (_scalar(value.strip().strip("'\"")), where)
        return
    if not words:
        return
    for host in _expand(words[0], where):
        inventory.add_host(section, host, where)
        for word in words[1:]:
            key, sep, value = word.partition("=")
            if not sep:
                raise InventoryError(f"{where}: expected key=value after the host, found {word!r}")
            inventory.host_vars[host][key] = (_scalar(value), where)


def _expand(pattern: str, where: Where) -> list[str]:
    """cmp[01:03] -> cmp01, cmp02, cmp03 (one numeric range; the width of the first bound)."""
    match = _RANGE.search(pattern)
    if match is None:
        return [pattern]
    low, high = match.group(1), match.group(2)
    if int(high) < int(low) or int(high) - int(low) > 100_000:
        raise InventoryError(f"{where}: host range [{low}:{high}] is empty or too large")
    width = len(low) if low.startswith("0") else 0
    head, tail = pattern[: match.start()], pattern[match.end() :]
    return [f"{head}{n:0{width}d}{tail}" for n in range(int(low), int(high) + 1)]


def _scalar(text: str) -> Any:
    """INI values as Ansible reads them: integers and booleans become their types."""
    if re.fullmatch(r"-?\d{1,18}", text):
        return int(text)
    return {"true": True, "false": False}.get(text.lower(), text)


# --- YAML --------------------------------------------------------------------------------------


def parse_yaml(text: str, file: str) -> Inventory:
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise InventoryError(f"{file}: not YAML: {exc}".replace("\n", " ")) from None
    inventory = Inventory(file)
    if root is None:
        return inventory
    loader = yaml.SafeLoader("")
    for name, node, where in _pairs(root, file):
        _yaml_group(inventory, loader, name, node, where, file)
    return inventory


def yaml_mapping(text: str, file: str) -> list[tuple[str, tuple[Any, Where]]]:
    """A YAML document that is a mapping of names (or empty): each name with its value and the
    line it is on (variables files of group_vars/ and host_vars/)."""
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        if root is None:
            return []
        loader = yaml.SafeLoader("")
        return [(k, (loader.construct_object(v, True), at)) for k, v, at in _pairs(root, file)]
    except yaml.YAMLError as exc:
        raise InventoryError(f"{file}: not YAML: {exc}".replace("\n", " ")) from None
    except RecursionError:
        raise InventoryError(f"{file}: nested too deep") from None


def _pairs(node: Any, file: str) -> list[tuple[str, Any, Where]]:
    import yaml

    if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
        return []
    if not isinstance(node, yaml.MappingNode):
        raise InventoryError(f"{file}:{node.start_mark.line + 1}: expected a mapping")
    return [(str(k.value), v, Where(file, k.start_mark.line + 1)) for k, v in node.value]


def _yaml_group(
    inventory: Inventory, loader: Any, name: str, node: Any, where: Where, file: str
) -> None:
    group = inventory.group(name, where)
    for key, value, at in _pairs(node, file):
        if key == "hosts":
            for host, host_node, host_at in _pairs(value, file):
                inventory.add_host(name, host, host_at)
                for var, var_node, var_at in _pairs(host_node, file):
                    inventory.host_vars[host][var] = (
                        loader.construct_object(var_node, True),
                        var_at,
                    )
        elif key == "vars":
            for var, var_node, var_at in _pairs(value, file):
                group.vars[var] = (loader.construct_object(var_node, True), var_at)
        elif key == "children":
            for child, child_node, child_at in _pairs(value, file):
                group.children.setdefault(child, child_at)
                _yaml_group(inventory, loader, child, child_node, child_at, file)
        else:
            raise InventoryError(
                f"{at}: unknown key {key!r} in group {name} (hosts, vars, children)"
            )


# --- JSON of ansible-inventory --list -----------------------------------------------------------


def parse_json(text: str, file: str) -> Inventory:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InventoryError(f"{file}: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InventoryError(f"{file}:1: expected an object of groups")
    inventory = Inventory(file)
    lines = _JsonLines(text, file)
    for name, body in data.items():
        if name == "_meta":
            continue
        _json_group(inventory, name, body, lines)
    meta = data.get("_meta", {})
    hostvars = meta.get("hostvars", {}) if isinstance(meta, dict) else {}
    for host, values in hostvars.items() if isinstance(hostvars, dict) else ():
        inventory.host_where.setdefault(host, lines.key(host))
        for key, value in values.items() if isinstance(values, dict) else ():
            inventory.host_vars.setdefault(host, {})[key] = (value, lines.key(host))
    return inventory


def _json_group(inventory: Inventory, name: str, body: Any, lines: _JsonLines) -> None:
    where = lines.key(name)
    if isinstance(body, list):  # the old form: a group is a list of hosts
        body = {"hosts": body}
    if not isinstance(body, dict):
        raise InventoryError(f"{where}: group {name} is not an object")
    group = inventory.group(name, where)
    for host in body.get("hosts", []) or []:
        inventory.add_host(name, str(host), lines.value(host, where))
    for child in body.get("children", []) or []:
        group.children.setdefault(str(child), where)
        inventory.group(str(child), where)
    for key, value in (body.get("vars", {}) or {}).items():
        group.vars[key] = (value, where)


class _JsonLines:
    """The line where a name first appears as a key or a string (JSON parsers keep none)."""

    def __init__(self, text: str, file: str) -> None:
        self.text, self.file = text, file

    def key(self, name: str) -> Where:
        return self._find(json.dumps(name) + ":", Where(self.file, 1))

    def value(self, name: object, default: Where) -> Where:
        return self._find(json.dumps(name), default)

    def _find(self, needle: str, default: Where) -> Where:
        at = self.text.find(needle)
        if at < 0:
            at = self.text.find(needle.replace(":", " :"))
        return Where(self.file, self.text.count("\n", 0, at) + 1) if at >= 0 else default


# --- resolving ---------------------------------------------------------------------------------


Vars = dict[str, tuple[Any, Where]]


@dataclass
class VarsDirs:
    """Variables from ``group_vars/`` and ``host_vars/`` (see inventory_vars.py)."""

    groups: dict[str, Vars] = field(default_factory=dict)
    hosts: dict[str, Vars] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)  # every file read, in the order read


@dataclass(frozen=True)
class HostFacts:
    name: str
    groups: tuple[str, ...]  # every group holding it, directly or through children, sorted
    vars: Mapping[str, Any]  # merged as Ansible does: groups by depth, then the host's own
    cell: str
    where: Where


def resolve(
    inventory: Inventory,
    cell_variable: str,
    cell_pattern: str,
    default_cell: str,
    dirs: VarsDirs | None = None,
) -> dict[str, HostFacts]:
    """Every host with its groups, variables and cell; InventoryError for a cycle of children or
    a host claimed by two cells. ``dirs``: group_vars/ and host_vars/ beside the inventory."""
    try:
        _check_cycles(inventory)
        depth = _depths(inventory)
        member_of = _memberships(inventory)
    except RecursionError:
        raise InventoryError(f"{inventory.file}: groups nested too deep") from None
    cells = re.compile(cell_pattern)
    dirs = dirs or VarsDirs()
    facts = {}
    for host in sorted(inventory.host_where):
        groups = sorted(member_of.get(host, ()), key=lambda g: (depth.get(g, 0), g))
        merged = _merged(inventory, dirs, host, groups)
        cell = _cell(inventory, dirs, host, groups, cell_variable, cells) or default_cell
        facts[host] = HostFacts(
            host, tuple(sorted(groups)), merged, cell, inventory.host_where[host]
        )
    return facts


def _merged(inventory: Inventory, dirs: VarsDirs, host: str, groups: list[str]) -> dict[str, Any]:
    """Ansible's precedence: the inventory's group variables (by depth) < group_vars/all <
    group_vars/GROUP (by depth) < the inventory's host variables < host_vars/HOST."""
    layers = [inventory.groups[group].vars for group in groups]
    layers.append(dirs.groups.get("all", {}))
    layers += [dirs.groups.get(group, {}) for group in groups if group != "all"]
    layers += [inventory.host_vars.get(host, {}), dirs.hosts.get(host, {})]
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update({k: v for k, (v, _) in layer.items()})
    return merged


def _check_cycles(inventory: Inventory) -> None:
    state: dict[str, int] = {}  # 1: on the path being walked, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        group = inventory.groups.get(name)
        for child, where in group.children.items() if group else ():
            if state.get(child) == 1:
                cycle = " -> ".join([*path[path.index(child) :], child]) if child in path else child
                raise InventoryError(f"{where}: cycle of children: {cycle}")
            if state.get(child) is None:
                visit(child, [*path, child])
        state[name] = 2

    for name in sorted(inventory.groups):
        if state.get(name) is None:
            visit(name, [name])


def _depths(inventory: Inventory) -> dict[str, int]:
    """How deep each group is under its parents (all is 0): deeper groups' variables win."""
    depth: dict[str, int] = {}
    parents: dict[str, list[str]] = {}
    for group in inventory.groups.values():
        for child in group.children:
            parents.setdefault(child, []).append(group.name)

    def of(name: str) -> int:
        if name not in depth:
            depth[name] = 1 + max((of(p) for p in parents.get(name, ())), default=-1)
        return depth[name]

    for name in inventory.groups:
        of(name)
    return depth


def _memberships(inventory: Inventory) -> dict[str, set[str]]:
    """Host -> every group that holds it, directly or through a chain of children."""
    members: dict[str, set[str]] = {}
    known: dict[str, frozenset[str]] = {}  # the graph has no cycle (checked): memo is safe

    def hosts_of(name: str) -> frozenset[str]:
        if name not in known:
            group = inventory.groups.get(name)
            found = set(group.hosts) if group else set()
            for child in group.children if group else ():
                found |= hosts_of(child)
            known[name] = frozenset(found)
        return known[name]

    for name in inventory.groups:
        for host in hosts_of(name):
            members.setdefault(host, set()).add(name)
    return members


def _cell(
    inventory: Inventory,
    dirs: VarsDirs,
    host: str,
    groups: list[str],
    variable: str,
    pattern: re.Pattern[str],
) -> str:
    """The one cell that claims the host: its own variable, a group's variable, a group named
    like a cell. Two different ones are an error showing both."""
    claims: dict[str, Where] = {}
    own = dirs.hosts.get(host, {}).get(variable) or inventory.host_vars.get(host, {}).get(variable)
    if own is not None:
        claims.setdefault(str(own[0]), own[1])
    for name in groups if own is None else ():
        group_var = _group_var(inventory, dirs, name, variable)
        if group_var is not None:
            claims.setdefault(str(group_var[0]), group_var[1])
    for name in groups:
        if pattern.fullmatch(name):
            group = inventory.groups[name]
            claims.setdefault(name, group.hosts.get(host, group.where))
    if own is None and "all" not in groups and variable in dirs.groups.get("all", {}):
        value, where = dirs.groups["all"][variable]
        claims.setdefault(str(value), where)
    if len(claims) > 1:
        (first, at1), (second, at2) = sorted(claims.items())[:2]
        raise InventoryError(
            f"{inventory.host_where[host]}: host {host} is in two cells: "
            f"{first} ({at1}) and {second} ({at2})"
        )
    return next(iter(claims), "")


def _group_var(
    inventory: Inventory, dirs: VarsDirs, group: str, variable: str
) -> tuple[Any, Where] | None:
    """A group's own value of a variable: its group_vars/ file's, else the inventory's."""
    return dirs.groups.get(group, {}).get(variable) or inventory.groups[group].vars.get(variable)
