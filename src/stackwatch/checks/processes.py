"""processes: the daemons each role of this host needs, counted from /proc.

A hypervisor whose ovs-vswitchd died keeps its running guests' flows for a while and then loses
them; a compute node without nova-compute looks fine until the next boot request fails. Each role
names its daemons (by process name or a command-line pattern) with a minimum and maximum count.
A name is only a claim: a process counts when what the kernel records about it (its executable,
its user) shows it is that daemon (process_identity.py), so no user can stand in for a daemon
that died by starting something under its name.
"""

from __future__ import annotations

import re

from stackwatch.checks.process_identity import Identity, read_identity, resolve_user, verify
from stackwatch.core.config import ConfigError
from stackwatch.core.findings import Findings
from stackwatch.core.host import Host, HostError
from stackwatch.core.record import dataclass, field
from stackwatch.core.registry import Check, CheckContext, NotApplicable
from stackwatch.core.result import Metric, Result, Status

COMM_LENGTH = 15  # the kernel keeps the first 15 bytes of a process name in /proc/PID/comm
PF_KTHREAD = 0x00200000  # include/linux/sched.h: the task is a kernel thread


@dataclass(frozen=True)
class ProcessSpec:
    """One daemon a role needs. ``cmdline`` is a regular expression searched in the command line
    (arguments joined by spaces); without it the process name must equal ``name``."""

    name: str  # process name; several joined by | ("apache2|nginx")
    cmdline: str | None = None  # regular expression on the command line, in place of the name
    min: int = 1  # fewest that must run
    max: int | None = None  # most that may run; unset: no limit
    exe: list[str] = field(default_factory=list)  # executable path patterns; unset: files root owns
    user: str | None = None  # user (name or uid) it must run as; unset: any user

    def __post_init__(self) -> None:
        # Checked when the configuration is read, so a bad pattern is one clear message.
        if self.cmdline is not None:
            try:
                re.compile(self.cmdline)
            except re.error as exc:
                raise ConfigError(
                    f"[checks.processes] {self.name}: cmdline {self.cmdline!r} is not a valid "
                    f"regular expression: {exc}"
                ) from None
        if self.min < 0 or (self.max is not None and self.max < self.min):
            raise ConfigError(f"[checks.processes] {self.name}: need 0 <= min <= max")


# Roles known without configuration; [checks.processes.role.NAME] adds or replaces one.
BUILTIN_ROLES: dict[str, list[ProcessSpec]] = {
    "ovs": [ProcessSpec("ovs-vswitchd"), ProcessSpec("ovsdb-server")],
    "xenserver-ovs": [
        ProcessSpec("ovs-vswitchd"),
        ProcessSpec("ovsdb-server"),
        ProcessSpec("ovs-xapi-sync", cmdline=r"ovs-xapi-sync"),
    ],
    "nova-compute": [
        ProcessSpec("nova-compute", cmdline=r"(^|/)nova-compute( |$)"),
        ProcessSpec("libvirtd"),
    ],
    "mysql": [ProcessSpec("mariadbd|mysqld", cmdline=r"(^|/)(mariadbd|mysqld)( |$)", max=1)],
    "web": [ProcessSpec("apache2|nginx", cmdline=r"(^|/)(apache2|nginx)( |:|$)")],
}


@dataclass(frozen=True)
class ProcessesOptions:
    roles: list[str] = field(default_factory=list)  # this host's roles (empty: those defined below)
    role: dict[str, list[ProcessSpec]] = field(default_factory=dict)  # new or replaced roles

    def __post_init__(self) -> None:
        known = {**BUILTIN_ROLES, **self.role}
        for name in self.roles:
            if name not in known:
                raise ConfigError(
                    f"[checks.processes] roles: unknown role {name!r} (built in: "
                    f"{', '.join(BUILTIN_ROLES)}; or define [checks.processes.role.{name}])"
                )


@dataclass(frozen=True)
class ProcessInfo:
    """One process; ``argv`` is empty for a process so fresh that the kernel has not yet set up
    its command line (then only its name can match)."""

    pid: int
    comm: str
    argv: tuple[str, ...]


