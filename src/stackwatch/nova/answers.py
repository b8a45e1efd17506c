"""Nova's and Placement's JSON answers read into frozen facts: pure functions, no I/O.

A cloud's API is untrusted input: a proxy in front of it may answer HTML, a broken release may
leave fields out, a lying one may put a list where an object belongs. Every reader here either
returns its facts or raises ``AnswerError`` naming what was wrong, never anything else.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from stackwatch.core.record import dataclass


class AnswerError(ValueError):
    """An answer of the API that does not have the shape Nova gives."""


@dataclass(frozen=True)
class Flavor:
    name: str
    vcpus: int
    ram_mb: int
    disk_gb: int


@dataclass(frozen=True)
class Server:
    id: str
    name: str
    status: str
    task_state: str | None
    host: str | None
    zone: str | None
    created: str
    flavor: Flavor | None
    volumes: tuple[str, ...]
    tags: tuple[str, ...]
    fault: str | None


@dataclass(frozen=True)
class Service:
    id: str
    host: str
    binary: str
    state: str  # "up" or "down" (heartbeats)
    status: str  # "enabled" or "disabled"
    forced_down: bool
    zone: str | None


@dataclass(frozen=True)
class Capacity:
    """What one resource provider (a compute node) can still take, per resource class."""

    host: str
    free: Mapping[str, float]  # VCPU, MEMORY_MB, DISK_GB


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise AnswerError(f"{what}: expected an object, got {type(value).__name__}")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise AnswerError(f"{what}: expected a list, got {type(value).__name__}")
    return value


def _text(value: Any, what: str, optional: bool = False) -> str:
    if value is None and optional:
        return ""
    if not isinstance(value, str):
        raise AnswerError(f"{what}: expected text, got {type(value).__name__}")
    return value


def _opt_text(value: Any, what: str) -> str | None:
    return None if value is None else _text(value, what)


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AnswerError(f"{what}: expected a number, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0 or value != int(value):
        raise AnswerError(f"{what}: expected a whole number of 0 or more, got {value!r}")
    return int(value)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise AnswerError(f"{what}: expected a finite number, got {value!r}")
    return float(value)


# --- consoles ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Console:
    url: str
    type: str
    token: str | None  # the console auth token in the URL (None: the URL carries none)


def parse_console(body: Any) -> Console:
    """POST /servers/{id}/remote-consoles -> the URL, its type and the token in it."""
    console = _object(_object(body, "answer").get("remote_console"), "remote_console")
    url = _text(console.get("url"), "remote_console.url")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
        raise AnswerError(f"remote_console.url: not an http(s) or ws(s) URL: {url[:200]!r}")
    return Console(url, _text(console.get("type"), "remote_console.type", True), console_token(url))


def console_token(url: str) -> str | None:
    """The token of a console URL: ``?token=`` or noVNC's ``?path=%3Ftoken%3D...``."""
    query = parse_qs(urlsplit(url).query)
    if query.get("token"):
        return query["token"][0] or None
    for path in query.get("path", []):
        inner = parse_qs(urlsplit(path).query)
        if inner.get("token"):
            return inner["token"][0] or None
    return None


def fault_message(body: Any) -> str:
    """Nova's error answer ``{"conflictingRequest": {"message": ..., "code": 409}}``, or the
    start of whatever else came back."""
    if isinstance(body, Mapping):
        for value in body.values():
            if isinstance(value, Mapping) and isinstance(value.get("message"), str):
                return str(value["message"])[:300]
    return str(body)[:200]


# --- servers, services, placement ------------------------------------------------------------


def _flavor(value: Any, where: str) -> Flavor | None:
    if value is None:
        return None
    flavor = _object(value, f"{where}.flavor")
    if "vcpus" not in flavor:  # before microversion 2.47 only a link: no sizes
        return None
    return Flavor(
        _text(flavor.get("original_name"), f"{where}.flavor.original_name", True),
        _count(flavor.get("vcpus"), f"{where}.flavor.vcpus"),
        _count(flavor.get("ram"), f"{where}.flavor.ram"),
        _count(flavor.get("disk", 0), f"{where}.flavor.disk"),
    )


