"""Runs checks: options from the configuration and the command line, a time limit, and every
failure inside a check turned into UNKNOWN with its reason so that the other checks still run."""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from stackwatch.core import record
from stackwatch.core.config import Config, settings_for
from stackwatch.core.host import Host, HostError
from stackwatch.core.ranges import Range
from stackwatch.core.registry import Check, CheckContext, CheckState, NotApplicable
from stackwatch.core.result import Metric, Result, Status
from stackwatch.core.state import StateStore

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs a Nagios call more than a check: for the type checker only
    from typing import Any


class CheckTimeout(Exception):
    pass


@record.dataclass(frozen=True)
class Overrides:
    """-w/-c from the command line, applied to the main figure of a single check."""

    warning: Range | None = None
    critical: Range | None = None
    # Other command-line settings (such as --db) given to every check whose options have that
    # field; checks without it ignore them.
    fields: tuple[tuple[str, Any], ...] = ()


def options_for(check: Check[Any, Any], config: Config, overrides: Overrides) -> Any:
    """The check's options: defaults, then ``[checks.NAME]``, then the command line."""
    options = config.check_options(check.name, check.options)
    known = {f.name for f in record.fields(options)}
    changes: dict[str, Any] = {k: v for k, v in overrides.fields if k in known and v is not None}
    if overrides.warning is not None:
        changes["warning"] = overrides.warning
    if overrides.critical is not None:
        changes["critical"] = overrides.critical
    return record.replace(options, **changes) if changes else options


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """SIGALRM-based limit for the main thread (commands carry their own timeouts too)."""
    if seconds <= 0 or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise CheckTimeout(f"no answer within {seconds:g} s")

    try:
        previous = signal.signal(signal.SIGALRM, expire)
    except ValueError:  # not the main thread
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_check(
    check: Check[Any, Any],
    host: Host,
    config: Config,
    store: StateStore,
    overrides: Overrides = Overrides(),
    timeout: float = 0,
) -> Result:
    """Collect and judge one check; never raises for a failure inside the check."""
    try:
        options = options_for(check, config, overrides)
        settings = _capability_settings(check, config)
    except Exception as exc:  # a ConfigError names the key; shown as the check's UNKNOWN
        return Result.unknown(check.name, str(exc))
    context = CheckContext(host, options, CheckState(store, check.name), config, settings)
    try:
        with _time_limit(timeout):
            facts = check.collect(context)
            result = check.judge(facts, options)
    except NotApplicable as exc:
        return Result.skip(check.name, str(exc))
    except CheckTimeout as exc:
        return Result.unknown(check.name, f"timed out: {exc}")
    except HostError as exc:
        return Result.unknown(check.name, str(exc))
    except Exception as exc:
        return Result.unknown(check.name, f"internal error: {type(exc).__name__}: {exc}")
    if context.notes:
        result = record.replace(result, details=(*result.details, *context.notes))
    return refuse_non_finite(with_state_problems(result, store))


def with_state_problems(result: Result, store: StateStore) -> Result:
    """What the check could not keep between runs is said in its own output (NRPE drops
    stderr): in its details, and, where its state could not be saved, as a WARNING where it was
    OK, since its rates will be missing next time (a discarded state only restarts them)."""
    problems = store.problems.get(result.check, [])
    notes = [store.note] if store.note and result.check in store.used else []
    if not problems and not notes:
        return result
    status = result.status
    if result.check in store.unsaved and status is Status.OK and not result.skipped:
        status = Status.WARNING
    summary = result.summary if status is result.status else f"{result.summary}; {problems[0]}"
    return record.replace(
        result, status=status, summary=summary, details=(*result.details, *problems, *notes)
    )


def _capability_settings(check: Check[Any, Any], config: Config) -> Any:
    from stackwatch.core.capability import check_owners

    owner = check_owners().get(check.name)
    return settings_for(config, owner.name) if owner else None


def refuse_non_finite(result: Result) -> Result:
    """A check whose figures hold NaN or infinity cannot be trusted: UNKNOWN, naming them.
    No renderer ever sees a non-finite number."""
    bad = [m.label for m in result.metrics if not _finite_metric(m)]
    if not bad:
        return result
    return Result(
        result.check,
        Status.UNKNOWN,
        f"not a finite number: {', '.join(bad)}",
        tuple(m for m in result.metrics if _finite_metric(m)),
        (f"the check produced: {result.summary}", *result.details),
    )


def _finite_metric(metric: Metric) -> bool:
    # a range may be open (an infinite end); it may never be NaN
    ends = [e for r in (metric.warn, metric.crit) if r is not None for e in (r.start, r.end)]
    numbers = [n for n in (metric.value, metric.min, metric.max) if n is not None]
    return all(math.isfinite(n) for n in numbers) and not any(math.isnan(e) for e in ends)


def run_checks(
    checks: Sequence[Check[Any, Any]],
    host: Host,
    config: Config,
    store: StateStore,
    overrides: Overrides = Overrides(),
    timeout: float = 0,
) -> list[Result]:
    """Run every check within one overall time budget (each gets what is left of it)."""
    deadline = time.monotonic() + timeout if timeout > 0 else None
    results = []
    for check in checks:
        left = 0.0
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                results.append(
                    Result(check.name, Status.UNKNOWN, f"not run: the {timeout:g} s limit ran out")
                )
                continue
        results.append(run_check(check, host, config, store, overrides, left))
    return results
