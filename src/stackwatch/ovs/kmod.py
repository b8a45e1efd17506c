"""ovs-kmod: the openvswitch kernel module loaded, on disk, and for the kernel that boots next.

A kernel update that comes without an openvswitch module (an out-of-tree DKMS build that failed,
a modules-extra package not installed) goes unnoticed until the reboot: then the host comes up
without a switch and without network. This check reads the loaded module's srcversion from
/sys/module/openvswitch, asks ``modinfo`` (with ``-b ROOT`` so that captured trees work too) for
the module of the running kernel and of the next one, and finds the next kernel from the boot
loader's saved default or, failing that, the newest installed /boot/vmlinuz-*.

Whether the module matters at all depends on the datapath of the bridges: those of the kernel
datapath (OVSDB's ``datapath_type`` "" or "system") need it, those of the userspace one (netdev,
DPDK) do not. With ``datapath = "auto"`` the check asks OVSDB (``[ovs] db``); where OVSDB cannot
say, the check says so (UNKNOWN) instead of guessing from whether the module happens to be loaded.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from stackwatch.core.findings import Findings
from stackwatch.core.host import CommandFailed, Host
from stackwatch.core.record import dataclass
from stackwatch.core.registry import Check, CheckContext, NotApplicable
from stackwatch.core.result import Result, Status
from stackwatch.ovs.ovsdb import OvsdbError
from stackwatch.ovs.rows import each, string
from stackwatch.ovs.settings import OvsSettings, ovs_settings

MODULE = "openvswitch"
VSWITCHD_PATHS = ("/usr/sbin/ovs-vswitchd", "/usr/bin/ovs-vswitchd", "/usr/local/sbin/ovs-vswitchd")
KERNEL_DATAPATHS = ("", "system")  # OVSDB's datapath_type of a bridge on the kernel datapath
NAMES_SHOWN = 5  # bridges named in a summary; the details name them all


@dataclass(frozen=True)
class KmodOptions:
    # auto: the bridges' datapath_type in OVSDB ([ovs] db) says whether the module is needed
    datapath: Literal["auto", "system", "netdev"] = "auto"


@dataclass(frozen=True)
class DatapathUse:
    """Which datapath the bridges in OVSDB use, or why OVSDB could not say."""

    kernel: tuple[str, ...] = ()  # bridges of datapath_type "" or "system": they need the module
    userspace: tuple[str, ...] = ()  # netdev (and any other userspace type)
    problem: str | None = None  # OVSDB unreachable, too slow or unreadable


@dataclass(frozen=True)
class ModuleInfo:
    filename: str
    srcversion: str | None
    vermagic: str | None
    version: str | None


@dataclass(frozen=True)
class KmodFacts:
    running: str
    loaded: bool
    loaded_srcversion: str | None  # None with loaded: built into the kernel
    running_module: ModuleInfo | None
    next_kernel: str | None
    next_source: str  # how the next kernel was found
    next_module: ModuleInfo | None
    installed: tuple[str, ...]
    datapaths: DatapathUse | None = None  # None: the options name the datapath, OVSDB not asked


def parse_modinfo(text: str) -> ModuleInfo | None:
    """``modinfo`` output (``field:   value`` lines) to ModuleInfo; None without a filename."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep or not key or " " in key:
            continue
        fields.setdefault(key.strip(), value.strip())
    filename = fields.get("filename")
    if not filename:
        return None
    return ModuleInfo(
        filename,
        fields.get("srcversion") or None,
        fields.get("vermagic") or None,
        fields.get("version") or None,
    )


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key for kernel release strings: numbers as numbers (6.10 after 6.9)."""
    parts: list[tuple[int, int | str]] = []
    for piece in re.findall(r"\d+|[A-Za-z]+", version):
        parts.append((1, int(piece)) if piece.isascii() and piece.isdigit() else (0, piece))
    return tuple(parts)


def installed_kernels(host: Host) -> list[str]:
    """Kernel releases with an image in /boot, oldest first."""
    names = [n[len("vmlinuz-") :] for n in host.listdir("/boot") if n.startswith("vmlinuz-")]
    return sorted(set(names), key=version_key)


def parse_grub_default(grubenv: str | None, default_grub: str | None) -> str | None:
    """The boot entry GRUB will start: grubenv's next_entry (grub-reboot's one boot, honoured
    whatever GRUB_DEFAULT says), else its saved_entry when GRUB_DEFAULT=saved, or a GRUB_DEFAULT
    naming an entry. None where it is a menu position or cannot be read."""
    env = parse_grubenv(grubenv)
    if env.get("next_entry"):
        return env["next_entry"]
    setting = grub_default_setting(default_grub)
    if setting == "saved" or setting is None:
        return env.get("saved_entry") or None
    return None if setting.isascii() and setting.isdigit() else setting


def parse_grubenv(text: str | None) -> dict[str, str]:
    """grubenv's ``name=value`` lines (the ``#`` padding and comments left out)."""
    env: dict[str, str] = {}
    for line in (text or "").splitlines():
        name, sep, value = line.partition("=")
        if sep and name and not name.startswith("#"):
            env[name.strip()] = value.strip()
    return env


