"""Ansible's ``group_vars/`` and ``host_vars/`` beside the inventory, read as Ansible reads them.

For a group or host NAME, the first of ``NAME``, ``NAME.yml``, ``NAME.yaml``, ``NAME.json`` that
exists is read; when it is a directory, every file in it (and in its directories without an
extension), in sorted order, that does not start with ``.`` or end with ``~`` and has no extension
or one of those three; a later file's keys replace an earlier one's (Ansible's default
``hash_behaviour=replace``). Only the groups and hosts of the inventory (and ``all``) are read.

How they merge (``inventory.resolve``) follows Ansible's precedence: the inventory's own group
variables < ``group_vars/all`` < ``group_vars/GROUP`` (parent before child) < the inventory's host
variables < ``host_vars/HOST``.

The files come from whoever edits the repository: each is parsed with the safe YAML loader (JSON
is YAML), and anything else than a mapping of names is one error naming the file and line.
"""

from __future__ import annotations

import os

from stackwatch.core.host import Host, HostError
from stackwatch.nagios.inventory import Inventory, InventoryError, Vars, VarsDirs, yaml_mapping

EXTENSIONS = (".yml", ".yaml", ".json")
MAX_FILE_BYTES = 4 << 20  # a variables file larger than this is not one
MAX_FILES = 10_000  # files under one name's directory


def read_vars_dirs(host: Host, inventory_file: str, inventory: Inventory) -> VarsDirs:
    """The variables directories beside ``inventory_file`` for the inventory's names."""
    base = os.path.dirname(os.path.abspath(inventory_file))
    shown = os.path.dirname(inventory_file)  # errors name files as the inventory was named
    found = VarsDirs()
    for kind, names, table in (
        ("group_vars", sorted({"all", *inventory.groups}), found.groups),
        ("host_vars", sorted(inventory.host_where), found.hosts),
    ):
        directory = f"{base}/{kind}"
        if not host.is_dir(directory):
            continue
        for name in names:
            merged = _read_name(host, directory, name, found.files, (base, shown))
            if merged:
                table[name] = merged
    return found


def vars_files(host: Host, directory: str, name: str) -> list[str]:
    """The files Ansible reads for ``name`` in a vars directory, in its order."""
    if "/" in name or name in ("", ".", ".."):
        return []  # a name that is a path is no file of this directory
    for ext in ("", *EXTENSIONS):
        path = f"{directory}/{name}{ext}"
        if host.is_dir(path):
            return _dir_files(host, path, 0)
        if host.exists(path):
            return [path]
    return []


def _dir_files(host: Host, directory: str, depth: int) -> list[str]:
    if depth > 20:
        raise InventoryError(f"{directory}: directories nested too deep")
    out: list[str] = []
    for entry in sorted(_listdir(host, directory)):
        if entry.startswith(".") or entry.endswith("~"):
            continue
        path, ext = f"{directory}/{entry}", os.path.splitext(entry)[1]
        if host.is_dir(path):
            if not ext:
                out += _dir_files(host, path, depth + 1)
        elif not ext or ext in EXTENSIONS:
            out.append(path)
        if len(out) > MAX_FILES:
            raise InventoryError(f"{directory}: more than {MAX_FILES} variables files")
    return out


def _listdir(host: Host, directory: str) -> list[str]:
    try:
        return host.listdir(directory)
    except HostError as exc:
        raise InventoryError(str(exc)) from None


def _read_name(
    host: Host, directory: str, name: str, read: list[str], bases: tuple[str, str]
) -> Vars:
    merged: Vars = {}
    for path in vars_files(host, directory, name):
        named = os.path.join(bases[1], os.path.relpath(path, bases[0]))
        merged.update(parse_vars_file(_read(host, path, named), named))
        read.append(named)
    return merged


def _read(host: Host, path: str, named: str) -> str:
    try:
        data = host.read_small(path, MAX_FILE_BYTES)
    except HostError as exc:
        raise InventoryError(f"{named}: {exc}") from None
    if data is None:
        raise InventoryError(f"{named}: vanished while read")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InventoryError(f"{named}: not UTF-8 ({exc.reason} at byte {exc.start})") from None


def parse_vars_file(text: str, path: str) -> Vars:
    """One variables file: a mapping of names to values (empty: none)."""
    return dict(yaml_mapping(text, path))
