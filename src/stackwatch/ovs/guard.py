"""``ovs kmod guard``: keep a host from rebooting into a kernel without the openvswitch module.

Where the kernel that boots next has no openvswitch module (the ovs-kmod check's CRITICAL), the
host would come up without its switch and without its network. The guard plans the fix from the
same facts the check reads (kmod.py): install the module package for the pending kernel where the
package manager offers one (that keeps the newer kernel), or else make GRUB start the newest
installed kernel that has the module, naming the entry as GRUB names it (``submenu-id>entry-id``
read from /boot/grub/grub.cfg). GRUB's environment block is changed with ``grub-editenv`` (what
grub-set-default and grub-reboot run themselves), which takes the file's path and so works on a
captured tree under ``--root`` as on the live host. The previous saved_entry/next_entry are kept
in the state directory for ``--undo``.

Facts (collect_guard) apart from the plan (plan_guard, pure) apart from running it (apply_plan).
"""

from __future__ import annotations

import re
import shlex

from stackwatch.core.host import Host, HostError
from stackwatch.core.record import dataclass, field
from stackwatch.ovs.kmod import (
    MODULE,
    grub_default_setting,
    installed_kernels,
    module_for,
    next_boot,
    parse_grubenv,
)

GRUBENV = "/boot/grub/grubenv"
GRUB_CFG = "/boot/grub/grub.cfg"
STATE_NAME = "ovs-kmod-guard"
ENV_KEYS = ("saved_entry", "next_entry")  # what the guard may change, and --undo restores
MODULE_PACKAGES = ("linux-modules-extra-{kernel}", "linux-modules-{kernel}")  # Debian/Ubuntu


class GuardError(HostError):
    """The guard cannot do what was asked; str() says why in one line."""


@dataclass(frozen=True)
class GrubEntry:
    """One ``menuentry`` of grub.cfg: its title, id, the submenus around it, its kernel."""

    title: str
    entry_id: str | None
    parents: tuple[str, ...]  # ids (or titles) of the enclosing submenus, outermost first
    kernel: str | None = None  # the release of its ``linux /boot/vmlinuz-RELEASE`` line

    @property
    def name(self) -> str:
        """The entry as GRUB's saved_entry names it: ``submenu>entry`` by id, else by title."""
        return ">".join((*self.parents, self.entry_id or self.title))

    @property
    def recovery(self) -> bool:
        return "recovery mode" in self.title or "-recovery-" in (self.entry_id or "")


@dataclass(frozen=True)
class _Frame:
    kind: str  # menuentry, submenu, or any other braced block (function, if-less blocks)
    title: str = ""
    entry_id: str | None = None


def _menu_words(line: str) -> list[str] | None:
    try:
        return shlex.split(line.rstrip("{").strip())
    except ValueError:
        return None  # a line GRUB's own parser would have to read: not a menu line we need


def _frame(line: str) -> _Frame:
    """The block a line ending in ``{`` opens: a menuentry or submenu with its title and id."""
    words = _menu_words(line)
    if not words or words[0] not in ("menuentry", "submenu") or len(words) < 2:
        return _Frame("other")
    entry_id = None
    for marker in ("$menuentry_id_option", "--id"):
        if marker in words[:-1]:
            entry_id = words[words.index(marker) + 1]
    return _Frame(words[0], words[1], entry_id)


def _kernel_of(line: str) -> str | None:
    match = re.match(r"\s*linux(?:efi|16)?\s+\S*/vmlinuz-(\S+)", line)
    return match.group(1) if match else None


def parse_grub_cfg(text: str) -> list[GrubEntry]:
    """The menu entries of a grub.cfg (pure), in menu order, each with its kernel."""
    entries: list[GrubEntry] = []
    stack: list[_Frame] = []
    kernel: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            continue
        if stripped.endswith("{"):
            stack.append(_frame(stripped))
            kernel = None
        elif stripped == "}" and stack:
            closed = stack.pop()
            if closed.kind == "menuentry":
                parents = tuple(f.entry_id or f.title for f in stack if f.kind == "submenu")
                entries.append(GrubEntry(closed.title, closed.entry_id, parents, kernel))
        elif stack and stack[-1].kind == "menuentry":
            kernel = _kernel_of(line) or kernel
    return entries


