"""The checks' state in the resident process: in memory between scrapes, on disk for restarts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stackwatch.core.config import Config
from stackwatch.core.rates import counter_rates, counter_sample
from stackwatch.core.registry import Check, CheckContext
from stackwatch.core.result import Metric, Result, Status
from stackwatch.serve.runner import CheckRunner
from stackwatch.serve.settings import CheckSchedule
from stackwatch.serve.statestore import MemoryStateStore


def test_state_stays_in_memory_until_flushed(tmp_path: Path) -> None:
    store = MemoryStateStore(tmp_path)
    store.save("links", {"counters": {"rx": 1}})
    assert store.load("links") == {"counters": {"rx": 1}}
    assert not (tmp_path / "links.json").exists()
    assert store.flush() == []
    assert json.loads((tmp_path / "links.json").read_text()) == {"counters": {"rx": 1}}
    assert store.flush() == []  # nothing changed since: nothing written


def test_the_directory_is_read_once_at_start(tmp_path: Path) -> None:
    (tmp_path / "links.json").write_text('{"counters": {"rx": 5}}')
    store = MemoryStateStore(tmp_path)
    assert store.load("links") == {"counters": {"rx": 5}}
    (tmp_path / "links.json").write_text('{"counters": {"rx": 9}}')
    assert store.load("links") == {"counters": {"rx": 5}}


def test_a_damaged_file_is_said_once_then_forgotten(tmp_path: Path) -> None:
    (tmp_path / "links.json").write_text("{not json")
    store = MemoryStateStore(tmp_path)
    store.begin("links")
    assert store.load("links") == {}
    assert "corrupt" in store.problems["links"][0]
    store.save("links", {"ok": 1})
    store.begin("links")  # the next run
    assert store.load("links") == {"ok": 1}
    assert "links" not in store.problems


def test_a_state_that_cannot_be_written_is_said_and_tried_again(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    store = MemoryStateStore(blocker)
    store.save("links", {"a": 1})
    errors = store.flush()
    assert len(errors) == 1 and "cannot save state" in errors[0]
    assert store.load("links") == {"a": 1}  # the rates go on from memory
    blocker.unlink()
    assert store.flush() == []
    assert json.loads((blocker / "links.json").read_text()) == {"a": 1}


def rate_check() -> Check:  # type: ignore[type-arg]
    """A check with a counter rate, as links and tcp-retransmits have."""
    ticks = iter(range(100, 10000, 100))

    def collect(ctx: CheckContext[Any]) -> tuple[int, float | None]:
        value = next(ticks)
        rates = counter_rates(ctx.state.load().get("c"), {"n": value}, ctx.now)
        ctx.state.save({"c": counter_sample({"n": value}, ctx.now)})
        return value, rates.rates.get("n")

    def judge(facts: tuple[int, float | None], options: Any) -> Result:
        metrics = () if facts[1] is None else (Metric("rate", facts[1]),)
        return Result("counter", Status.OK, f"value {facts[0]}", metrics)

    return Check("counter", "test", collect, judge)


def test_rates_come_from_memory_from_the_second_scrape_and_survive_a_restart(
    tmp_path: Path,
) -> None:
    check = rate_check()
    store = MemoryStateStore(tmp_path)
    runner = CheckRunner(Config(None, {}), store)
    runner.configure([check], [CheckSchedule("counter", 0, 30)], Config(None, {}))
    assert runner.results(5)[0].result.metrics == ()
    assert [m.name for m in runner.results(5)[0].result.metrics] == ["rate"]
    assert not (tmp_path / "counter.json").exists()
    store.flush()
    restarted = CheckRunner(Config(None, {}), MemoryStateStore(tmp_path))
    restarted.configure([check], [CheckSchedule("counter", 0, 30)], Config(None, {}))
    assert [m.name for m in restarted.results(5)[0].result.metrics] == ["rate"]
