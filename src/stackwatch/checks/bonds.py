"""Bonds as the bonding driver sees them: its members, each member's link, and their judgement.

The driver's view is the truth about a bond: /proc/net/bonding/BOND, or where that file is absent,
the driver's sysfs attributes (bonding/slaves, and each member's bonding_slave/mii_status under
BOND/lower_MEMBER, BOND/slave_MEMBER on older kernels, or MEMBER itself). Whether a member has an
entry of its own under /sys/class/net says nothing about its link: a captured tree may lack it,
and a member the driver calls up carries traffic. A member whose state cannot be read is said as
such (UNKNOWN, with the path), never counted as dead or alive.
"""

from __future__ import annotations

from stackwatch.checks.sysfs import parse_int, read_attr, read_int_attr
from stackwatch.core.host import Host, HostError
from stackwatch.core.record import dataclass
from stackwatch.core.result import Status

NET = "/sys/class/net"
LIVE_STATES = frozenset({"up"})
# The bonding driver's words for a link that carries no traffic (bond_slave_link_status()).
DEAD_STATES = frozenset({"down", "going down", "going back"})


class BondParseError(ValueError):
    pass


@dataclass(frozen=True)
class BondMember:
    name: str
    mii_status: str  # the driver's word: "up", "down", "going down", ...; "unknown" unread
    speed_mbps: int | None = None
    link_failures: int | None = None
    aggregator_id: str | None = None
    source: str = ""  # where the state came from when not from the bonding driver itself
    unreadable: str | None = None  # why the state could not be read (paths and errors)


@dataclass(frozen=True)
class BondStatus:
    name: str
    mode: str = ""
    mii_status: str = ""
    active_member: str | None = None
    active_aggregator: str | None = None
    members: tuple[BondMember, ...] = ()
    unreadable: str | None = None  # why the member list itself could not be read


# /proc/net/bonding ------------------------------------------------------------------------------


def _bonding_sections(text: str) -> tuple[dict[str, str], dict[str, str], list[dict[str, str]]]:
    """The ``key: value`` lines of /proc/net/bonding/NAME by section: the bond's own and the
    active aggregator's (a repeated key: the last one counts), and each member's (the first one
    counts: the actor and partner LACP details under a member reuse the same keys)."""
    bond: dict[str, str] = {}
    aggregator: dict[str, str] = {}
    members: list[dict[str, str]] = []
    current, first_wins = bond, False
    for raw in text.splitlines():
        line = raw.strip()
        key, sep, value = line.partition(":")
        if not sep:
            if line.lower().startswith("active aggregator info"):
                current, first_wins = aggregator, False
            continue
        key, value = key.strip(), value.strip()
        if key == "Slave Interface":
            members.append({"name": value})
            current, first_wins = members[-1], True
        elif key == "Active Aggregator Info":
            current, first_wins = aggregator, False
        elif first_wins:
            current.setdefault(key, value)
        else:
            current[key] = value
    return bond, aggregator, members


def _bond_member(fields: dict[str, str]) -> BondMember:
    state = fields.get("MII Status")
    return BondMember(
        name=fields["name"],
        mii_status=state or "unknown",
        speed_mbps=parse_int(fields.get("Speed", "").split(" ")[0]),
        link_failures=parse_int(fields.get("Link Failure Count")),
        aggregator_id=fields.get("Aggregator ID"),
        unreadable=None if state else f"no MII Status for {fields['name']} in /proc/net/bonding",
    )


def parse_proc_bonding(name: str, text: str) -> BondStatus:
    """The bond and its members from /proc/net/bonding/NAME."""
    bond, aggregator, members = _bonding_sections(text)
    mode = bond.get("Bonding Mode", "")
    mii = bond.get("MII Status", "")
    if not mode and not members and not mii:
        raise BondParseError(f"/proc/net/bonding/{name}: not a bonding status file")
    active = bond.get("Currently Active Slave")
    return BondStatus(
        name=name,
        mode=mode,
        mii_status=mii,
        active_member=active if active and active != "None" else None,
        active_aggregator=aggregator.get("Aggregator ID"),
        members=tuple(_bond_member(m) for m in members),
    )


# sysfs ------------------------------------------------------------------------------------------


def _speed(host: Host, directory: str) -> int | None:
    speed = read_int_attr(host, f"{directory}/speed")
    return speed if speed is not None and speed > 0 else None


def _own_link(host: Host, member: str) -> str | None:
    """The member's own link state (carrier, else operstate): only where the driver's view of
    it cannot be found at all (kernels older than 3.13 have no bonding_slave attributes)."""
    carrier = read_int_attr(host, f"{NET}/{member}/carrier")
    if carrier in (0, 1):
        return "up" if carrier == 1 else "down"
    operstate = read_attr(host, f"{NET}/{member}/operstate")
    return operstate if operstate in ("up", "down") else None


