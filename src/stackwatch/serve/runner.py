"""Runs the checks of ``stackwatch serve`` when scraped: each at most once per its minimum
interval, within its own time limit, and one run shared by every scrape that comes meanwhile.

Checks run in worker threads (the engine's SIGALRM limit works in the main thread only; commands
carry their own timeouts through Host). A scrape waits for the runs it started or found going
until its own deadline, then answers with what it has: a run still going leaves the previous
result in place, marked stale (or UNKNOWN where there is none yet). A run past its check's time
limit is UNKNOWN, and no second run of that check starts until the first returns, so a hung
smartctl never piles up threads.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, wait
from typing import Any, TypeVar

from stackwatch.core.config import Config
from stackwatch.core.engine import run_check
from stackwatch.core.host import DEFAULT_COMMAND_TIMEOUT, Host
from stackwatch.core.record import dataclass
from stackwatch.core.registry import Check
from stackwatch.core.result import Result, Status
from stackwatch.serve.settings import CheckSchedule
from stackwatch.serve.statestore import MemoryStateStore

T = TypeVar("T")


@dataclass(frozen=True)
class Served:
    """One check's part of an answer."""

    result: Result
    duration: float | None = None  # seconds its last finished run took; None: none finished
    finished_at: float | None = None  # wall-clock time that run finished
    stale: bool = False  # from an earlier run: the current one had not finished in time

    @property
    def success(self) -> bool:
        """The check came to a judgement (not UNKNOWN: failed, timed out, no result yet)."""
        return self.result.status is not Status.UNKNOWN


@dataclass(frozen=True)
class _Outcome:
    result: Result
    duration: float
    finished_at: float


class RunConfig(Config):
    """The configuration as the resident process reads it: each check's options are built once
    (building them from the TOML table costs a tenth of a millisecond, on every scrape)."""

    def check_options(self, check: str, cls: type[T]) -> T:
        key = ("check options", check, cls)
        options = self.cache.get(key)
        if options is None:
            options = self.cache[key] = super().check_options(check, cls)
        return options


def run_config(config: Config) -> RunConfig:
    return RunConfig(config.path, config.data)


class _Slot:
    """One check: its schedule, its last outcome and the run going now, if any."""

    def __init__(self, check: Check[Any, Any], schedule: CheckSchedule, host: Host) -> None:
        self.check = check
        self.schedule = schedule
        self.host = host
        self.last: _Outcome | None = None
        self.running: Future[None] | None = None
        self.started = -math.inf  # clock time of the latest run's start
        self.rerun = False  # run at the next scrape whatever the interval (settings changed)

    def due(self, now: float) -> bool:
        if self.running is not None:
            return False
        return self.rerun or now - self.started >= self.schedule.min_interval


class _Workers:
    """Daemon threads that run checks, started as needed: a check hung in the kernel can never
    keep the service from stopping (a ThreadPoolExecutor's threads are joined at exit)."""

    def __init__(self) -> None:
        self._tasks: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0

    def submit(self, task: Callable[[], None]) -> None:
        with self._lock:
            if self._idle > 0:
                self._idle -= 1
            else:
                threading.Thread(target=self._work, name="stackwatch-check", daemon=True).start()
        self._tasks.put(task)

    def _work(self) -> None:
        while True:
            self._tasks.get()()
            with self._lock:
                self._idle += 1


class CheckRunner:
    """The checks of the service, their schedules and their latest results."""

    def __init__(
        self,
        config: Config,
        store: MemoryStateStore,
        root: str = "/",
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._config = run_config(config)
        self._store = store
        self._root = root
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        self._slots: list[_Slot] = []
        self._workers = _Workers()

    def configure(
        self, checks: Sequence[Check[Any, Any]], schedules: Sequence[CheckSchedule], config: Config
    ) -> None:
        """Set (or change, on reload) the checks, their schedules and the configuration. A check
        kept keeps its last result, and runs again at the next scrape under its new settings."""
        with self._lock:
            old = {slot.check.name: slot for slot in self._slots}
            slots = []
            for check, schedule in zip(checks, schedules, strict=True):
                host = Host(self._root, timeout=min(schedule.timeout, DEFAULT_COMMAND_TIMEOUT))
                slot = old.get(check.name)
                if slot is None:
                    slot = _Slot(check, schedule, host)
                else:  # a run going on finishes into this same slot
                    slot.check, slot.schedule, slot.host = check, schedule, host
                    slot.rerun = True
                slots.append(slot)
            self._slots = slots
            self._config = run_config(config)

    @property
    def names(self) -> list[str]:
        return [slot.check.name for slot in self._slots]

    def results(self, within: float) -> list[Served]:
        """Every check's result, running those that are due; back within ``within`` seconds."""
        deadline = self._clock() + max(0.0, within)
        with self._lock:
            slots = self._slots  # a reload meanwhile applies from the next scrape on
            now = self._clock()
            for slot in slots:
                if slot.due(now):
                    self._start(slot, now)
            waiting = [(s.running, s.started + s.schedule.timeout) for s in slots if s.running]
        if waiting:
            until = min(deadline, max(limit for _, limit in waiting))
            futures = [future for future, _ in waiting if future is not None]
            wait(futures, timeout=max(0.0, until - self._clock()))
        with self._lock:
            now = self._clock()
            return [self._served(slot, now) for slot in slots]

    def _start(self, slot: _Slot, now: float) -> None:
        future: Future[None] = Future()
        slot.running, slot.started, slot.rerun = future, now, False
        config = self._config
        self._workers.submit(lambda: self._run(slot, config, now, future))

    def _run(self, slot: _Slot, config: Config, started: float, future: Future[None]) -> None:
        try:
            self._store.begin(slot.check.name)
            result = run_check(slot.check, slot.host, config, self._store)
        except BaseException as exc:  # run_check turns failures into UNKNOWN; this is the rest
            result = Result.unknown(slot.check.name, f"internal error: {type(exc).__name__}")
        duration = self._clock() - started
        if duration > slot.schedule.timeout:
            result = Result.unknown(
                slot.check.name,
                f"timed out: no answer within {slot.schedule.timeout:g} s (took {duration:.1f} s)",
            )
        with self._lock:
            slot.last = _Outcome(result, duration, self._wall())
            if slot.running is future:
                slot.running = None
        future.set_result(None)

    def _served(self, slot: _Slot, now: float) -> Served:
        last, name = slot.last, slot.check.name
        if slot.running is not None:
            age = now - slot.started
            if age > slot.schedule.timeout:
                return Served(
                    Result.unknown(
                        name,
                        f"timed out: no answer within {slot.schedule.timeout:g} s "
                        f"(still running after {age:.0f} s)",
                    ),
                    last.duration if last else None,
                    last.finished_at if last else None,
                )
            if last is None:
                return Served(
                    Result.unknown(name, f"no result yet: first run going for {age:.1f} s")
                )
            return Served(last.result, last.duration, last.finished_at, stale=True)
        if last is None:  # cannot happen: a slot is started before it is served
            return Served(Result.unknown(name, "no result yet: not run yet"))
        return Served(last.result, last.duration, last.finished_at)
