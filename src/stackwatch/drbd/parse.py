"""Parsers of what DRBD and LVM say about themselves: pure functions from text to facts.

- ``/proc/drbd`` (DRBD 8.x): one line per minor, ``1: cs:Connected ro:Primary/Secondary
  ds:UpToDate/UpToDate C r-----`` (8.0 wrote ``st:`` for the roles).
- ``drbdsetup status --json`` (DRBD 9.x): resources with their devices and connections.
- ``lvmconfig``: ``key=value`` lines, possibly inside ``section {`` blocks.
- ``vgs --reportformat json``: one row per volume group and physical volume.

Every parser takes untrusted text and either returns a frozen dataclass or raises
``DrbdParseError`` with one line saying what was wrong.
"""

from __future__ import annotations

import json
import re
from typing import Any

from stackwatch.core.record import dataclass


class DrbdParseError(ValueError):
    """Output that is there but cannot be understood: the check's UNKNOWN, with this reason."""


@dataclass(frozen=True)
class Peer:
    name: str
    connection: str  # Connected, StandAlone, WFConnection, Connecting, ...
    role: str  # Primary, Secondary, Unknown
    disk: str  # UpToDate, Inconsistent, DUnknown, ...


@dataclass(frozen=True)
class Resource:
    name: str  # the resource name (9.x) or "drbdN" (8.x knows minors only)
    minors: tuple[int, ...]
    role: str
    disk: str
    peers: tuple[Peer, ...]
    two_primaries_allowed: bool | None = None  # None: not known from this source

    @property
    def dual_primary(self) -> bool:
        return self.role == "Primary" and any(p.role == "Primary" for p in self.peers)


@dataclass(frozen=True)
class LvmConfig:
    locking_type: int | None
    use_lvmlockd: bool


@dataclass(frozen=True)
class VolumeGroup:
    name: str
    lock_type: str  # "", "none", "clvm", "dlm", "sanlock"
    clustered: bool  # vg_attr 'c' (clvmd) or 's' (lvmlockd shared)
    pvs: tuple[str, ...]


_PROC_LINE = re.compile(r"^\s*(\d+):\s+cs:(\S+)(.*)$")
_FIELD = re.compile(r"\b(ro|st|ds):([A-Za-z]+)/([A-Za-z]+)")


def parse_proc_drbd(text: str) -> tuple[Resource, ...]:
    """The configured minors of /proc/drbd (8.x); unconfigured minors are left out."""
    if not text.lstrip().startswith("version:"):
        raise DrbdParseError("/proc/drbd: no 'version:' line")
    resources = []
    for line in text.splitlines():
        match = _PROC_LINE.match(line)
        if match is None:
            continue
        minor, state, rest = int(match[1]), match[2], match[3]
        if state == "Unconfigured":
            continue
        fields = {m[1]: (m[2], m[3]) for m in _FIELD.finditer(rest)}
        roles = fields.get("ro") or fields.get("st")
        disks = fields.get("ds")
        if roles is None or disks is None:
            raise DrbdParseError(f"/proc/drbd: minor {minor} has no roles or disk states")
        peer = Peer("peer", state, roles[1], disks[1])
        resources.append(Resource(f"drbd{minor}", (minor,), roles[0], disks[0], (peer,)))
    return tuple(resources)


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise DrbdParseError(f"drbdsetup status: {what} is not text")
    return value


def _peer_from_json(connection: Any) -> Peer:
    if not isinstance(connection, dict):
        raise DrbdParseError("drbdsetup status: a connection is not an object")
    devices = connection.get("peer_devices") or []
    if not isinstance(devices, list) or not all(isinstance(d, dict) for d in devices):
        raise DrbdParseError("drbdsetup status: peer_devices is not a list of objects")
    disks = [_text(d.get("peer-disk-state", "DUnknown"), "peer-disk-state") for d in devices]
    worst_disk = next((d for d in disks if d != "UpToDate"), disks[0] if disks else "DUnknown")
    return Peer(
        _text(connection.get("name", str(connection.get("peer-node-id", "?"))), "peer name"),
        _text(connection.get("connection-state", "Unknown"), "connection-state"),
        _text(connection.get("peer-role", "Unknown"), "peer-role"),
        worst_disk,
    )


