"""``nova recover HOST``: bring a failed compute host's instances back.

The plan lists the host's instances (state, flavor, volumes) and what would be done: evacuate
to another host (Nova rebuilds them there from shared storage or their boot volume), or, with
``--in-place``, a hard reboot on the same host once it is back. It refuses when HOST's compute
service is still up and not forced down (evacuating a live host would run each instance twice
on one disk), or when the other enabled, up hosts lack the capacity (placement's free VCPU,
MEMORY_MB and DISK_GB summed against the flavors: a necessary condition, not a packing).
Applying runs the actions in bounded parallel, waits for each instance to be ACTIVE (on
another host when evacuated), and writes a report. Running it again is safe: evacuated
instances are no longer on HOST, and ACTIVE ones are left alone by ``--in-place``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

from stackwatch.core.record import asdict, dataclass, field
from stackwatch.nova import cloud
from stackwatch.nova.answers import (
    Capacity,
    Server,
    Service,
    parse_free,
    parse_migrations,
    parse_one_server,
    parse_providers,
    parse_servers,
    parse_services,
)

POLL = 1.0
RESOURCES = {"VCPU": "vcpus", "MEMORY_MB": "ram_mb", "DISK_GB": "disk_gb"}
# Nova refuses to evacuate instances in these states; they are listed, not touched.
NOT_EVACUABLE = ("BUILD", "MIGRATING", "RESIZE", "VERIFY_RESIZE", "REBUILD", "DELETED")


class Refused(Exception):
    """Recovery must not go ahead: the message says why."""


@dataclass(frozen=True)
class Step:
    server: Server
    action: str  # "evacuate", "reboot", "skip"
    why: str


@dataclass(frozen=True)
class Plan:
    host: str
    in_place: bool
    service: Service | None
    steps: tuple[Step, ...]
    capacity: tuple[Capacity, ...] = ()
    refusal: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def actions(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.action != "skip")


@dataclass(frozen=True)
class Outcome:
    id: str
    name: str
    action: str
    ok: bool
    status: str
    host: str | None
    seconds: float
    detail: str = ""
    volumes: tuple[str, ...] = field(default_factory=tuple)


# --- facts -------------------------------------------------------------------------------------


def compute_services(conn: Any) -> tuple[Service, ...]:
    body = cloud.request(
        conn, "compute", "GET", "/os-services?binary=nova-compute", microversion=cloud.LIST_VERSION
    )
    return tuple(cloud.read(parse_services, body))


def servers_on(conn: Any, host: str) -> tuple[Server, ...]:
    body = cloud.request(
        conn,
        "compute",
        "GET",
        f"/servers/detail?all_tenants=1&host={quote(host)}",
        microversion=cloud.LIST_VERSION,
    )
    return tuple(s for s in cloud.read(parse_servers, body) if s.host == host)


def capacities(conn: Any, hosts: Sequence[str]) -> tuple[Capacity, ...]:
    """Placement's free resources of the compute nodes named ``hosts`` (the fake and libvirt
    drivers name their node after the host)."""
    providers = cloud.read(
        parse_providers, cloud.request(conn, "placement", "GET", "/resource_providers")
    )
    found = []
    for uuid, name in sorted(providers.items(), key=lambda item: item[1]):
        if name.split(".")[0] not in {h.split(".")[0] for h in hosts}:
            continue
        inventories = cloud.request(
            conn, "placement", "GET", f"/resource_providers/{uuid}/inventories"
        )
        usages = cloud.request(conn, "placement", "GET", f"/resource_providers/{uuid}/usages")
        found.append(
            cloud.read(lambda pair, host=name: parse_free(host, *pair), (inventories, usages))
        )
    return tuple(found)


# --- the plan (a judgement: no I/O) -----------------------------------------------------------


def service_refusal(host: str, service: Service | None, in_place: bool) -> str | None:
    if service is None:
        return f"no nova-compute service on host {host!r}"
    if in_place:
        if service.state != "up" or service.forced_down:
            return (
                f"{host}'s compute service is {service.state}"
                f"{' and forced down' if service.forced_down else ''}: bring it back (and "
                "unset forced down) before restarting its instances in place"
            )
        return None
    if service.state == "up" and not service.forced_down:
        return (
            f"{host}'s compute service is up and not forced down: evacuating a live host "
            "would run its instances twice; stop it and force it down first "
            f"(openstack compute service set --down {host} nova-compute)"
        )
    return None


def step_for(server: Server, in_place: bool) -> Step:
    if server.task_state:
        return Step(server, "skip", f"busy ({server.task_state}): run again once it settles")
    if in_place:
        if server.status == "ACTIVE":
            return Step(server, "skip", "already ACTIVE")
        return Step(server, "reboot", "hard reboot on the host (re-connects its volumes)")
    if server.status in NOT_EVACUABLE:
        return Step(server, "skip", f"{server.status}: Nova does not evacuate this state")
    volumes = " with its volumes" if server.volumes else ""
    return Step(server, "evacuate", f"rebuild on another host{volumes}")


def capacity_refusal(steps: Sequence[Step], free: Sequence[Capacity]) -> str | None:
    """Whether the other hosts can take what is evacuated: together (summed, per resource), and
    each instance on at least one host. Both are needed for the evacuations to succeed; neither
    refuses a recovery the scheduler could place (no packing is guessed)."""
    moving = [s.server for s in steps if s.action == "evacuate"]
    if not moving:
        return None
    if not free:
        return "no other enabled, up compute host to evacuate to"
    short = []
    for resource, attr in RESOURCES.items():
        need = sum(getattr(s.flavor, attr) for s in moving if s.flavor is not None)
        have = sum(max(0.0, c.free.get(resource, 0.0)) for c in free)
        if need > have:
            short.append(f"{resource} needs {need:g}, the other hosts have {have:g} free")
    short += [f"{server.name} fits on no other host" for server in _fitting_nowhere(moving, free)]
    return "not enough capacity: " + "; ".join(short) if short else None


def _fitting_nowhere(moving: Sequence[Server], free: Sequence[Capacity]) -> list[Server]:
    def fits(server: Server, host: Capacity) -> bool:
        return all(
            getattr(server.flavor, attr) <= host.free.get(resource, 0.0)
            for resource, attr in RESOURCES.items()
        )

    return [s for s in moving if s.flavor is not None and not any(fits(s, c) for c in free)]


def make_plan(
    host: str,
    in_place: bool,
    services: Sequence[Service],
    servers: Sequence[Server],
    free: Sequence[Capacity],
) -> Plan:
    service = next((s for s in services if s.host == host), None)
    steps = tuple(step_for(s, in_place) for s in sorted(servers, key=lambda s: (s.name, s.id)))
    refusal = service_refusal(host, service, in_place)
    if refusal is None and not in_place:
        refusal = capacity_refusal(steps, free)
    notes = []
    if any(s.server.volumes for s in steps):
        notes.append(
            "volumes are re-attached by Nova's rebuild; their attachments are "
            "checked after each instance is ACTIVE"
        )
    return Plan(host, in_place, service, steps, tuple(free), refusal, tuple(notes))


def build_plan(conn: Any, host: str, in_place: bool) -> Plan:
    services = compute_services(conn)
    servers = servers_on(conn, host)
    targets = [
        s.host
        for s in services
        if s.host != host and s.state == "up" and s.status == "enabled" and not s.forced_down
    ]
    free = capacities(conn, targets) if targets and not in_place else ()
    return make_plan(host, in_place, services, servers, free)


# --- applying ----------------------------------------------------------------------------------


def _act(conn: Any, step: Step) -> None:
    body = {"evacuate": {}} if step.action == "evacuate" else {"reboot": {"type": "HARD"}}
    version = cloud.EVACUATE_VERSION if step.action == "evacuate" else cloud.LIST_VERSION
    cloud.request(
        conn,
        "compute",
        "POST",
        f"/servers/{step.server.id}/action",
        json=body,
        microversion=version,
    )


def settled(server: Server, step: Step, from_host: str) -> bool | None:
    """True when recovered, False when failed, None while still under way. Nova marks the
    instance (task state) before it answers the evacuate or reboot request, so an instance with
    no task state that is still on HOST after an evacuation is one Nova gave up on (no valid
    host): it keeps its state and a failed migration. A stopped instance comes back stopped."""
    if server.status == "ERROR":
        return False
    if server.task_state:
        return None
    if step.action == "evacuate" and server.host == from_host:
        return False
    wanted = (
        "SHUTOFF" if step.server.status == "SHUTOFF" and step.action == "evacuate" else "ACTIVE"
    )
    return True if server.status == wanted else None


def recover_one(
    conn: Any,
    step: Step,
    from_host: str,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
) -> Outcome:
    started = clock()
    server = step.server
    try:
        _act(conn, step)
        while clock() - started < timeout:
            time.sleep(POLL)
            server = _server(conn, step.server.id)
            done = settled(server, step, from_host)
            if done is False and not server.fault and step.action == "evacuate":
                return _outcome(step, server, False, clock() - started, _why(conn, server))
            if done is not None:
                return _outcome(step, server, done, clock() - started)
        return _outcome(
            step,
            server,
            False,
            clock() - started,
            f"not ACTIVE within {timeout:g} s ({server.status})",
        )
    except cloud.CloudError as exc:
        return _outcome(step, server, False, clock() - started, str(exc))


def _server(conn: Any, server_id: str) -> Server:
    body = cloud.request(
        conn, "compute", "GET", f"/servers/{server_id}", microversion=cloud.LIST_VERSION
    )
    return cloud.read(parse_one_server, body)  # type: ignore[no-any-return]


def _why(conn: Any, server: Server) -> str:
    """Why Nova gave up an evacuation that left no fault: its migration record's status."""
    try:
        body = cloud.request(
            conn,
            "compute",
            "GET",
            f"/os-migrations?instance_uuid={server.id}&migration_type=evacuation",
            microversion="2.59",
        )
        migrations = cloud.read(parse_migrations, body)
    except cloud.CloudError as exc:
        return f"evacuation not done, still on {server.host} ({exc})"
    latest = migrations[0] if migrations else "unknown"
    return (
        f"evacuation {latest}, still on {server.host} ({server.status}; see nova-conductor's log)"
    )


