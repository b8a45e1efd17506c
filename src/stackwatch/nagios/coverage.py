"""Coverage: hosts whose role requires a service (a gap found in an incident, added to the role's
template set) that the configuration of their environment lacks.

A host's roles are its host groups that have a template set; the services it has are those
defined for it by name or for one of its host groups. Templates (``register 0``) are not hosts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from stackwatch.core.record import dataclass
from stackwatch.nagios.generate import RoleTemplate
from stackwatch.nagios.objects import Definition, hostgroups_of


@dataclass(frozen=True)
class Gap:
    environment: str
    host: str
    role: str
    service: str
    where: str  # file:line of the host's definition


def gaps(
    environment: str, definitions: Iterable[Definition], roles: Mapping[str, RoleTemplate]
) -> tuple[list[Gap], int]:
    """The missing services of one environment's configuration, and how many hosts it has."""
    definitions = list(definitions)
    groups = hostgroups_of(definitions)
    hosts = {
        d.attrs["host_name"]: d
        for d in definitions
        if d.kind == "host" and "host_name" in d.attrs and d.attrs.get("register") != "0"
    }
    by_host, by_group = _services(definitions)
    found = []
    for name in sorted(hosts):
        mine = groups.get(name, ())
        present = set(by_host.get(name, ())) | {s for g in mine for s in by_group.get(g, ())}
        for role in (g for g in mine if g in roles):
            for service in roles[role].services:
                if service.name not in present:
                    where = f"{hosts[name].file}:{hosts[name].line}"
                    found.append(Gap(environment, name, role, service.name, where))
    return found, len(hosts)


def _services(definitions: list[Definition]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    by_host: dict[str, set[str]] = {}
    by_group: dict[str, set[str]] = {}
    for d in definitions:
        if d.kind != "service" or d.attrs.get("register") == "0":
            continue
        description = d.attrs.get("service_description", "")
        for host in d.names("host_name"):
            by_host.setdefault(host, set()).add(description)
        for group in d.names("hostgroup_name"):
            by_group.setdefault(group, set()).add(description)
    return by_host, by_group