@dataclass(frozen=True)
class ProcStat:
    """The fields of /proc/PID/stat this check needs."""

    name: str
    state: str
    flags: int

    @property
    def kernel_thread(self) -> bool:
        return bool(self.flags & PF_KTHREAD)

    @property
    def dead(self) -> bool:
        return self.state in ("Z", "X", "x")  # a zombie is a daemon that has exited


@dataclass(frozen=True)
class RoleCount:
    role: str
    spec: ProcessSpec
    count: int
    pids: tuple[int, ...]
    impostors: tuple[str, ...] = ()  # "PID: why": found by name, not the daemon, not counted
    unchecked: tuple[str, ...] = ()  # "PID: why": counted, but what could not be checked


@dataclass(frozen=True)
class ProcessesFacts:
    counts: tuple[RoleCount, ...]
    scanned: int
    problems: tuple[str, ...] = ()
    hidden: str | None = None  # why other users' processes cannot be seen (hidepid), if so


def parse_cmdline(raw: bytes) -> tuple[str, ...]:
    """The arguments of /proc/PID/cmdline (NUL-separated, usually NUL-terminated)."""
    text = raw.decode("utf-8", errors="replace")
    parts = text.split("\0")
    if parts and parts[-1] == "":
        parts.pop()
    # A daemon that rewrote its title (setproctitle) may leave one space-separated string.
    return tuple(parts)


