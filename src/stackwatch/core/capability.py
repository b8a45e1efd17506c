"""What a capability declares about itself, once, and how the command line finds them all.

A capability is a package of ``stackwatch`` whose ``__init__.py`` holds::

    CAPABILITY = Capability(
        name="ovs",                                   # its command group and configuration section
        summary="Open vSwitch bridge layouts ...",
        order=20,                                     # place in `stackwatch checks` and full runs
        checks={"ovs-managers": "checks", ...},       # check name -> module (in the package)
        commands="cli",                               # module with a Typer ``app`` (or None)
        quick_commands={"top": "topcmd:quick"},       # optional: command -> its Typer-free runner
        settings="settings:OvsSettings",              # dataclass validating its section (or None)
    )

Modules are named by string, relative to the package, so that finding every capability imports
only these small ``__init__`` modules: a check, its command group and its settings are imported
when they are used. Adding a capability means adding a package; nothing else lists them.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from functools import cache

from stackwatch.core.record import dataclass, field

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs a Nagios call more than a check: for the type checker only
    from typing import Any


@dataclass(frozen=True)
class Capability:
    name: str
    summary: str
    order: int
    checks: Mapping[str, str] = field(default_factory=dict)
    commands: str | None = None
    settings: str | None = None
    # A frequent command run without Typer (whose import costs more than some commands' work):
    # command name -> "module:function" taking the words after it and returning an exit code,
    # or None to leave the command line to Typer (help, mistakes). See cli.py.
    quick_commands: Mapping[str, str] = field(default_factory=dict)
    package: str = ""  # filled in by discovery: the package that declared it

    def module(self, relative: str) -> str:
        """The absolute module name of one of the capability's modules."""
        return relative if relative.startswith("stackwatch.") else f"{self.package}.{relative}"

    def check_module(self, check: str) -> str:
        return self.module(self.checks[check])

    @property
    def commands_module(self) -> str | None:
        return self.module(self.commands) if self.commands else None

    def settings_class(self) -> type[Any] | None:
        """The dataclass that validates ``[NAME]`` in the configuration (imported now)."""
        if self.settings is None:
            return None
        module_name, _, class_name = self.settings.partition(":")
        cls: type[Any] = getattr(importlib.import_module(self.module(module_name)), class_name)
        return cls


@cache
def capabilities() -> tuple[Capability, ...]:
    """Every capability of this build, in their declared order."""
    found = []
    for name in _subpackages():
        package = f"stackwatch.{name}"
        declared = getattr(importlib.import_module(package), "CAPABILITY", None)
        if isinstance(declared, Capability):
            found.append(_with_package(declared, package))
    return tuple(sorted(found, key=lambda c: (c.order, c.name)))


def _subpackages() -> list[str]:
    """The packages beside this one's parent (a directory listing: pkgutil costs an import)."""
    import stackwatch

    names = []
    for directory in stackwatch.__path__:
        for entry in sorted(os.listdir(directory)):
            if entry.isidentifier() and os.path.isfile(
                os.path.join(directory, entry, "__init__.py")
            ):
                names.append(entry)
    return names


def _with_package(declared: Capability, package: str) -> Capability:
    from stackwatch.core.record import replace

    return replace(declared, package=package)


def capability_named(name: str) -> Capability | None:
    return next((c for c in capabilities() if c.name == name), None)


def check_owners() -> dict[str, Capability]:
    """Check name -> the capability that declares it, in the order of a full run."""
    owners: dict[str, Capability] = {}
    for capability in capabilities():
        for check in capability.checks:
            if check in owners:
                raise RuntimeError(f"check {check} declared by {owners[check].name} and "
                                   f"{capability.name}")  # fmt: skip
            owners[check] = capability
    return owners


def configuration_sections() -> tuple[str, ...]:
    """The top-level tables a configuration file may hold."""
    return ("checks", *(c.name for c in capabilities() if c.settings))
