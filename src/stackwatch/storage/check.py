"""storage-baseline: the stored run of today against the stored baseline, test by test.

A controller or SSD whose throughput falls below a share of its baseline (a failing disk, a
battery-backed cache that went to write-through) is found before its users notice.
"""

from __future__ import annotations

from stackwatch.core.findings import Findings
from stackwatch.core.host import HostError
from stackwatch.core.record import dataclass
from stackwatch.core.registry import Check, CheckContext, NotApplicable
from stackwatch.core.result import Metric, Result, Status
from stackwatch.storage import store
from stackwatch.storage.results import Run
from stackwatch.storage.settings import StorageSettings
from stackwatch.storage.views import tests_of


@dataclass(frozen=True)
class BaselineFacts:
    baseline: Run
    current: Run
    warning: float
    critical: float


@dataclass(frozen=True)
class BaselineOptions:
    pass


def collect(ctx: CheckContext[BaselineOptions]) -> BaselineFacts:
    settings: StorageSettings = ctx.settings
    if not settings.baseline or not settings.current:
        raise NotApplicable("no [storage] baseline and current runs configured")
    try:
        base = store.load(ctx.host, settings.results_dir, settings.baseline)
        current = store.load(ctx.host, settings.results_dir, settings.current)
    except ValueError as exc:
        raise HostError(str(exc)) from None
    return BaselineFacts(base, current, settings.warning, settings.critical)


def judge(facts: BaselineFacts, options: BaselineOptions) -> Result:
    found = Findings()
    for test in tests_of([facts.baseline, facts.current]):
        base = facts.baseline.throughput.get(test)
        now = facts.current.throughput.get(test)
        if not base or now is None:
            continue
        share = 100.0 * now / base
        found.metrics.append(Metric("throughput", round(now, 1), "KiB/s", labels={"test": test}))
        found.metrics.append(Metric("of_baseline", round(share, 1), "%", labels={"test": test}))
        found.details.append(f"{test}: {now / 1024:.1f} MiB/s, {share:.0f}% of the baseline")
        status = (
            Status.CRITICAL
            if share < facts.critical
            else Status.WARNING
            if share < facts.warning
            else Status.OK
        )
        if status != Status.OK:
            found.problem(
                status,
                f"{test} at {share:.0f}% of {facts.baseline.name}",
                "look at the controller's cache and battery, the disks' SMART "
                "data, and what else used the storage during the run",
            )
    return found.result(
        "storage-baseline",
        f"{facts.current.name} within {facts.warning:.0f}% of {facts.baseline.name}",
    )


CHECK = Check(
    "storage-baseline",
    "the stored storage run of today against the stored baseline, test by test",
    collect,
    judge,
    BaselineOptions,
)
