"""drbd-lvm: DRBD replication state, and LVM cluster locking over dual-primary resources.

Two hosts that both write one DRBD device (dual primary) corrupt the LVM metadata on it unless
LVM takes a cluster lock: clvmd with ``locking_type = 3`` on old systems, lvmlockd with a
shared (dlm or sanlock) volume group today. Split brain, StandAlone and a disk that is not
UpToDate are critical whatever sits on top.
"""

from __future__ import annotations

import re

from stackwatch.core.findings import Findings
from stackwatch.core.host import Host, HostError
from stackwatch.core.record import dataclass, field
from stackwatch.core.registry import Check, CheckContext, NotApplicable
from stackwatch.core.result import Metric, Result, Status
from stackwatch.drbd.parse import (
    DrbdParseError,
    LvmConfig,
    Resource,
    VolumeGroup,
    parse_drbdsetup_show,
    parse_drbdsetup_status_json,
    parse_lvmconfig,
    parse_proc_drbd,
    parse_vgs_json,
)

PROC_DRBD = "/proc/drbd"
LVMCONFIG = ("lvmconfig", "--type", "full", "global/locking_type", "global/use_lvmlockd")
VGS = ("vgs", "--reportformat", "json", "-o", "vg_name,vg_attr,vg_lock_type,pv_name")
CONNECTED = frozenset({"Connected", "Established"})
CLUSTER_LOCKS = frozenset({"dlm", "sanlock"})

HINT_LOCKING = (
    "put volume group {vg} under cluster locking before both nodes write it: use_lvmlockd = 1 "
    "in lvm.conf, lvmlockd and dlm running on both nodes, vgchange --lock-type dlm {vg} (old "
    "systems: locking_type = 3 with clvmd, vgchange -cy {vg}); or remove allow-two-primaries "
    "from resource {res} and keep one Primary"
)
HINT_SPLIT = (
    "resolve the split brain of {res}: on the node whose changes are lost, drbdadm secondary "
    "{res}; drbdadm connect --discard-my-data {res}; on the other, drbdadm connect {res}"
)
HINT_DISK = "see why the disk of {res} is {disk}: drbdadm status {res}, the lower device, dmesg"
HINT_PEER = "find why {res} is not connected to {peer}: network, drbdadm connect {res}"


@dataclass(frozen=True)
class DrbdFacts:
    source: str  # where the resources came from
    resources: tuple[Resource, ...]
    lvm: LvmConfig | None  # None: lvmconfig not available
    vgs: tuple[VolumeGroup, ...] | None  # None: vgs not available
    notes: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class DrbdOptions:
    commands: bool = True  # run drbdsetup, lvmconfig and vgs (live host only; needs root)


def _run_optional(host: Host, argv: tuple[str, ...], notes: list[str]) -> str | None:
    if not host.is_live or host.which(argv[0]) is None:
        return None
    try:
        return host.run(argv).stdout
    except HostError as exc:
        notes.append(f"{argv[0]}: {exc}")
        return None


def _resources(host: Host, notes: list[str], commands: bool) -> tuple[str, tuple[Resource, ...]]:
    status = _run_optional(host, ("drbdsetup", "status", "--json"), notes) if commands else None
    if status is not None:
        resources = parse_drbdsetup_status_json(status)
        show = _run_optional(host, ("drbdsetup", "show"), notes) or ""
        return "drbdsetup status --json", _with_allowed(resources, parse_drbdsetup_show(show))
    proc = host.read_optional(PROC_DRBD)
    if proc is None:
        raise NotApplicable("no DRBD here (no /proc/drbd, no drbdsetup)")
    return PROC_DRBD, parse_proc_drbd(proc)


def _with_allowed(
    resources: tuple[Resource, ...], allowed: dict[str, bool]
) -> tuple[Resource, ...]:
    from stackwatch.core.record import replace

    return tuple(replace(r, two_primaries_allowed=allowed.get(r.name)) for r in resources)


def collect(ctx: CheckContext[DrbdOptions]) -> DrbdFacts:
    notes: list[str] = []
    commands = ctx.options.commands
    source, resources = _resources(ctx.host, notes, commands)
    lvm_text = _run_optional(ctx.host, LVMCONFIG, notes) if commands else None
    vgs_text = _run_optional(ctx.host, VGS, notes) if commands else None
    return DrbdFacts(
        source,
        resources,
        parse_lvmconfig(lvm_text) if lvm_text is not None else None,
        parse_vgs_json(vgs_text) if vgs_text is not None else None,
        tuple(notes),
    )


