import time
from pathlib import Path

from stackwatch.core.config import Config
from stackwatch.core.engine import Overrides, run_checks
from stackwatch.core.host import Host, HostError
from stackwatch.core.ranges import Range, parse_range
from stackwatch.core.record import dataclass
from stackwatch.core.registry import Check, CheckContext, NotApplicable
from stackwatch.core.result import Result, Status, judge_value
from stackwatch.core.state import StateStore


@dataclass(frozen=True)
class Opts:
    warning: Range | None = None
    critical: Range | None = None
    db: str = "default"


def judge(value: float, options: Opts) -> Result:
    return Result("t", judge_value(value, options.warning, options.critical), f"{options.db}")


def make(name: str, collect) -> Check:  # type: ignore[no-untyped-def,type-arg]
    return Check(name, "test", collect, judge, Opts)


def run(*checks, overrides=Overrides(), timeout=0):  # type: ignore[no-untyped-def]
    return run_checks(
        list(checks), Host("/"), Config(None, {}), StateStore("/nonexistent"), overrides, timeout
    )


def test_failures_become_unknown_and_others_still_run() -> None:
    def broken(ctx: CheckContext[Opts]) -> float:
        raise ZeroDivisionError("division by zero")

    def host_error(ctx: CheckContext[Opts]) -> float:
        raise HostError("cannot read /proc/x: Permission denied")

    def skip(ctx: CheckContext[Opts]) -> float:
        raise NotApplicable("no such hardware")

    results = run(make("a", broken), make("b", host_error), make("c", skip), make("d", lambda c: 1))
    assert [r.status for r in results] == [Status.UNKNOWN, Status.UNKNOWN, Status.OK, Status.OK]
    assert "ZeroDivisionError" in results[0].summary
    assert results[1].summary == "cannot read /proc/x: Permission denied"
    assert results[2].skipped and results[2].summary == "no such hardware"


def test_overrides_reach_the_options() -> None:
    over = Overrides(parse_range("5"), parse_range("10"), (("db", "tcp:127.0.0.1:1"),))
    results = run(make("a", lambda c: 7.0), overrides=over)
    assert results[0].status == Status.WARNING
    assert results[0].summary == "tcp:127.0.0.1:1"


def test_timeout_makes_unknown() -> None:
    def slow(ctx: CheckContext[Opts]) -> float:
        time.sleep(5)
        return 0.0

    started = time.monotonic()
    results = run(make("slow", slow), make("after", lambda c: 0.0), timeout=0.3)
    assert time.monotonic() - started < 2
    assert results[0].status == Status.UNKNOWN and "timed out" in results[0].summary
    assert results[1].status == Status.UNKNOWN and "limit ran out" in results[1].summary


def test_bad_config_is_unknown_naming_the_key(tmp_path: Path) -> None:
    config = Config(tmp_path / "c.toml", {"checks": {"a": {"warnin": "3"}}})
    results = run_checks([make("a", lambda c: 0.0)], Host("/"), config, StateStore(tmp_path))
    assert results[0].status == Status.UNKNOWN
    assert "checks.a.warnin: unknown key" in results[0].summary
