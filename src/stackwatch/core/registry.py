"""The named checks: what a check is, and where each one lives.

A check module defines ``CHECK = Check(name, description, collect, judge, Options)``:
- ``collect(ctx) -> facts`` reads through ``ctx.host`` (and ``ctx.state`` for rates). It raises
  ``NotApplicable(reason)`` where the check does not apply to this machine.
- ``judge(facts, options) -> Result`` does no I/O.
- ``Options`` is a dataclass of the check's settings (``[checks.NAME]`` in the configuration).
  Fields named ``warning`` and ``critical`` (``Range | None``) are the main figure's thresholds,
  which ``-w`` and ``-c`` override.

Each capability declares its checks (core/capability.py); modules are imported only when their
check is asked for, so one check stays fast to run.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable

from stackwatch.core import record
from stackwatch.core.capability import check_owners
from stackwatch.core.config import Config
from stackwatch.core.host import Host
from stackwatch.core.record import dataclass, field
from stackwatch.core.result import Result
from stackwatch.core.state import StateStore

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs a Nagios call more than a check: for the type checker only
    from typing import Any, Generic, TypeVar

    F = TypeVar("F")
    Opt = TypeVar("Opt")
else:
    F = Opt = None  # type parameters: for the type checker only

    class Generic:
        """Run-time stand-in for typing.Generic: ``Check[Options]`` means something to the type
        checker only, so subscripting is the class itself."""

        def __class_getitem__(cls, params: object) -> type:
            return cls


class NotApplicable(Exception):
    """The check does not apply to this machine (no such hardware, driver or service)."""


class UnknownCheck(KeyError):
    pass


@dataclass(frozen=True)
class NoOptions:
    """For checks without settings."""


@dataclass
class CheckState:
    """The state file of one check: what it saved on its previous run."""

    store: StateStore
    name: str
    _cache: dict[str, Any] | None = None

    def load(self) -> dict[str, Any]:
        if self._cache is None:
            self._cache = self.store.load(self.name)
        return self._cache

    def save(self, data: dict[str, Any]) -> bool:
        self._cache = data
        return self.store.save(self.name, data)

    @property
    def warnings(self) -> list[str]:
        return self.store.warnings


@dataclass
class CheckContext(Generic[Opt]):
    """Everything a collect step may use."""

    host: Host
    options: Opt
    state: CheckState
    config: Config
    settings: Any = None  # the validated section of the check's capability ([ovs], [weblog], ...)
    now: float = field(default_factory=time.time)
    notes: list[str] = field(default_factory=list)  # facts about the collection, for details


@dataclass(frozen=True)
class Check(Generic[F, Opt]):
    name: str
    description: str
    collect: Callable[[CheckContext[Opt]], F]
    judge: Callable[[F, Opt], Result]
    options: type[Opt] = NoOptions  # type: ignore[assignment]

    @property
    def has_main_figure(self) -> bool:
        names = {f.name for f in record.fields(self.options)}  # type: ignore[arg-type]
        return {"warning", "critical"} <= names


def check_names() -> list[str]:
    """Every check, in the order of ``stackwatch checks`` and of a full run."""
    return list(check_owners())


def get_check(name: str) -> Check[Any, Any]:
    owner = check_owners().get(name)
    if owner is None:
        raise UnknownCheck(name)
    module = importlib.import_module(owner.check_module(name))
    checks = getattr(module, "CHECKS", None) or [module.CHECK]
    for check in checks:
        if check.name == name:
            return check  # type: ignore[no-any-return]
    raise UnknownCheck(name)


def all_checks() -> list[Check[Any, Any]]:
    return [get_check(name) for name in check_names()]
