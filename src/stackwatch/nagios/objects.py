"""Nagios object definitions (``define host { ... }``) read from .cfg files and objects.cache:
enough to know which hosts exist, their host groups and which services each host has.

A pure parser (``parse_objects``) and a reader that walks a tree through the Host. Nagios's own
rules: ``#`` and ``;`` start a comment line, ``;`` ends a value unless escaped as ``\\;``, and a
definition runs from ``define TYPE {`` to the ``}`` that closes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from stackwatch.core.host import Host
from stackwatch.core.record import dataclass


class ObjectsError(Exception):
    """A definition Nagios would refuse to read (unterminated, no type): file and line."""


@dataclass(frozen=True)
class Definition:
    kind: str  # host, service, hostgroup, command...
    attrs: Mapping[str, str]
    file: str
    line: int

    def names(self, key: str) -> tuple[str, ...]:
        """A comma-separated list attribute (host_name, hostgroups, members...)."""
        value = self.attrs.get(key, "")
        return tuple(item.strip() for item in value.split(",") if item.strip())


def parse_objects(text: str, file: str) -> list[Definition]:
    found: list[Definition] = []
    current: tuple[str, dict[str, str], int] | None = None
    for number, raw in enumerate(text.split("\n"), 1):
        line = _strip(raw)
        if not line:
            continue
        if current is None:
            current = _start(line, file, number)
            continue
        if line.startswith("}"):
            found.append(Definition(current[0], current[1], file, current[2]))
            current = None
            continue
        key, _, value = line.partition(" ") if " " in line else line.partition("\t")
        current[1][key.strip()] = value.strip()
    if current is not None:
        raise ObjectsError(f"{file}:{current[2]}: define {current[0]} is never closed with }}")
    return found


def _start(line: str, file: str, number: int) -> tuple[str, dict[str, str], int]:
    words = line.replace("{", " { ").split()
    if len(words) < 3 or words[0] != "define" or words[2] != "{":
        raise ObjectsError(f"{file}:{number}: expected 'define TYPE {{', found {line[:60]!r}")
    return words[1], {}, number


def _strip(raw: str) -> str:
    """The line without its comment (``;`` not escaped) and surrounding blanks."""
    line = raw.strip()
    if not line or line[0] in "#;":
        return ""
    cut = 0
    while True:
        cut = line.find(";", cut)
        if cut < 0:
            return line.replace("\\;", ";")
        if cut == 0 or line[cut - 1] != "\\":
            return line[:cut].rstrip().replace("\\;", ";")
        cut += 1


def read_tree(host: Host, root: str) -> list[Definition]:
    """Every definition in the .cfg files under ``root`` (a file is read alone), following
    directory links as Nagios does, in a stable order."""
    if not host.is_dir(root):
        return parse_objects(host.read_text(root), root)
    found: list[Definition] = []
    for path in cfg_files(host, root):
        found += parse_objects(host.read_text(path), path)
    return found


def cfg_files(host: Host, root: str, seen: frozenset[str] = frozenset()) -> list[str]:
    """The .cfg files Nagios reads from a cfg_dir: recursively, sorted, links followed once."""
    real = str(host.path(root).resolve())
    if real in seen:
        return []
    out: list[str] = []
    for name in host.listdir(root):
        path = f"{root.rstrip('/')}/{name}"
        if host.is_dir(path):
            out += cfg_files(host, path, seen | {real})
        elif name.endswith(".cfg") and host.exists(path):
            out.append(path)
    return out


def hostgroups_of(definitions: Iterable[Definition]) -> dict[str, tuple[str, ...]]:
    """Host -> its host groups, from both sides (a host's ``hostgroups`` and a group's
    ``members``), following host templates (``use``) for the first."""
    definitions = list(definitions)
    templates = {d.attrs["name"]: d for d in definitions if d.kind == "host" and "name" in d.attrs}
    groups: dict[str, set[str]] = {}
    for d in definitions:
        if d.kind == "host" and "host_name" in d.attrs:
            for group in _inherited(d, templates, "hostgroups"):
                groups.setdefault(d.attrs["host_name"], set()).add(group)
        elif d.kind == "hostgroup" and "hostgroup_name" in d.attrs:
            for member in d.names("members"):
                groups.setdefault(member, set()).add(d.attrs["hostgroup_name"])
    return {host: tuple(sorted(names)) for host, names in groups.items()}


def _inherited(d: Definition, templates: Mapping[str, Definition], key: str) -> tuple[str, ...]:
    """A list attribute with the templates' values (``+`` adds to the inherited value)."""
    seen: set[str] = set()
    values: list[str] = []
    node: Definition | None = d
    while node is not None:
        raw = node.attrs.get(key)
        if raw is not None:
            values += Definition(node.kind, {key: raw.lstrip("+")}, "", 0).names(key)
            if not raw.startswith("+"):
                break
        parents = node.names("use")
        parent = parents[0] if parents else None
        if parent is None or parent in seen:
            break
        seen.add(parent)
        node = templates.get(parent)
    return tuple(values)