def _outcome(step: Step, server: Server, ok: bool, seconds: float, detail: str = "") -> Outcome:
    if not ok and not detail:
        detail = server.fault or f"ended {server.status} on {server.host}"
    return Outcome(
        server.id,
        server.name,
        step.action,
        ok,
        server.status,
        server.host,
        round(seconds, 2),
        detail,
        server.volumes,
    )


def apply_plan(conn: Any, plan: Plan, parallel: int, timeout: float) -> list[Outcome]:
    if plan.refusal:
        raise Refused(plan.refusal)
    steps = plan.actions
    if not steps:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(steps)))) as pool:
        return list(pool.map(lambda s: recover_one(conn, s, plan.host, timeout), steps))


def report(
    plan: Plan, outcomes: Sequence[Outcome], cloud_name: str, started: float
) -> dict[str, Any]:
    return {
        "cloud": cloud_name,
        "host": plan.host,
        "mode": "in-place" if plan.in_place else "evacuate",
        "started": started,
        "recovered": [asdict(o) for o in outcomes if o.ok],
        "failed": [asdict(o) for o in outcomes if not o.ok],
        "skipped": [
            {"id": s.server.id, "name": s.server.name, "why": s.why}
            for s in plan.steps
            if s.action == "skip"
        ],
        "notes": list(plan.notes),
    }