def _volumes(value: Any, where: str) -> tuple[str, ...]:
    items = _list(value or [], f"{where}.volumes_attached")
    return tuple(
        _text(_object(v, f"{where}.volume").get("id"), f"{where}.volume.id") for v in items
    )


def _fault(value: Any) -> str | None:
    if isinstance(value, Mapping) and isinstance(value.get("message"), str):
        return str(value["message"])[:300]
    return None


def parse_server(value: Any, index: int = 0) -> Server:
    where = f"servers[{index}]"
    raw = _object(value, where)
    return Server(
        _text(raw.get("id"), f"{where}.id"),
        _text(raw.get("name"), f"{where}.name", True),
        _text(raw.get("status"), f"{where}.status"),
        _opt_text(raw.get("OS-EXT-STS:task_state"), f"{where}.task_state"),
        _opt_text(raw.get("OS-EXT-SRV-ATTR:host"), f"{where}.host"),
        _opt_text(raw.get("OS-EXT-AZ:availability_zone"), f"{where}.availability_zone"),
        _text(raw.get("created"), f"{where}.created", True),
        _flavor(raw.get("flavor"), where),
        _volumes(raw.get("os-extended-volumes:volumes_attached"), where),
        tuple(_text(t, f"{where}.tags[]") for t in _list(raw.get("tags") or [], f"{where}.tags")),
        _fault(raw.get("fault")),
    )


def parse_servers(body: Any) -> tuple[Server, ...]:
    """GET /servers/detail."""
    items = _list(_object(body, "answer").get("servers"), "servers")
    return tuple(parse_server(item, i) for i, item in enumerate(items))


def parse_one_server(body: Any) -> Server:
    """GET /servers/{id}."""
    return parse_server(_object(body, "answer").get("server"))


def parse_services(body: Any) -> tuple[Service, ...]:
    """GET /os-services."""
    services = []
    for i, item in enumerate(_list(_object(body, "answer").get("services"), "services")):
        raw, where = _object(item, f"services[{i}]"), f"services[{i}]"
        forced = raw.get("forced_down", False)
        if not isinstance(forced, bool):
            raise AnswerError(f"{where}.forced_down: expected true or false")
        services.append(
            Service(
                str(_object(raw, where).get("id", "")),
                _text(raw.get("host"), f"{where}.host"),
                _text(raw.get("binary"), f"{where}.binary"),
                _text(raw.get("state"), f"{where}.state"),
                _text(raw.get("status"), f"{where}.status"),
                forced,
                _opt_text(raw.get("zone"), f"{where}.zone"),
            )
        )
    return tuple(services)


def parse_migrations(body: Any) -> tuple[str, ...]:
    """GET /os-migrations (2.59, newest first) -> the status of each migration."""
    items = _list(_object(body, "answer").get("migrations"), "migrations")
    return tuple(
        _text(_object(item, f"migrations[{i}]").get("status"), f"migrations[{i}].status")
        for i, item in enumerate(items)
    )


def parse_providers(body: Any) -> dict[str, str]:
    """GET /resource_providers -> uuid: name."""
    items = _list(_object(body, "answer").get("resource_providers"), "resource_providers")
    providers = {}
    for i, item in enumerate(items):
        raw = _object(item, f"resource_providers[{i}]")
        uuid = _text(raw.get("uuid"), f"resource_providers[{i}].uuid")
        providers[uuid] = _text(raw.get("name"), f"resource_providers[{i}].name")
    return providers


def parse_free(host: str, inventories: Any, usages: Any) -> Capacity:
    """GET .../inventories and .../usages of one provider -> what it can still take:
    (total - reserved) * allocation_ratio - used, per resource class."""
    stock = _object(_object(inventories, "answer").get("inventories"), "inventories")
    used = _object(_object(usages, "answer").get("usages"), "usages")
    free = {}
    for resource, raw in stock.items():
        inv = _object(raw, f"inventories.{resource}")
        total = _number(inv.get("total"), f"inventories.{resource}.total")
        reserved = _number(inv.get("reserved", 0), f"inventories.{resource}.reserved")
        ratio = _number(inv.get("allocation_ratio", 1.0), f"inventories.{resource}.ratio")
        taken = _number(used.get(resource, 0), f"usages.{resource}")
        free[str(resource)] = (total - reserved) * ratio - taken
    return Capacity(host, free)