def grub_default_setting(default_grub: str | None) -> str | None:
    """GRUB_DEFAULT in /etc/default/grub (unquoted), None where it is not set."""
    setting = None
    for line in (default_grub or "").splitlines():
        match = re.match(r"\s*GRUB_DEFAULT=(.*)$", line)
        if match:
            setting = match.group(1).strip().strip("\"'")
    return setting


def match_entry(entry: str, kernels: list[str]) -> str | None:
    """The installed kernel a boot entry names (the longest release found in it)."""
    found = [k for k in kernels if k in entry]
    return max(found, key=len) if found else None


def parse_datapaths(rows: list[dict[str, Any]]) -> DatapathUse:
    """Bridge rows (name, datapath_type) as OVSDB sends them (pure); OvsdbError where a row is
    not what the schema says. A server without the datapath_type column is one from before the
    userspace datapath: its bridges are on the kernel's."""
    named = each("Bridge", rows, lambda r: (string(r, "name"), string(r, "datapath_type", "")))
    kernel = [name for name, datapath in named if datapath in KERNEL_DATAPATHS]
    userspace = [name for name, datapath in named if datapath not in KERNEL_DATAPATHS]
    return DatapathUse(tuple(sorted(kernel)), tuple(sorted(userspace)))


def read_datapaths(settings: OvsSettings) -> DatapathUse:
    """The datapaths of the bridges in OVSDB; a failure is kept as the reason it cannot say."""
    from stackwatch.ovs.ovsdb import OvsdbClient

    try:
        with OvsdbClient(settings.db, settings.timeout) as client:
            return parse_datapaths(client.select("Bridge", ("name", "datapath_type")))
    except OvsdbError as exc:
        return DatapathUse(problem=str(exc))


def next_boot(host: Host, kernels: list[str]) -> tuple[str | None, str]:
    """The kernel that boots next and how that was found: the boot loader's default entry
    where it names an installed kernel, else the newest installed one."""
    entry = parse_grub_default(
        host.read_optional("/boot/grub/grubenv"), host.read_optional("/etc/default/grub")
    )
    kernel = match_entry(entry, kernels) if entry else None
    if kernel:
        return kernel, "boot loader default"
    if kernels:
        return kernels[-1], "newest installed kernel"
    return None, "no kernel in /boot"


def module_for(host: Host, kernel: str) -> ModuleInfo | None:
    """The openvswitch module on disk for ``kernel`` (modinfo), None where it has none."""
    return _modinfo(host, kernel)


def _modinfo(host: Host, kernel: str) -> ModuleInfo | None:
    argv = ["modinfo", "-k", kernel, MODULE]
    if not host.is_live:
        argv[1:1] = ["-b", str(host.root)]
    try:
        result = host.run(argv)
    except CommandFailed:
        return None  # "Module openvswitch not found."
    return parse_modinfo(result.stdout)


