"""ovs-managers, ovs-controllers and ovs-bridges: what OVSDB says about the switch's peers and
its bridge layout.

A hypervisor whose Open vSwitch lost its manager or its OpenFlow controller keeps forwarding with
the flows it has, but new ports get no flows: guests started after that have no network. An
active target (tcp:, ssl:, unix:) that is not connected is CRITICAL; a passive one (ptcp:, pssl:,
punix:) waits for its peer, so its connection count is reported instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from stackwatch.core.findings import Findings
from stackwatch.core.record import dataclass, field
from stackwatch.core.registry import Check, CheckContext, NoOptions, NotApplicable
from stackwatch.core.result import Metric, Result, Status
from stackwatch.ovs.rows import boolean, each, opt_str, refs, str_map, string, uuid_of
from stackwatch.ovs.settings import DEFAULT_DB, OvsSettings, ovs_settings

if TYPE_CHECKING:
    from stackwatch.core.host import Host
    from stackwatch.ovs.layout import Layout
    from stackwatch.ovs.live import LiveSwitch

PASSIVE_PREFIXES = ("ptcp:", "pssl:", "punix:")
VSWITCHD_PATHS = ("/usr/sbin/ovs-vswitchd", "/usr/bin/ovs-vswitchd", "/usr/local/sbin/ovs-vswitchd")


@dataclass(frozen=True)
class OvsBridgesOptions:
    """``[checks.ovs-bridges]``: how drift is judged. Where the switch and its layout are (db,
    timeout, layout, netns) is ``[ovs]``, OvsSettings, which the ovs commands read too; the
    manager and controller checks have no options of their own."""

    critical_on_drift: bool = False  # drift is WARNING unless set; a missing bridge is CRITICAL
    # a declared address nothing sets again after a reboot: a detail line (note) or a problem
    reboot_loss: Literal["note", "warning", "critical"] = "note"


@dataclass(frozen=True)
class Target:
    """One Manager or Controller row and its status map."""

    target: str
    is_connected: bool
    state: str | None = None
    last_error: str | None = None
    sec_since_connect: int | None = None
    sec_since_disconnect: int | None = None
    role: str | None = None
    n_connections: int | None = None
    bridge: str | None = None  # controllers only

    @property
    def passive(self) -> bool:
        return self.target.startswith(PASSIVE_PREFIXES)


@dataclass(frozen=True)
class TargetFacts:
    kind: str  # "manager" or "controller"
    targets: tuple[Target, ...]
    db: str
    notes: tuple[str, ...] = field(default_factory=tuple)


def _int(value: str | None) -> int | None:
    """A number in a status map (strings, as OVSDB keeps them), or None where it is not one."""
    try:
        return int(value) if value is not None and value.isascii() else None
    except ValueError:  # not digits, or thousands of them
        return None


def _target(row: dict[str, Any], bridge_of: dict[str, str]) -> Target:
    status = str_map(row.get("status", ["map", []]), "status")
    role = opt_str(row.get("role", ["set", []]), "role") or status.get("role")
    uuid = uuid_of(row.get("_uuid")) if "_uuid" in row else ""
    return Target(
        target=string(row, "target"),
        is_connected=boolean(row, "is_connected"),
        state=status.get("state"),
        last_error=status.get("last_error"),
        sec_since_connect=_int(status.get("sec_since_connect")),
        sec_since_disconnect=_int(status.get("sec_since_disconnect")),
        role=role or None,
        n_connections=_int(status.get("n_connections")),
        bridge=bridge_of.get(uuid),
    )


def parse_targets(
    rows: list[dict[str, Any]], bridge_of: dict[str, str] | None = None, table: str = "Manager"
) -> list[Target]:
    """Manager or Controller rows (as OVSDB sends them) to Targets (pure); an OvsdbError naming
    the table and row where one is not what the schema says."""
    targets = each(table, rows, lambda row: _target(row, bridge_of or {}))
    return sorted(targets, key=lambda t: (t.bridge or "", t.target))


def _ovs_absent(host: Host, settings: OvsSettings) -> bool:
    """Default socket missing and no ovs-vswitchd installed: not an Open vSwitch host."""
    db = settings.db
    if db != DEFAULT_DB:
        return False
    if host.exists(db[5:]):
        return False
    return not any(host.exists(p) for p in VSWITCHD_PATHS)


def _refuse_absent(host: Host, settings: OvsSettings) -> None:
    if _ovs_absent(host, settings):
        raise NotApplicable("Open vSwitch is not installed here (no ovs-vswitchd, no OVSDB socket)")


def _bridge_of_controllers(bridges: list[dict[str, Any]]) -> dict[str, str]:
    """Controller row uuid -> the name of the bridge it serves."""
    served = each(
        "Bridge",
        bridges,
        lambda row: (string(row, "name"), refs(row.get("controller", ["set", []]), "controller")),
    )
    return {uuid: name for name, controllers in served for uuid in controllers}


def _collect_targets(ctx: CheckContext[NoOptions], kind: str) -> TargetFacts:
    from stackwatch.ovs.ovsdb import OvsdbClient

    settings = ovs_settings(ctx)
    _refuse_absent(ctx.host, settings)
    table = "Manager" if kind == "manager" else "Controller"
    columns = ["target", "is_connected", "status", "role"]
    bridge_of: dict[str, str] = {}
    with OvsdbClient(settings.db, settings.timeout) as client:
        if kind == "controller":
            tables = client.select_many([(table, columns), ("Bridge", ["name", "controller"])])
            bridge_of = _bridge_of_controllers(tables["Bridge"])
            rows = tables[table]
        else:
            rows = client.select(table, columns)
    return TargetFacts(kind, tuple(parse_targets(rows, bridge_of, table)), settings.db)


def collect_managers(ctx: CheckContext[NoOptions]) -> TargetFacts:
    return _collect_targets(ctx, "manager")


def collect_controllers(ctx: CheckContext[NoOptions]) -> TargetFacts:
    return _collect_targets(ctx, "controller")


def _describe(target: Target) -> str:
    where = f"{target.bridge}: " if target.bridge else ""
    if target.passive:
        count = (
            target.n_connections
            if target.n_connections is not None
            else (1 if target.is_connected else 0)
        )
        return f"{where}{target.target} passive, {count} connection(s)"
    parts = [f"{where}{target.target}", "connected" if target.is_connected else "NOT connected"]
    if target.state:
        parts.append(f"state {target.state}")
    if target.role:
        parts.append(f"role {target.role}")
    if target.is_connected and target.sec_since_connect is not None:
        parts.append(f"up {target.sec_since_connect} s")
    if not target.is_connected and target.sec_since_disconnect is not None:
        parts.append(f"down {target.sec_since_disconnect} s")
    if target.last_error:
        parts.append(f"last error: {target.last_error}")
    return ", ".join(parts)


def _connection_count(target: Target) -> int:
    """A passive target's peers (its status map's count, else whether it is connected)."""
    return target.n_connections if target.n_connections is not None else int(target.is_connected)


def _target_metric(target: Target) -> Metric:
    labels = {"target": target.target}
    if target.bridge:
        labels["bridge"] = target.bridge
    if target.passive:
        return Metric("connections", _connection_count(target), min=0, labels=labels)
    return Metric("connected", int(target.is_connected), min=0, max=1, labels=labels)


def _counts(facts: TargetFacts) -> str:
    active = [t for t in facts.targets if not t.passive]
    connected = sum(1 for t in active if t.is_connected)
    summary = f"{connected} of {len(active)} active {facts.kind}s connected"
    passive = len(facts.targets) - len(active)
    if passive:
        summary += f", {passive} passive"
    return summary


def _down_hint(kind: str) -> str:
    what = "new ports get no flows" if kind == "controller" else "Neutron loses its view"
    return (
        f"Open vSwitch runs on but {what}: check that the {kind} at the target is up "
        "and reachable (firewall, its process), then ovs-vsctl "
        + ("get-controller BRIDGE" if kind == "controller" else "get-manager")
    )


def judge_targets(facts: TargetFacts) -> Result:
    name = f"ovs-{facts.kind}s"
    if not facts.targets:
        return Result(name, Status.OK, f"no {facts.kind}s configured")
    findings = Findings(
        metrics=[_target_metric(t) for t in facts.targets],
        details=[*(_describe(t) for t in facts.targets), *facts.notes],
    )
    # a passive target waits for its peer: only an active one that is not connected is down
    down = [t.target for t in facts.targets if not t.passive and not t.is_connected]
    if down:
        findings.problem(
            Status.CRITICAL,
            f"{facts.kind} {', '.join(down)} not connected; {_counts(facts)}",
            _down_hint(facts.kind),
        )
    return findings.result(name, _counts(facts))


def judge_managers(facts: TargetFacts, options: NoOptions) -> Result:
    return judge_targets(facts)


def judge_controllers(facts: TargetFacts, options: NoOptions) -> Result:
    return judge_targets(facts)


# ovs-bridges ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BridgeFacts:
    layout: str
    differences: tuple[str, ...]
    missing_bridges: tuple[str, ...]
    bridges: int
    ports: int
    notes: tuple[str, ...] = ()  # what was not compared, and why (not differences)
    lost_at_reboot: tuple[str, ...] = ()  # declared addresses nothing sets again at boot
    pending_apply: str | None = None  # an apply --confirm that waits, or was left behind
    pending_status: Status = Status.OK  # how much that weighs (a dead watchdog: WARNING)


def compare_layout(
    layout: Layout, live: LiveSwitch, host: Host | None = None, netns: str | None = None
) -> BridgeFacts:
    """The layout against the switch; with ``host``, internal ports' addresses on their devices
    too (only for ports that exist: a missing port is reported once, as a port).

    The devices are read with ip(8), which sees only the running machine: on a captured tree
    (``--root``) they are not compared, and a note says so, rather than judging the captured
    switch by this machine's devices.
    """
    from stackwatch.ovs.address import declared_addresses, plan_devices
    from stackwatch.ovs.plan import verify_differences

    differences = verify_differences(layout, live)
    notes: tuple[str, ...] = ()
    if host is not None and not host.is_live and declared_addresses(layout):
        notes = (
            f"addresses of internal ports not compared: {host.root} is a captured tree, and "
            "ip(8) would read this machine's devices instead",
        )
    elif host is not None:
        existing = {p.name for b in live.bridges for p in b.ports}
        declared = frozenset(p.name for b in layout.bridges for p in b.ports)
        differences += [
            str(c)
            for c in plan_devices(layout, host, netns, declared - existing)
            if not c.new_device
        ]
    missing = tuple(b.name for b in layout.bridges if live.bridge(b.name) is None)
    return BridgeFacts(
        layout.source,
        tuple(differences),
        missing,
        len(live.bridges),
        sum(len(b.user_ports) for b in live.bridges),
        notes,
        _lost_at_reboot(layout, host),
    )


def _lost_at_reboot(layout: Layout, host: Host | None) -> tuple[str, ...]:
    """Declared addresses that would not come back after a reboot, from the files under the
    host's root; nothing where the root has neither /etc/systemd nor /etc/network (a tree that
    does not say how the host configures its network is not judged on it)."""
    from stackwatch.ovs.persist import lost_at_reboot, read_persistence

    if host is None or not any(host.is_dir(d) for d in ("/etc/systemd", "/etc/network")):
        return ()
    return tuple(lost_at_reboot(layout, read_persistence(host)))


def collect_bridges(ctx: CheckContext[OvsBridgesOptions]) -> BridgeFacts:
    from stackwatch.core.host import Host, HostError
    from stackwatch.ovs.layout import LayoutError, load_layout
    from stackwatch.ovs.live import read_live
    from stackwatch.ovs.ovsdb import OvsdbClient

    settings = ovs_settings(ctx)
    if settings.layout is None:
        raise NotApplicable("no layout file configured ([ovs] layout)")
    _refuse_absent(ctx.host, settings)
    try:
        # the layout is configuration: read from this machine, also with --root
        layout = load_layout(settings.layout, Host())
    except LayoutError as exc:
        raise HostError(str(exc)) from None
    with OvsdbClient(settings.db, settings.timeout) as client:
        live = read_live(client)
    facts = compare_layout(layout, live, ctx.host, settings.netns)
    return _with_pending_apply(facts, ctx.state.store.directory)


def _with_pending_apply(facts: BridgeFacts, state_dir: str) -> BridgeFacts:
    """The facts with what an ``ovs apply --confirm`` left in the state directory: one waiting
    is a note; one whose watchdog died (nothing will roll it back, nobody confirmed it) is a
    WARNING; one whose rollback failed is CRITICAL (the host may be cut off from its network)."""
    from stackwatch.core import record
    from stackwatch.core.host import HostError
    from stackwatch.ovs.confirm import ConfirmState, Kind, describe

    state = ConfirmState(state_dir)
    try:
        status = state.status()
    except HostError as exc:
        line = f"cannot read what ovs apply --confirm keeps in {state_dir}: {exc}"
        return record.replace(facts, notes=(*facts.notes, line))
    if status.kind is Kind.NONE:
        return facts
    weight = {Kind.STALE: Status.WARNING, Kind.FAILED: Status.CRITICAL}
    return record.replace(
        facts,
        pending_apply=describe(status, state),
        pending_status=weight.get(status.kind, Status.OK),
    )


def _reboot_findings(facts: BridgeFacts, options: OvsBridgesOptions) -> tuple[Status, str | None]:
    """The status the addresses lost at a reboot weigh (OK where they are only a note), and
    the hint that says how to keep them."""
    from stackwatch.ovs.persist import reboot_hint

    if not facts.lost_at_reboot:
        return Status.OK, None
    weight = {"note": Status.OK, "warning": Status.WARNING, "critical": Status.CRITICAL}
    return weight[options.reboot_loss], reboot_hint()


def _pending_summary(facts: BridgeFacts) -> str:
    if not facts.pending_apply:
        return ""
    if facts.pending_status is Status.OK:
        return "; an apply --confirm waits for confirmation"
    return "; an apply --confirm was left behind"


def judge_bridges(facts: BridgeFacts, options: OvsBridgesOptions) -> Result:
    metrics = (
        Metric("differences", len(facts.differences), min=0),
        Metric("bridges", facts.bridges, min=0),
        Metric("ports", facts.ports, min=0),
    )
    reboot_status, reboot_hint = _reboot_findings(facts, options)
    pending = (facts.pending_apply,) if facts.pending_apply else ()
    if facts.pending_status is not Status.OK:
        reboot_status = max(reboot_status, facts.pending_status)
    if not facts.differences:
        summary = f"{facts.bridges} bridges, {facts.ports} ports match {facts.layout}"
        if facts.lost_at_reboot:
            summary += f"; {len(facts.lost_at_reboot)} addresses would not survive a reboot"
        summary += _pending_summary(facts)
        return Result(
            "ovs-bridges",
            reboot_status,
            summary,
            metrics,
            pending + facts.notes + facts.lost_at_reboot,
            reboot_hint,
        )
    status = (
        Status.CRITICAL if facts.missing_bridges or options.critical_on_drift else Status.WARNING
    )
    summary = f"{len(facts.differences)} differences from {facts.layout}"
    if facts.missing_bridges:
        summary += "; missing bridge " + ", ".join(facts.missing_bridges)
    hint = (
        f"review with stackwatch ovs plan {facts.layout}, then stackwatch ovs apply "
        f"{facts.layout} (add --prune to remove what stackwatch created and no longer declares)"
    )
    if reboot_hint:
        hint += f"; addresses lost at a reboot: {reboot_hint}"
    summary += _pending_summary(facts)
    details = pending + facts.differences + facts.notes + facts.lost_at_reboot
    return Result("ovs-bridges", max(status, reboot_status), summary, metrics, details, hint)


CHECKS = [
    Check(
        "ovs-managers",
        "Open vSwitch managers (OVSDB) connected",
        collect_managers,
        judge_managers,
    ),
    Check(
        "ovs-controllers",
        "Open vSwitch OpenFlow controllers connected, per bridge",
        collect_controllers,
        judge_controllers,
    ),
    Check(
        "ovs-bridges",
        "Open vSwitch bridges and ports match the declared layout file",
        collect_bridges,
        judge_bridges,
        OvsBridgesOptions,
    ),
]