_MINOR_DEVICE = re.compile(r"^/dev/drbd(\d+)$")
_BY_RES = re.compile(r"^/dev/drbd/by-res/([^/]+)(?:/\d+)?$")


def on_resource(pv: str, resource: Resource) -> bool:
    """Whether a physical volume's device is one of the resource's DRBD devices."""
    minor = _MINOR_DEVICE.match(pv)
    if minor:
        return int(minor[1]) in resource.minors
    by_res = _BY_RES.match(pv)
    return by_res is not None and by_res[1] == resource.name


def cluster_locked(vg: VolumeGroup, lvm: LvmConfig) -> bool:
    """Whether both nodes would take a cluster lock before changing this VG's metadata."""
    if vg.lock_type in CLUSTER_LOCKS:
        return lvm.use_lvmlockd
    return vg.clustered and lvm.locking_type == 3


def _judge_states(found: Findings, res: Resource) -> None:
    if res.disk != "UpToDate":
        found.problem(
            Status.CRITICAL,
            f"{res.name}: disk {res.disk}",
            HINT_DISK.format(res=res.name, disk=res.disk),
        )
    for peer in res.peers:
        where = f"{res.name} to {peer.name}"
        if peer.connection == "StandAlone":
            found.problem(
                Status.CRITICAL,
                f"{where}: StandAlone (split brain or disconnected)",
                HINT_SPLIT.format(res=res.name),
            )
        elif peer.connection not in CONNECTED:
            found.problem(
                Status.WARNING,
                f"{where}: {peer.connection}",
                HINT_PEER.format(res=res.name, peer=peer.name),
            )
        elif peer.disk != "UpToDate":
            found.problem(
                Status.CRITICAL,
                f"{where}: peer disk {peer.disk}",
                HINT_DISK.format(res=res.name, disk=peer.disk),
            )


def _judge_locking(found: Findings, res: Resource, facts: DrbdFacts) -> None:
    may_be_dual = res.dual_primary or bool(res.two_primaries_allowed)
    if not may_be_dual:
        return
    if facts.vgs is None or facts.lvm is None:
        found.problem(
            Status.WARNING,
            f"{res.name}: dual primary, LVM not readable here (lvmconfig/vgs missing or failed)",
        )
        return
    for vg in facts.vgs:
        if not any(on_resource(pv, res) for pv in vg.pvs) or cluster_locked(vg, facts.lvm):
            continue
        status, now = (
            (Status.CRITICAL, "dual primary")
            if res.dual_primary
            else (Status.WARNING, "allows two primaries")
        )
        found.problem(
            status,
            f"{res.name}: {now} under VG {vg.name} without cluster locking",
            HINT_LOCKING.format(vg=vg.name, res=res.name),
        )


def _describe(res: Resource) -> str:
    peers = ", ".join(f"{p.name} {p.connection} {p.role}/{p.disk}" for p in res.peers)
    return f"{res.name}: {res.role}/{res.disk}; peers: {peers or 'none'}"


def judge(facts: DrbdFacts, options: DrbdOptions) -> Result:
    found = Findings()
    for res in facts.resources:
        _judge_states(found, res)
        _judge_locking(found, res, facts)
        found.details.append(_describe(res))
    found.details.append(f"source: {facts.source}")
    found.details.extend(facts.notes)
    dual = sum(1 for r in facts.resources if r.dual_primary)
    found.metrics.extend(
        [Metric("resources", len(facts.resources), min=0), Metric("dual_primary", dual, min=0)]
    )
    all_well = f"{len(facts.resources)} DRBD resources UpToDate and connected"
    if dual:
        all_well += f", {dual} dual primary under cluster locking"
    return found.result("drbd-lvm", all_well)


CHECK = Check(
    "drbd-lvm",
    "DRBD connection, roles and disks; LVM cluster locking over dual-primary resources",
    collect,
    judge,
    DrbdOptions,
)

__all__ = ["CHECK", "DrbdFacts", "DrbdOptions", "DrbdParseError", "collect", "judge"]