def parse_comm(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").rstrip("\n")


def parse_stat(raw: bytes) -> ProcStat | None:
    """Name, state and flags of /proc/PID/stat, or None where it cannot be read. The name sits
    in parentheses and may itself hold spaces and parentheses, so it ends at the last ')'."""
    text = raw.decode("utf-8", errors="replace")
    start, end = text.find("("), text.rfind(")")
    if start < 0 or end < start:
        return None
    fields = text[end + 1 :].split()
    # state ppid pgrp session tty_nr tpgid flags: flags is the seventh field after the name.
    if len(fields) < 7 or not (fields[6].isascii() and fields[6].isdigit()):
        return None
    return ProcStat(text[start + 1 : end], fields[0], int(fields[6]))


def _basename(path: str) -> str:
    """The last component of a path in a command line (text only: nothing on disk is read)."""
    return path.rpartition("/")[2]


def spec_matches(spec: ProcessSpec, pattern: re.Pattern[str] | None, proc: ProcessInfo) -> bool:
    """Does this process count for the spec? By command-line pattern where given, else by name:
    the process name (comm, truncated to 15), the program of argv[0], or the script an
    interpreter runs (python3 /usr/bin/nova-compute)."""
    if pattern is not None:
        # Without a command line yet (a process just started), the name is all there is.
        text = " ".join(proc.argv) if proc.argv else proc.comm
        return pattern.search(text) is not None
    names = spec.name.split("|")
    if proc.comm in {n[:COMM_LENGTH] for n in names}:
        return True
    if not proc.argv:
        return False
    program = _basename(proc.argv[0].split(" ")[0]).rstrip(":")
    if program in names:
        return True
    if re.match(r"^(python[0-9.]*|perl|ruby|node)$", program) and len(proc.argv) > 1:
        script = next((a for a in proc.argv[1:] if not a.startswith("-")), "")
        return _basename(script) in names
    return False


def resolve_roles(options: ProcessesOptions) -> dict[str, list[ProcessSpec]]:
    """The specs of every role this host has: ``roles``, or every role the configuration
    defines where ``roles`` is not set."""
    known = {**BUILTIN_ROLES, **options.role}
    wanted = options.roles or list(options.role)
    return {r: known[r] for r in wanted}


def compile_spec(spec: ProcessSpec) -> re.Pattern[str] | None:
    return None if spec.cmdline is None else re.compile(spec.cmdline)


def read_process(host: Host, pid: int) -> ProcessInfo | None:
    """One process of /proc, or None for a kernel thread, a zombie, or one that vanished while
    read (processes come and go: a vanished one is simply not counted)."""
    try:
        argv = parse_cmdline(host.read_bytes(f"/proc/{pid}/cmdline"))
    except HostError:
        return None
    comm: str | None
    try:
        comm = parse_comm(host.read_bytes(f"/proc/{pid}/comm"))
    except HostError:
        comm = None
    if argv and comm is not None:
        return ProcessInfo(pid, comm, argv)
    # An empty command line is a kernel thread, a zombie, or a process the kernel has only just
    # started (between fork and exec); stat tells them apart and still has the name.
    try:
        stat = parse_stat(host.read_bytes(f"/proc/{pid}/stat"))
    except HostError:
        stat = None
    if stat is None:  # gone, or a stat we cannot read: the command line alone may do
        return ProcessInfo(pid, "", argv) if argv else None
    if stat.kernel_thread or stat.dead:
        return None
    return ProcessInfo(pid, comm if comm is not None else stat.name, argv)


def _scan(host: Host) -> list[ProcessInfo]:
    processes: list[ProcessInfo] = []
    for entry in host.listdir("/proc"):
        if entry.isascii() and entry.isdigit():
            process = read_process(host, int(entry))
            if process is not None:
                processes.append(process)
    if not processes:
        raise HostError("no processes readable under /proc (is /proc mounted?)")
    return processes


class _Verifier:
    """Checks the processes a spec found against what the kernel records about them; each
    process and each configured user is looked up once."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.identities: dict[int, Identity] = {}
        self.uids: dict[str, int] = {}

    def count(self, role: str, spec: ProcessSpec, found: list[ProcessInfo]) -> RoleCount:
        want_uid = None
        if spec.user is not None:
            if spec.user not in self.uids:
                self.uids[spec.user] = resolve_user(self.host, spec.user)
            want_uid = self.uids[spec.user]
        names = spec.name.split("|") if spec.cmdline is None else None
        pids: list[int] = []
        impostors: list[str] = []
        unchecked: list[str] = []
        for proc in found:
            if proc.pid not in self.identities:
                self.identities[proc.pid] = read_identity(self.host, proc.pid, proc.argv)
            verdict = verify(self.identities[proc.pid], spec.exe, want_uid, names)
            if not verdict.counted:
                impostors.append(f"{proc.pid}: {verdict.why}")
                continue
            pids.append(proc.pid)
            if verdict.why:
                unchecked.append(f"{proc.pid}: {verdict.why}")
        return RoleCount(role, spec, len(pids), tuple(pids), tuple(impostors), tuple(unchecked))


def collect(ctx: CheckContext[ProcessesOptions]) -> ProcessesFacts:
    roles = resolve_roles(ctx.options)
    if not roles:
        raise NotApplicable(
            "no roles configured: set [checks.processes] roles = [...] "
            f"(built in: {', '.join(BUILTIN_ROLES)})"
        )
    processes = _scan(ctx.host)
    verifier = _Verifier(ctx.host)
    counts = []
    for role, specs in roles.items():
        for spec in specs:
            pattern = compile_spec(spec)
            found = [p for p in processes if spec_matches(spec, pattern, p)]
            counts.append(verifier.count(role, spec, found))
    return ProcessesFacts(tuple(counts), len(processes), hidden=_hidden(ctx.host))


def _hidden(host: Host) -> str | None:
    """Why this user cannot see other users' processes, where it cannot: /proc mounted with
    hidepid hides them (invisible) or their files (noaccess), and init is then the first one
    missing. A captured tree is what it is: this applies to the running machine only."""
    if not host.is_live:
        return None
    try:
        if host.read_optional("/proc/1/cmdline") is not None:
            return None
    except HostError:
        pass
    return (
        "other users' processes are hidden from this user (/proc mounted with hidepid): run the "
        "check as root, or in the group /proc's gid= option names"
    )


def _hint(missing: list[RoleCount], extra: list[RoleCount], impostors: bool) -> str:
    parts = []
    if impostors:
        parts.append(
            "a process that is not the daemon carries its name: look at it (ls -l /proc/PID/exe; "
            "ps -o user,pid,lstart,args -p PID) and at who started it"
        )
    if missing:
        names = ", ".join(dict.fromkeys(c.spec.name for c in missing))
        parts.append(
            f"start {names} (systemctl status / journalctl -u for why it stopped); until it runs, "
            "this host's role does not work even though the host answers"
        )
    if extra:
        names = ", ".join(dict.fromkeys(c.spec.name for c in extra))
        parts.append(
            f"more {names} than expected: a stuck old instance or a second copy started by hand; "
            "look at the PIDs and their start times (ps -o pid,lstart,args -p PIDS)"
        )
    return "; ".join(parts)


def _judge_identities(found: Findings, count: RoleCount) -> None:
    """Processes that borrow the daemon's name (WARNING: someone is standing in for it), and
    those counted without everything about them checked (said in the details)."""
    for impostor in count.impostors:
        found.details.append(f"{count.role}: {count.spec.name}: not counted: process {impostor}")
    if count.impostors:
        pids = [i.partition(":")[0] for i in count.impostors]
        shown = ", ".join(pids[:5]) + (f" and {len(pids) - 5} more" if len(pids) > 5 else "")
        which = f"process {shown} uses" if len(pids) == 1 else f"processes {shown} use"
        why = count.impostors[0].partition(": ")[2]
        found.problem(Status.WARNING, f"{count.spec.name}: {which} its name but is not it ({why})")
    for why, pids in _by_reason(count.unchecked).items():
        which = f"process {pids[0]}" if len(pids) == 1 else f"processes {', '.join(pids[:10])}"
        more = f" and {len(pids) - 10} more" if len(pids) > 10 else ""
        found.details.append(f"{count.role}: {count.spec.name}: {which}{more}: {why}")


def _by_reason(notes: tuple[str, ...]) -> dict[str, list[str]]:
    """ "PID: why" notes grouped by why, in the order first seen."""
    grouped: dict[str, list[str]] = {}
    for note in notes:
        pid, _, why = note.partition(": ")
        grouped.setdefault(why, []).append(pid)
    return grouped


def judge(facts: ProcessesFacts, options: ProcessesOptions) -> Result:
    found = Findings()
    missing: list[RoleCount] = []
    extra: list[RoleCount] = []
    unseen = False
    for count in facts.counts:
        spec = count.spec
        limits = f"{spec.min}..{spec.max if spec.max is not None else ''}"
        pids = " ".join(str(p) for p in count.pids[:10]) or "-"
        found.details.append(
            f"{count.role}: {spec.name} {count.count} running (want {limits}) {pids}"
        )
        found.metrics.append(
            Metric(
                "procs",
                count.count,
                min=0,
                labels={"role": count.role, "process": spec.name.split("|")[0]},
            )
        )
        if count.count < spec.min and facts.hidden:
            found.problem(
                Status.UNKNOWN, f"{spec.name}: {count.count} of {spec.min} seen (role {count.role})"
            )
            unseen = True
        elif count.count < spec.min:
            what = "not running" if count.count == 0 else f"{count.count} of {spec.min} running"
            found.problem(Status.CRITICAL, f"{spec.name} {what} (role {count.role})")
            missing.append(count)
        elif spec.max is not None and count.count > spec.max:
            found.problem(
                Status.WARNING, f"{count.count} {spec.name} running, at most {spec.max} expected"
            )
            extra.append(count)
        _judge_identities(found, count)
    if unseen and facts.hidden:
        found.problem(Status.UNKNOWN, facts.hidden)  # once, after the daemons it may hide
    found.details.append(f"{facts.scanned} processes scanned")
    roles = ", ".join(dict.fromkeys(c.role for c in facts.counts))
    return found.result(
        "processes",
        f"all {len(facts.counts)} required processes running (roles {roles})",
        hint=_hint(missing, extra, any(c.impostors for c in facts.counts))
        if found.problems
        else None,
    )


CHECK = Check(
    "processes",
    "the daemons each configured role needs (ovs-vswitchd, nova-compute, libvirtd, ...)",
    collect,
    judge,
    ProcessesOptions,
)
