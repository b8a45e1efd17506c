"""The console plumbing probe: for each canary (one per cell or availability zone), ask nova-api
for a console URL and time it (nova-api -> compute RPC -> the compute host, which writes the
console auth token), then open the URL at the console proxy and see the token accepted.

Facts only: what each step took and which step broke. The judgement is in check.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from stackwatch.core.record import dataclass
from stackwatch.nova import cloud
from stackwatch.nova.answers import Server, parse_console, parse_one_server, parse_servers
from stackwatch.nova.settings import NovaSettings

PROTOCOLS = {"novnc": "vnc", "xvpvnc": "vnc", "spice-html5": "spice", "serial": "serial"}
REFUSED = "token refused, or the console behind it unreachable"
STEPS = ("API", "compute RPC", "console auth", "proxy")


@dataclass(frozen=True)
class Probe:
    """One canary probed: how long the console URL took, and where it broke (if it did)."""

    cloud: str
    zone: str
    server: str  # name (or id) of the canary
    seconds: float | None = None  # the console URL request, where it was made
    proxy_seconds: float | None = None  # the proxy's acceptance of the token, where checked
    step: str | None = None  # the step that failed: one of STEPS
    error: str | None = None
    unknown: bool = False  # no answer to judge (configuration, an answer of the wrong shape)


@dataclass(frozen=True)
class Canary:
    zone: str
    server: Server | None
    error: str | None = None  # why there is none


def find_canaries(conn: Any, settings: NovaSettings) -> list[Canary]:
    """The configured canary of each zone, or else the oldest ACTIVE server tagged
    ``canary_tag`` in each availability zone."""
    named = settings.canary_map()
    if named:
        return [_named_canary(conn, zone, server) for zone, server in sorted(named.items())]
    body = cloud.request(
        conn,
        "compute",
        "GET",
        f"/servers/detail?all_tenants=1&status=ACTIVE&tags={quote(settings.canary_tag)}",
        microversion=cloud.LIST_VERSION,
    )
    return oldest_per_zone(cloud.read(parse_servers, body))


def oldest_per_zone(servers: Iterable[Server]) -> list[Canary]:
    """One canary per availability zone: the oldest ACTIVE server of it (ids break ties)."""
    oldest: dict[str, Server] = {}
    for server in servers:
        if server.status != "ACTIVE":
            continue
        zone = server.zone or "(no zone)"
        if zone not in oldest or (server.created, server.id) < (
            oldest[zone].created,
            oldest[zone].id,
        ):
            oldest[zone] = server
    return [Canary(zone, oldest[zone]) for zone in sorted(oldest)]


def _named_canary(conn: Any, zone: str, name_or_id: str) -> Canary:
    try:
        body = cloud.request(
            conn,
            "compute",
            "GET",
            f"/servers/{quote(name_or_id, safe='')}",
            microversion=cloud.LIST_VERSION,
        )
        return Canary(zone, cloud.read(parse_one_server, body))
    except cloud.CloudError as exc:
        if exc.status != 404:
            raise
    body = cloud.request(
        conn,
        "compute",
        "GET",
        f"/servers/detail?all_tenants=1&name=^{quote(name_or_id)}$",
        microversion=cloud.LIST_VERSION,
    )
    found = [s for s in cloud.read(parse_servers, body) if s.name == name_or_id]
    if len(found) != 1:
        what = "no server" if not found else f"{len(found)} servers"
        return Canary(zone, None, f"{what} named {name_or_id!r}")
    return Canary(zone, found[0])


def probe_canary(conn: Any, cloud_name: str, canary: Canary, settings: NovaSettings) -> Probe:
    """Time the console URL of one canary, then (where configured) its proxy."""
    if canary.server is None:
        # a canary that is not there: nothing was probed (the configuration to fix), UNKNOWN
        return Probe(cloud_name, canary.zone, "", step="API", error=canary.error, unknown=True)
    server = canary.server
    label = server.name or server.id
    body = {
        "remote_console": {
            "protocol": PROTOCOLS[settings.console_type],
            "type": settings.console_type,
        }
    }
    started = time.monotonic()
    try:
        answer = cloud.request(
            conn,
            "compute",
            "POST",
            f"/servers/{server.id}/remote-consoles",
            json=body,
            microversion=cloud.CONSOLE_VERSION,
        )
        console = cloud.read(parse_console, answer)
    except cloud.CloudError as exc:
        took = time.monotonic() - started
        return Probe(
            cloud_name, canary.zone, label, took, step=exc.step, error=str(exc), unknown=exc.unknown
        )
    took = time.monotonic() - started
    if console.token is None:
        return Probe(
            cloud_name,
            canary.zone,
            label,
            took,
            step="console auth",
            error="the console URL carries no token",
        )
    if not settings.check_proxy:
        return Probe(cloud_name, canary.zone, label, took)
    return _probe_proxy(
        Probe(cloud_name, canary.zone, label, took),
        console.url,
        console.token,
        settings.proxy_timeout,
    )


def _probe_proxy(probe: Probe, url: str, token: str, timeout: float) -> Probe:
    from stackwatch.core.record import replace
    from stackwatch.nova.wsprobe import ProxyError, TokenRefused, probe_proxy

    started = time.monotonic()
    try:
        probe_proxy(url, token, timeout)
    except TokenRefused as exc:
        return replace(
            probe,
            proxy_seconds=time.monotonic() - started,
            step="console auth",
            error=f"{exc} ({REFUSED})",
        )
    except ProxyError as exc:
        return replace(probe, step="proxy", error=str(exc))
    return replace(probe, proxy_seconds=time.monotonic() - started)


def probe_cloud(cloud_name: str, settings: NovaSettings) -> list[Probe]:
    """Every canary of one cloud; a cloud that cannot be reached is one failed probe."""
    try:
        conn = cloud.connect(cloud_name, settings.api_timeout)
        canaries = find_canaries(conn, settings)
    except cloud.CloudError as exc:
        return [Probe(cloud_name, "-", "", step=exc.step, error=str(exc), unknown=exc.unknown)]
    if not canaries:
        missing = f"no ACTIVE server tagged {settings.canary_tag!r} and no canaries set"
        return [Probe(cloud_name, "-", "", step="API", error=missing)]
    return [probe_canary(conn, cloud_name, canary, settings) for canary in canaries]