def entry_for(entries: list[GrubEntry], kernel: str) -> GrubEntry | None:
    """The entry that boots ``kernel`` normally: not recovery mode, and one whose id names the
    release (stable across update-grub) rather than the top entry that follows the newest."""
    usable = [e for e in entries if e.kernel == kernel and not e.recovery]
    named = [e for e in usable if kernel in (e.entry_id or "")]
    chosen = named or usable
    return chosen[0] if chosen else None


@dataclass(frozen=True)
class GuardFacts:
    running: str
    kernels: tuple[str, ...]  # installed, oldest first
    with_module: tuple[str, ...]  # those of them with an openvswitch module on disk
    next_kernel: str | None
    next_source: str
    entries: tuple[GrubEntry, ...]
    grubenv: dict[str, str]
    grub_default: str | None  # GRUB_DEFAULT in /etc/default/grub
    grubenv_path: str  # the file grub-editenv is given (under the root)
    offered_package: str | None = None  # a module package the package manager offers


@dataclass
class GuardPlan:
    """What the guard would do: each step in words and as the command it runs."""

    summary: str
    steps: list[tuple[str, list[str]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    possible: bool = True  # False: the next kernel lacks the module and nothing can fix it

    def lines(self) -> list[str]:
        out = [self.summary]
        for what, argv in self.steps:
            out.append(f"  {what}")
            out.append(f"    $ {shlex.join(argv)}")
        out.extend(f"  note: {note}" for note in self.notes)
        return out


def _offered_package(host: Host, kernel: str) -> str | None:
    """A module package apt offers for ``kernel`` (``apt-cache policy``: a Candidate), live only:
    a captured tree's package manager is not the one on PATH."""
    if not host.is_live or host.which("apt-cache") is None:
        return None
    for pattern in MODULE_PACKAGES:
        package = pattern.format(kernel=kernel)
        try:
            policy = host.run(["apt-cache", "policy", package]).stdout
        except HostError:
            continue
        match = re.search(r"Candidate:\s*(\S+)", policy)
        if match and match.group(1) != "(none)":
            return package
    return None


def collect_guard(host: Host, ask_packages: bool = True) -> GuardFacts:
    """The facts the plan needs, read under the host's root."""
    running = (host.read_optional("/proc/sys/kernel/osrelease") or "").strip()
    kernels = installed_kernels(host)
    next_kernel, source = next_boot(host, kernels)
    with_module = tuple(k for k in kernels if module_for(host, k) is not None)
    package = None
    if next_kernel is not None and next_kernel not in with_module and ask_packages:
        package = _offered_package(host, next_kernel)
    return GuardFacts(
        running,
        tuple(kernels),
        with_module,
        next_kernel,
        source,
        tuple(parse_grub_cfg(host.read_optional(GRUB_CFG) or "")),
        parse_grubenv(host.read_optional(GRUBENV)),
        grub_default_setting(host.read_optional("/etc/default/grub")),
        host.real(GRUBENV),
        package,
    )


def _editenv(facts: GuardFacts, *assignments: str) -> list[str]:
    return ["grub-editenv", facts.grubenv_path, "set", *assignments]


def _saved_entry_honoured(facts: GuardFacts) -> bool:
    """GRUB reads saved_entry only with GRUB_DEFAULT=saved (no /etc/default/grub: as the check,
    taken as saved); next_entry (one boot) it reads whatever GRUB_DEFAULT says."""
    return facts.grub_default in (None, "saved")


def _grub_plan(facts: GuardFacts, once: bool) -> GuardPlan:
    target = facts.with_module[-1]  # with_module is oldest first: the newest with the module
    entry = entry_for(list(facts.entries), target)
    if entry is None:
        return GuardPlan(
            f"cannot guard: no entry in {GRUB_CFG} boots kernel {target}, the newest with the "
            f"{MODULE} module; run update-grub, then try again",
            possible=False,
        )
    plan = GuardPlan(
        f"kernel {facts.next_kernel} boots next ({facts.next_source}) and has no {MODULE} "
        f"module: boot {target} instead"
    )
    if not once and not _saved_entry_honoured(facts):
        once = True
        plan.notes.append(
            f"GRUB_DEFAULT={facts.grub_default} in /etc/default/grub: GRUB ignores saved_entry, "
            "so this is for the next boot only (set GRUB_DEFAULT=saved and run update-grub to "
            "make it stick)"
        )
    key = "next_entry" if once else "saved_entry"
    how = "for the next boot only (as grub-reboot)" if once else "as default (as grub-set-default)"
    plan.steps.append((f"GRUB entry {entry.name!r} {how}", _editenv(facts, f"{key}={entry.name}")))
    return plan


def plan_guard(facts: GuardFacts, once: bool = False) -> GuardPlan:
    """The fix for a next kernel without the module (pure): its module package where offered,
    else GRUB pointed at the newest kernel that has one; nothing where nothing is wrong."""
    nxt = facts.next_kernel
    if nxt is None:
        return GuardPlan("no kernel in /boot: nothing to guard")
    if nxt in facts.with_module:
        return GuardPlan(f"nothing to do: kernel {nxt}, which boots next, has the {MODULE} module")
    if facts.offered_package:
        plan = GuardPlan(
            f"kernel {nxt} boots next and has no {MODULE} module: install "
            f"{facts.offered_package}, which the package manager offers"
        )
        plan.steps.append(
            (
                f"install {facts.offered_package}",
                ["apt-get", "install", "-y", facts.offered_package],
            )
        )
        return plan
    if not facts.with_module:
        return GuardPlan(
            f"cannot guard: kernel {nxt} boots next without the {MODULE} module and no installed "
            "kernel has it; install the package that builds it (e.g. openvswitch-datapath-dkms)",
            possible=False,
        )
    return _grub_plan(facts, once)


def previous_setting(facts: GuardFacts) -> dict[str, object]:
    """What --undo restores: grubenv's entries before the guard changed them, or the package it
    installed (removed again)."""
    if facts.offered_package:
        return {"package": facts.offered_package}
    return {"grubenv": facts.grubenv_path, "env": {k: facts.grubenv.get(k) for k in ENV_KEYS}}


def run_steps(host: Host, steps: list[list[str]]) -> list[str]:
    """Run commands in order; GuardError at the first that fails. Returns what ran."""
    ran = []
    for argv in steps:
        try:
            host.run(argv, timeout=600)
        except HostError as exc:
            raise GuardError(f"{shlex.join(argv)} failed: {exc}") from exc
        ran.append(shlex.join(argv))
    return ran


def undo_steps(saved: dict[str, object], host: Host | None = None) -> list[list[str]]:
    """The commands that put the saved setting back: grub-editenv (unset where there was none)
    or the removal of the package installed. GuardError where nothing is saved, or where it was
    saved for another tree than ``host``'s."""
    package = saved.get("package")
    if isinstance(package, str) and package:
        return [["apt-get", "remove", "-y", package]]
    path = saved.get("grubenv")
    env = saved.get("env")
    if not isinstance(path, str) or not isinstance(env, dict):
        raise GuardError("nothing to undo: no setting saved by ovs kmod guard --apply")
    if host is not None and path != host.real(GRUBENV):
        raise GuardError(f"nothing undone: the saved setting is for {path}, not this --root")
    steps = []
    for key in ENV_KEYS:
        value = env.get(key)
        if isinstance(value, str) and value:
            steps.append(["grub-editenv", path, "set", f"{key}={value}"])
        else:
            steps.append(["grub-editenv", path, "unset", key])
    return steps
