"""ovs-kmod: the openvswitch kernel module loaded, on disk, and for the kernel that boots next.

A kernel update that comes without an openvswitch module (an out-of-tree DKMS build that failed,
a modules-extra package not installed) goes unnoticed until the reboot: then the host comes up
without a switch and without network. This check reads the loaded module's srcversion from
/sys/module/openvswitch, asks ``modinfo`` (with ``-b ROOT`` so that captured trees work too) for
the module of the running kernel and of the next one, and finds the next kernel from the boot
loader's saved default or, failing that, the newest installed /boot/vmlinuz-*.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from stackwatch.core.findings import Findings
from stackwatch.core.host import CommandFailed, Host
from stackwatch.core.registry import Check, CheckContext, NotApplicable
from stackwatch.core.result import Result, Status

MODULE = "openvswitch"
VSWITCHD_PATHS = ("/usr/sbin/ovs-vswitchd", "/usr/bin/ovs-vswitchd", "/usr/local/sbin/ovs-vswitchd")


@dataclass(frozen=True)
class KmodOptions:
    # auto: a loaded module means the kernel datapath is in use, none the userspace datapath
    datapath: Literal["auto", "system", "netdev"] = "auto"


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
        parts.append((1, int(piece)) if piece.isdigit() else (0, piece))
    return tuple(parts)


def installed_kernels(host: Host) -> list[str]:
    """Kernel releases with an image in /boot, oldest first."""
    names = [n[len("vmlinuz-") :] for n in host.listdir("/boot") if n.startswith("vmlinuz-")]
    return sorted(set(names), key=version_key)


def parse_grub_default(grubenv: str | None, default_grub: str | None) -> str | None:
    """The boot entry GRUB will start: grubenv's saved_entry when GRUB_DEFAULT=saved, or a
    GRUB_DEFAULT naming an entry. None where it is a menu position or cannot be read."""
    setting = None
    for line in (default_grub or "").splitlines():
        match = re.match(r"\s*GRUB_DEFAULT=(.*)$", line)
        if match:
            setting = match.group(1).strip().strip("\"'")
    if setting == "saved" or setting is None:
        for line in (grubenv or "").splitlines():
            if line.startswith("saved_entry="):
                entry = line[len("saved_entry=") :].strip()
                return entry or None
        return None
    return None if setting.isdigit() else setting


def match_entry(entry: str, kernels: list[str]) -> str | None:
    """The installed kernel a boot entry names (the longest release found in it)."""
    found = [k for k in kernels if k in entry]
    return max(found, key=len) if found else None


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
    entry = parse_grub_default(
        host.read_optional("/boot/grub/grubenv"), host.read_optional("/etc/default/grub")
    )
    next_kernel = None
    source = "no kernel in /boot"
    if entry:
        next_kernel = match_entry(entry, kernels)
        if next_kernel:
            source = "boot loader default"
    if next_kernel is None and kernels:
        next_kernel = kernels[-1]
        source = "newest installed kernel"
    next_module = None
    if next_kernel is not None:
        next_module = running_module if next_kernel == running else _modinfo(host, next_kernel)
    return KmodFacts(
        running,
        loaded,
        srcversion.strip() if srcversion else None,
        running_module,
        next_kernel,
        source,
        next_module,
        tuple(kernels),
    )


def _pending_hint(facts: KmodFacts) -> str:
    return (
        f"the host will lose its network at the next reboot: kernel {facts.next_kernel} has no "
        f"{MODULE} module. Install it before rebooting (the package that builds it, e.g. "
        f"openvswitch-datapath-dkms or linux-modules-extra-{facts.next_kernel}, then check with "
        f"modinfo -k {facts.next_kernel} {MODULE}), or keep booting the running kernel: "
        f"grub-set-default (or grub-reboot) with the entry of {facts.running}, or remove the "
        f"pending kernel package (linux-image-{facts.next_kernel}) and run update-grub"
    )


def _details(facts: KmodFacts) -> list[str]:
    """What was found, module by module: the detail lines of every outcome."""
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
    return details


def _judge_not_loaded(facts: KmodFacts, options: KmodOptions, details: list[str]) -> Result:
    if options.datapath == "system":
        return Result(
            "ovs-kmod",
            Status.CRITICAL,
            f"{MODULE} module not loaded but the kernel datapath is configured",
            details=tuple(details),
            hint=f"modprobe {MODULE}; check dmesg for why it did not load",
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


def judge(facts: KmodFacts, options: KmodOptions) -> Result:
    details = _details(facts)
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


CHECK = Check(
    "ovs-kmod",
    "openvswitch kernel module: loaded vs on disk, and present for the next kernel",
    collect,
    judge,
    KmodOptions,
)