def _resource_from_json(entry: Any) -> Resource:
    if not isinstance(entry, dict):
        raise DrbdParseError("drbdsetup status: a resource is not an object")
    devices = entry.get("devices") or []
    connections = entry.get("connections") or []
    if not isinstance(devices, list) or not all(isinstance(d, dict) for d in devices):
        raise DrbdParseError("drbdsetup status: devices is not a list of objects")
    if not isinstance(connections, list):
        raise DrbdParseError("drbdsetup status: connections is not a list")
    minors = tuple(d["minor"] for d in devices if isinstance(d.get("minor"), int))
    disks = [_text(d.get("disk-state", "DUnknown"), "disk-state") for d in devices]
    disk = next((d for d in disks if d != "UpToDate"), disks[0] if disks else "Diskless")
    return Resource(
        _text(entry.get("name"), "resource name"),
        minors,
        _text(entry.get("role", "Unknown"), "role"),
        disk,
        tuple(_peer_from_json(c) for c in connections),
    )


def parse_drbdsetup_status_json(text: str) -> tuple[Resource, ...]:
    """``drbdsetup status --json`` (DRBD 9.x): a list of resources."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise DrbdParseError(f"drbdsetup status: not JSON ({exc})") from None
    if not isinstance(data, list):
        raise DrbdParseError("drbdsetup status: expected a list of resources")
    return tuple(_resource_from_json(entry) for entry in data)


_SHOW_RESOURCE = re.compile(r"^\s*resource\s+\"?([^\s\"{]+)\"?\s*\{", re.MULTILINE)
_TWO_PRIMARIES = re.compile(r"allow-two-primaries\s+(yes|no)\s*;")


def parse_drbdsetup_show(text: str) -> dict[str, bool]:
    """Resource -> allow-two-primaries, from ``drbdsetup show`` (the running configuration)."""
    starts = list(_SHOW_RESOURCE.finditer(text))
    allowed: dict[str, bool] = {}
    for index, start in enumerate(starts):
        end = starts[index + 1].start() if index + 1 < len(starts) else len(text)
        found = _TWO_PRIMARIES.search(text, start.end(), end)
        allowed[start[1]] = found is not None and found[1] == "yes"
    return allowed


_CONFIG_LINE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def parse_lvmconfig(text: str) -> LvmConfig:
    """locking_type and use_lvmlockd from ``lvmconfig`` (absent keys take LVM's defaults)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        match = _CONFIG_LINE.match(line.split("#", 1)[0])
        if match:
            values[match[1]] = match[2].strip('"')
    return LvmConfig(
        _int_or_none(values.get("locking_type"), "locking_type"),
        _int_or_none(values.get("use_lvmlockd"), "use_lvmlockd") == 1,
    )


def _int_or_none(value: str | None, key: str) -> int | None:
    if value is None:
        return None
    if not (value.isascii() and value.lstrip("-").isdigit()):
        raise DrbdParseError(f"lvmconfig: {key}={value[:20]!r} is not a number")
    return int(value)


def _vg_rows(data: Any) -> list[dict[str, Any]]:
    if not isinstance(data, dict) or not isinstance(data.get("report"), list):
        raise DrbdParseError("vgs: expected {'report': [...]}")
    rows: list[dict[str, Any]] = []
    for report in data["report"]:
        vgs = report.get("vg", []) if isinstance(report, dict) else None
        if not isinstance(vgs, list) or not all(isinstance(row, dict) for row in vgs):
            raise DrbdParseError("vgs: a report has no list of 'vg' rows")
        rows.extend(vgs)
    return rows


def parse_vgs_json(text: str) -> tuple[VolumeGroup, ...]:
    """``vgs --reportformat json -o vg_name,vg_attr,vg_lock_type,pv_name``: one VG per name
    with all its PVs."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise DrbdParseError(f"vgs: not JSON ({exc})") from None
    groups: dict[str, tuple[str, bool, list[str]]] = {}
    for row in _vg_rows(data):
        name = _text_field(row, "vg_name")
        attr = _text_field(row, "vg_attr")
        lock = row.get("vg_lock_type", "")
        lock_type = lock if isinstance(lock, str) else ""
        clustered = len(attr) > 5 and attr[5] in "cs"
        entry = groups.setdefault(name, (lock_type, clustered, []))
        pv = row.get("pv_name")
        if isinstance(pv, str) and pv:
            entry[2].append(pv)
    return tuple(VolumeGroup(n, lt, c, tuple(p)) for n, (lt, c, p) in groups.items())


def _text_field(row: dict[str, Any], key: str) -> str:
    value = row.get(key, "")
    if not isinstance(value, str):
        raise DrbdParseError(f"vgs: {key} is not text")
    return value