def read_member(host: Host, bond: str, member: str) -> BondMember:
    """One member as the bond sees it: the first bonding_slave/mii_status found under the bond's
    lower_MEMBER or slave_MEMBER link, or the member's own entry."""
    errors: list[str] = []
    for directory in (f"{NET}/{bond}/lower_{member}", f"{NET}/{bond}/slave_{member}"):
        found = _mii_status(host, directory, errors)
        if found:
            return BondMember(member, found, _speed(host, directory))
    own = f"{NET}/{member}"
    found = _mii_status(host, own, errors)
    if found:
        return BondMember(member, found, _speed(host, own))
    link = _own_link(host, member)
    if link is not None:
        return BondMember(member, link, _speed(host, own), source="its own carrier")
    why = "; ".join(errors) or (
        f"no {NET}/{bond}/lower_{member}/bonding_slave/mii_status (nor slave_{member}) and no "
        f"carrier under {own}"
    )
    return BondMember(member, "unknown", unreadable=why)


def _mii_status(host: Host, directory: str, errors: list[str]) -> str | None:
    path = f"{directory}/bonding_slave/mii_status"
    try:
        text = host.read_optional(path)
    except HostError as exc:
        errors.append(str(exc))
        return None
    return text.strip() if text and text.strip() else None


def read_bond_from_sysfs(host: Host, name: str) -> BondStatus:
    """Where /proc/net/bonding is absent: the members sysfs lists, each as the bond sees it."""
    mode = (read_attr(host, f"{NET}/{name}/bonding/mode") or "").split(" ")[0]
    state = read_attr(host, f"{NET}/{name}/operstate") or ""
    path = f"{NET}/{name}/bonding/slaves"
    try:
        listed = host.read_optional(path)
    except HostError as exc:
        return BondStatus(name, mode, state, unreadable=str(exc))
    if listed is None:
        return BondStatus(name, mode, state, unreadable=f"no {path}")
    members = tuple(read_member(host, name, member) for member in listed.split())
    return BondStatus(name, mode, state, members=members)


def read_bond(host: Host, name: str) -> BondStatus:
    """The bond from /proc/net/bonding/NAME, else from the bonding driver's sysfs attributes."""
    text = read_attr(host, f"/proc/net/bonding/{name}")
    if text:
        try:
            return parse_proc_bonding(name, text)
        except BondParseError:
            pass
    return read_bond_from_sysfs(host, name)


# Judgement --------------------------------------------------------------------------------------


def member_state(member: BondMember, bond: BondStatus) -> tuple[str, str]:
    """ "live", "dead" or "unknown", and why where not live."""
    if member.unreadable is not None:
        return "unknown", f"state of member {member.name} cannot be read ({member.unreadable})"
    if member.mii_status in DEAD_STATES:
        return "dead", f"member {member.name} is {member.mii_status}"
    if member.mii_status not in LIVE_STATES:
        return "unknown", f"the driver reports member {member.name} as {member.mii_status!r}"
    if (
        "802.3ad" in bond.mode
        and bond.active_aggregator is not None
        and member.aggregator_id is not None
        and member.aggregator_id != bond.active_aggregator
    ):
        return "dead", (
            f"member {member.name} is up but outside the active LACP aggregator "
            f"({member.aggregator_id} vs {bond.active_aggregator}): the switch did not join it"
        )
    return "live", ""


def live_members(bond: BondStatus) -> int:
    return sum(1 for m in bond.members if member_state(m, bond)[0] == "live")


def bond_problems(bond: BondStatus) -> list[tuple[Status, str]]:
    """What is wrong with the bond: no members, no live member, dead members (WARNING: the bond
    has no redundancy left), members whose state cannot be read (UNKNOWN)."""
    if bond.unreadable is not None:
        return [(Status.UNKNOWN, f"bond {bond.name}: members cannot be read ({bond.unreadable})")]
    if not bond.members:
        return [(Status.CRITICAL, f"bond {bond.name} has no members")]
    states = [member_state(m, bond) for m in bond.members]
    dead = [why for state, why in states if state == "dead"]
    unknown = [why for state, why in states if state == "unknown"]
    problems: list[tuple[Status, str]] = []
    if dead and len(dead) == len(states):
        problems.append((Status.CRITICAL, f"bond {bond.name}: no live member ({'; '.join(dead)})"))
    elif dead:
        problems.append((Status.WARNING, f"bond {bond.name}: {'; '.join(dead)}"))
    if unknown:
        problems.append((Status.UNKNOWN, f"bond {bond.name}: {'; '.join(unknown)}"))
    return problems


def member_details(bond: BondStatus) -> list[str]:
    details = []
    for member in bond.members:
        failures = f", {member.link_failures} link failures" if member.link_failures else ""
        speed = f", {member.speed_mbps} Mb/s" if member.speed_mbps else ""
        source = ""
        if member.source:
            source = f" (from {member.source}: the bond's view of it is absent)"
        details.append(
            f"bond {bond.name}: member {member.name} {member.mii_status}{speed}{failures}{source}"
        )
    return details
