"""config-drift: the containers whose configuration differs from what [audit] expects.

Thirty CSF installs in OpenVZ containers each running the md5 integrity checker (LF_INTEGRITY)
saturate the disks together; this check names the containers where a key is not what the
operator decided, and those where it could not be read.
"""

from __future__ import annotations

from typing import Literal

from stackwatch.audit.read import ContainerValues, read_all
from stackwatch.audit.settings import AuditSettings
from stackwatch.core.findings import Findings
from stackwatch.core.record import dataclass
from stackwatch.core.registry import Check, CheckContext, NotApplicable
from stackwatch.core.result import Metric, Result, Status

NAMED = 10  # containers named in the summary; the rest are counted


@dataclass(frozen=True)
class DriftFacts:
    file: str
    expect: tuple[tuple[str, str], ...]
    containers: tuple[ContainerValues, ...]


@dataclass(frozen=True)
class DriftOptions:
    unreadable_status: Literal["OK", "WARNING", "CRITICAL", "UNKNOWN"] = (
        "WARNING"  # status of a container whose file cannot be read
    )


def collect(ctx: CheckContext[DriftOptions]) -> DriftFacts:
    settings: AuditSettings = ctx.settings
    if not settings.roots or not settings.file or not settings.expect:
        raise NotApplicable("no [audit] roots, file and expect configured")
    expect = tuple(settings.expect.items())
    keys = [key for key, _ in expect]
    found = read_all(
        ctx.host, settings.roots, settings.file, keys, settings.format, settings.max_bytes
    )
    if not found:
        raise NotApplicable(f"no container roots match {settings.roots}")
    return DriftFacts(settings.file, expect, tuple(found))


def differences(row: ContainerValues, expect: tuple[tuple[str, str], ...]) -> list[str]:
    """``KEY=value`` for each expected key whose value differs (``KEY missing`` if absent)."""
    out = []
    for (key, wanted), value in zip(expect, row.values, strict=True):
        if value is None:
            out.append(f"{key} missing")
        elif value != wanted:
            out.append(f"{key}={value}")
    return out


def _named(names: list[str]) -> str:
    shown = ", ".join(names[:NAMED])
    return shown + (f" and {len(names) - NAMED} more" if len(names) > NAMED else "")


def judge(facts: DriftFacts, options: DriftOptions) -> Result:
    found = Findings()
    drifted: list[str] = []
    unreadable: list[str] = []
    for row in facts.containers:
        if row.problem and all(v is None for v in row.values):
            unreadable.append(row.container)
            found.details.append(f"{row.container}: {row.problem}")
            continue
        diff = differences(row, facts.expect)
        if diff:
            drifted.append(row.container)
            found.details.append(f"{row.container}: {', '.join(diff)}")
    wanted = ", ".join(f"{k}={v}" for k, v in facts.expect)
    if drifted:
        found.problem(
            Status.CRITICAL,
            f"{len(drifted)} of {len(facts.containers)} containers differ from {wanted}: "
            + _named(drifted),
            f"set {wanted} in {facts.file} of those containers",
        )
    if unreadable:
        found.problem(
            Status[options.unreadable_status],
            f"{len(unreadable)} without a readable {facts.file}: {_named(unreadable)}",
        )
    found.metrics.extend(
        [
            Metric("containers", len(facts.containers), min=0),
            Metric("drifted", len(drifted), min=0),
            Metric("unreadable", len(unreadable), min=0),
        ]
    )
    return found.result("config-drift", f"{len(facts.containers)} containers have {wanted}")


CHECK = Check(
    "config-drift",
    "containers whose configuration key differs from [audit] expect",
    collect,
    judge,
    DriftOptions,
)