def collect(ctx: CheckContext[KmodOptions]) -> KmodFacts:
    host = ctx.host
    running = host.read_text("/proc/sys/kernel/osrelease").strip()
    loaded = host.is_dir(f"/sys/module/{MODULE}")
    srcversion = host.read_optional(f"/sys/module/{MODULE}/srcversion") if loaded else None
    installed = any(host.exists(p) for p in VSWITCHD_PATHS)
    running_module = _modinfo(host, running)
    if not loaded and not installed and running_module is None:
        raise NotApplicable("Open vSwitch is not installed here (no module, no ovs-vswitchd)")
    kernels = installed_kernels(host)
    next_kernel, source = next_boot(host, kernels)
    next_module = None
    if next_kernel is not None:
        next_module = running_module if next_kernel == running else _modinfo(host, next_kernel)
    datapaths = read_datapaths(ovs_settings(ctx)) if ctx.options.datapath == "auto" else None
    return KmodFacts(
        running,
        loaded,
        srcversion.strip() if srcversion else None,
        running_module,
        next_kernel,
        source,
        next_module,
        tuple(kernels),
        datapaths,
    )


def _pending_hint(facts: KmodFacts) -> str:
    return (
        f"the host will lose its network at the next reboot: kernel {facts.next_kernel} has no "
        f"{MODULE} module. Install it before rebooting (the package that builds it, e.g. "
        f"openvswitch-datapath-dkms or linux-modules-extra-{facts.next_kernel}, then check with "
        f"modinfo -k {facts.next_kernel} {MODULE}), or keep booting the running kernel: "
        f"grub-set-default (or grub-reboot) with the entry of {facts.running}, or remove the "
        f"pending kernel package (linux-image-{facts.next_kernel}) and run update-grub; "
        "stackwatch ovs kmod guard plans the fix and makes it with --apply"
    )


def _details(facts: KmodFacts) -> list[str]:
    """What was found, module by module, and the bridges' datapaths: the detail lines of every
    outcome."""
    details = [f"running kernel {facts.running}"]
    if facts.loaded and facts.loaded_srcversion is not None:
        details.insert(0, f"loaded srcversion {facts.loaded_srcversion}")
    if facts.running_module is not None:
        details.append(
            f"module on disk for {facts.running}: {facts.running_module.filename} "
            f"(srcversion {facts.running_module.srcversion or '?'})"
        )
    else:
        details.append(f"no {MODULE} module on disk for {facts.running}")
    if facts.next_kernel:
        details.append(f"next boot: {facts.next_kernel} ({facts.next_source})")
        if facts.next_kernel != facts.running:
            details.append(
                f"module for {facts.next_kernel}: "
                + (facts.next_module.filename if facts.next_module else "MISSING")
            )
    use = facts.datapaths
    if use is not None and use.problem is None:
        for what, names in (("kernel", use.kernel), ("userspace", use.userspace)):
            if names:
                details.append(f"bridges on the {what} datapath: {', '.join(names)}")
    return details


def _names(names: tuple[str, ...]) -> str:
    """Bridge names for a summary: the first few, and how many more."""
    shown_names = ", ".join(names[:NAMES_SHOWN])
    more = len(names) - NAMES_SHOWN
    return f"{shown_names} and {more} more" if more > 0 else shown_names


def _load_hint(facts: KmodFacts) -> str:
    if facts.running_module is None:
        return (
            f"no {MODULE} module for kernel {facts.running} on disk: install it (the package "
            f"that builds it, e.g. openvswitch-datapath-dkms or linux-modules-extra-"
            f"{facts.running}), then modprobe {MODULE} and restart openvswitch-switch"
        )
    return f"modprobe {MODULE}; check dmesg for why it did not load"


def _judge_not_loaded(facts: KmodFacts, options: KmodOptions, details: list[str]) -> Result:
    use = facts.datapaths
    if options.datapath == "system" or (use is not None and use.kernel):
        on_disk = "" if facts.running_module is not None else " (and none on disk)"
        why = (
            f"bridges {_names(use.kernel)} use the kernel datapath"
            if use is not None and use.kernel
            else "the kernel datapath is configured"
        )
        return Result(
            "ovs-kmod",
            Status.CRITICAL,
            f"{MODULE} module not loaded{on_disk} but {why}",
            details=tuple(details),
            hint=_load_hint(facts),
        )
    return Result(
        "ovs-kmod",
        Status.OK,
        f"{MODULE} module not loaded: the userspace datapath (netdev/DPDK) needs none",
        details=tuple(details),
    )


