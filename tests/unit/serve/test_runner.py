"""Checks run on scrape: cached for their minimum interval, one run shared by concurrent scrapes,
and a slow or hung check never holds back the answer beyond the scrape's deadline."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stackwatch.core.config import Config
from stackwatch.core.registry import Check, CheckContext
from stackwatch.core.result import Result, Status
from stackwatch.serve.runner import CheckRunner
from stackwatch.serve.settings import CheckSchedule
from stackwatch.serve.statestore import MemoryStateStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def counting_check(name: str, calls: list[str], wait: threading.Event | None = None) -> Check:  # type: ignore[type-arg]
    def collect(ctx: CheckContext[Any]) -> int:
        calls.append(name)
        if wait is not None:
            wait.wait(10)
        return len(calls)

    def judge(facts: int, options: Any) -> Result:
        return Result(name, Status.OK, f"run {facts}")

    return Check(name, "test", collect, judge)


def runner_for(
    tmp_path: Path,
    checks: list[Check],  # type: ignore[type-arg]
    interval: float = 0.0,
    timeout: float = 30.0,
    clock: Callable[[], float] = time.monotonic,
) -> CheckRunner:
    runner = CheckRunner(Config(None, {}), MemoryStateStore(tmp_path), clock=clock)
    schedules = [CheckSchedule(c.name, interval, timeout) for c in checks]
    runner.configure(checks, schedules, Config(None, {}))
    return runner


def test_a_result_is_kept_for_the_minimum_interval(tmp_path: Path) -> None:
    calls: list[str] = []
    clock = Clock()
    runner = runner_for(tmp_path, [counting_check("smart", calls)], interval=60, clock=clock)
    assert runner.results(5)[0].result.summary == "run 1"
    clock.now += 59
    assert runner.results(5)[0].result.summary == "run 1"
    clock.now += 2
    assert runner.results(5)[0].result.summary == "run 2"
    assert calls == ["smart", "smart"]


def test_cheap_checks_run_on_every_scrape(tmp_path: Path) -> None:
    calls: list[str] = []
    runner = runner_for(tmp_path, [counting_check("links", calls)], interval=0)
    summaries = [runner.results(5)[0].result.summary for _ in range(3)]
    assert summaries == ["run 1", "run 2", "run 3"]


def test_concurrent_scrapes_share_one_run(tmp_path: Path) -> None:
    calls: list[str] = []
    release = threading.Event()
    runner = runner_for(tmp_path, [counting_check("links", calls, release)])
    answers: list[str] = []

    def scrape() -> None:
        answers.append(runner.results(5)[0].result.summary)

    scrapers = [threading.Thread(target=scrape) for _ in range(8)]
    for thread in scrapers:
        thread.start()
    time.sleep(0.2)  # every scrape has arrived while the run is going
    release.set()
    for thread in scrapers:
        thread.join()
    assert calls == ["links"]
    assert answers == ["run 1"] * 8


def test_a_slow_check_does_not_hold_back_the_others(tmp_path: Path) -> None:
    calls: list[str] = []
    release = threading.Event()
    checks = [counting_check("slow", calls, release), counting_check("fast", calls)]
    runner = runner_for(tmp_path, checks)
    started = time.monotonic()
    slow, fast = runner.results(0.3)
    assert time.monotonic() - started < 1.5
    assert fast.result.status is Status.OK and fast.success
    assert slow.result.status is Status.UNKNOWN and not slow.success
    assert slow.result.summary.startswith("no result yet")
    release.set()
    first = runner.results(5)[0]
    assert first.result.status is Status.OK and not first.stale
    release.clear()  # the next run hangs again: the previous result is served, marked stale
    again = runner.results(0.3)[0]
    assert again.result == first.result and again.stale
    release.set()


def test_a_hung_check_is_unknown_after_its_timeout_and_never_started_twice(
    tmp_path: Path,
) -> None:
    calls: list[str] = []
    release = threading.Event()
    check = counting_check("hung", calls, release)
    runner = runner_for(tmp_path, [check], interval=3600, timeout=0.2)
    served = runner.results(1.0)[0]
    assert served.result.status is Status.UNKNOWN
    assert "timed out: no answer within 0.2 s" in served.result.summary
    started = time.monotonic()
    again = runner.results(5.0)[0]  # no waiting for a run already past its limit
    assert time.monotonic() - started < 1.0
    assert "timed out" in again.result.summary
    assert calls == ["hung"]
    release.set()
    time.sleep(0.2)
    late = runner.results(0)[0]  # its late answer still counts as timed out
    assert late.result.status is Status.UNKNOWN and "(took " in late.result.summary
    assert not late.stale


def test_a_failing_check_is_unknown_and_not_a_success(tmp_path: Path) -> None:
    def collect(ctx: CheckContext[Any]) -> int:
        raise RuntimeError("boom")

    check: Check = Check("broken", "test", collect, lambda f, o: Result("broken", Status.OK, ""))  # type: ignore[type-arg]
    served = runner_for(tmp_path, [check]).results(5)[0]
    assert served.result.status is Status.UNKNOWN and "RuntimeError" in served.result.summary
    assert not served.success
    assert served.duration is not None


def test_a_reload_keeps_results_and_reruns_under_the_new_schedule(tmp_path: Path) -> None:
    calls: list[str] = []
    clock = Clock()
    check = counting_check("smart", calls)
    runner = runner_for(tmp_path, [check], interval=3600, clock=clock)
    runner.results(5)
    runner.configure([check], [CheckSchedule("smart", 7200, 30)], Config(None, {}))
    assert runner.results(5)[0].result.summary == "run 2"
    assert runner.results(5)[0].result.summary == "run 2"
    added = counting_check("links", calls)
    runner.configure([added], [CheckSchedule("links", 0, 30)], Config(None, {}))
    assert runner.names == ["links"]
    assert [s.result.check for s in runner.results(5)] == ["links"]


@pytest.mark.parametrize("scrapes", [50])
def test_worker_threads_do_not_pile_up(tmp_path: Path, scrapes: int) -> None:
    calls: list[str] = []
    checks = [counting_check(f"c{i}", calls) for i in range(4)]
    runner = runner_for(tmp_path, checks)
    before = threading.active_count()
    for _ in range(scrapes):
        runner.results(5)
    assert threading.active_count() - before <= len(checks) + 1


def test_a_reload_during_a_scrape_applies_from_the_next_scrape(tmp_path: Path) -> None:
    calls: list[str] = []
    release = threading.Event()
    slow = counting_check("slow", calls, release)
    runner = runner_for(tmp_path, [slow])
    answers: list[list[str]] = []
    scrape = threading.Thread(
        target=lambda: answers.append([s.result.check for s in runner.results(5)])
    )
    scrape.start()
    time.sleep(0.2)  # the scrape waits for the slow check
    added = counting_check("added", calls)
    runner.configure(
        [slow, added],
        [CheckSchedule("slow", 0, 30), CheckSchedule("added", 0, 30)],
        Config(None, {}),
    )
    release.set()
    scrape.join()
    assert answers == [["slow"]]
    served = runner.results(5)
    assert [s.result.check for s in served] == ["slow", "added"]
    assert all(s.result.status is Status.OK for s in served)