def _judge_loaded_module(facts: KmodFacts, findings: Findings) -> None:
    """The loaded module against the file on disk for the running kernel."""
    disk = facts.running_module
    if facts.loaded_srcversion is None:
        findings.problem(Status.OK, f"{MODULE} built into kernel {facts.running}")
    elif disk is None:
        findings.problem(
            Status.WARNING,
            f"loaded {MODULE} has no module file on disk for {facts.running}",
            "the module was removed or replaced since it was loaded; reinstall it",
        )
    elif disk.srcversion and disk.srcversion != facts.loaded_srcversion:
        findings.problem(
            Status.WARNING,
            f"loaded {MODULE} (srcversion {facts.loaded_srcversion}) differs from the one "
            f"on disk ({disk.srcversion})",
            "the module on disk was updated (package or DKMS rebuild) after it was loaded; "
            "the new one takes effect when openvswitch-switch is restarted or at reboot",
        )
    else:
        findings.problem(Status.OK, f"loaded {MODULE} matches the module on disk")


def _next_kernel_lacks_module(facts: KmodFacts) -> bool:
    pending = facts.next_kernel is not None and facts.next_kernel != facts.running
    return pending and facts.next_module is None


def _judge_module(facts: KmodFacts, options: KmodOptions, details: list[str]) -> Result:
    """The module as the kernel datapath needs it: loaded, as on disk, there for the next
    kernel."""
    if not facts.loaded:
        return _judge_not_loaded(facts, options, details)
    # The summary states every finding, the good ones too (as OK), the costliest first: a next
    # kernel without the module takes the host's network at the next reboot.
    findings = Findings(details=details)
    missing_next = _next_kernel_lacks_module(facts)
    if missing_next:
        findings.problem(Status.CRITICAL, f"next kernel {facts.next_kernel} has no {MODULE} module")
    _judge_loaded_module(facts, findings)
    if facts.next_kernel and facts.next_kernel != facts.running and not missing_next:
        findings.problem(Status.OK, f"next kernel {facts.next_kernel} has one")
    # the pending kernel's remedy comes before (and replaces) the loaded module's
    return findings.result("ovs-kmod", "", _pending_hint(facts) if missing_next else None)


def _judge_cannot_tell(facts: KmodFacts, problem: str, details: list[str]) -> Result:
    """OVSDB could not say which datapath the bridges use: UNKNOWN, with what the module's
    state would mean for the kernel datapath."""
    with_kernel = _judge_module(facts, KmodOptions("system"), [])
    if with_kernel.status is not Status.OK:
        details = [
            *details,
            f"were the kernel datapath in use: {with_kernel.status.name} {with_kernel.summary}",
        ]
    return Result(
        "ovs-kmod",
        Status.UNKNOWN,
        f"cannot tell whether the bridges use the kernel datapath: {problem}",
        details=tuple(details),
        hint="start ovsdb-server (or correct [ovs] db), or name the datapath: "
        '[checks.ovs-kmod] datapath = "system" or "netdev"',
    )


def _judge_userspace_only(use: DatapathUse, details: list[str]) -> Result:
    if use.userspace:
        summary = (
            f"{len(use.userspace)} bridges, all on the userspace datapath: "
            f"the {MODULE} module does not matter"
        )
    else:
        summary = f"no bridges: the {MODULE} module is not in use"
    return Result("ovs-kmod", Status.OK, summary, details=tuple(details))


def judge(facts: KmodFacts, options: KmodOptions) -> Result:
    details = _details(facts)
    use = facts.datapaths
    if options.datapath == "auto" and use is not None:
        if use.problem is not None:
            return _judge_cannot_tell(facts, use.problem, details)
        if not use.kernel:
            return _judge_userspace_only(use, details)
    return _judge_module(facts, options, details)


CHECK = Check(
    "ovs-kmod",
    "openvswitch kernel module: loaded vs on disk, and present for the next kernel",
    collect,
    judge,
    KmodOptions,
)
