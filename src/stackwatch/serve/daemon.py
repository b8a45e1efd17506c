"""The resident process: reads its configuration, listens, pushes to StatsD and the textfile
directory on its own schedule, and answers signals: SIGHUP reloads (a bad configuration keeps the
running one, and the log says why), SIGTERM and SIGINT stop it cleanly with the state saved.

Signals are taken the synchronous way: their handlers do nothing, Python writes each signal's
number to a pipe, and the main thread reads the pipe between tasks, so no reload or stop ever runs
in the middle of another piece of work.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from stackwatch.core.config import (
    DEFAULT_CONFIG,
    Config,
    ConfigError,
    check_sections_known,
    load_config,
    settings_for,
)
from stackwatch.core.exits import FAILED, OK, fail, usage_error
from stackwatch.core.record import dataclass
from stackwatch.core.registry import Check, check_names, get_check
from stackwatch.core.state import DEFAULT_STATE_DIR
from stackwatch.render.safe import printable
from stackwatch.serve.runner import CheckRunner
from stackwatch.serve.settings import (
    CheckSchedule,
    ListenAddress,
    ServeSettings,
    check_telemetry_path,
    parse_listen_address,
)
from stackwatch.serve.statestore import MemoryStateStore
from stackwatch.serve.web import ExporterServer, web_settings
from stackwatch.serve.webconfig import WebConfigError, WebSecurity, load_web_security

log = logging.getLogger("stackwatch.serve")

SERVE_STATE_DIR = f"{DEFAULT_STATE_DIR}/serve"  # apart from `stackwatch check`'s own state
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass(frozen=True)
class Flags:
    """The command line; None means: from ``[serve]``, else the default."""

    listen_address: str | None = None
    web_config_file: str | None = None
    telemetry_path: str | None = None
    max_requests: int | None = None
    config: str | None = None
    state_dir: str | None = None
    root: str = "/"


class SetupError(Exception):
    """A configuration the service cannot start (or reload) with; the message says why."""


@dataclass(frozen=True)
class Setup:
    """Everything read from the files and the flags, validated: what a start or reload applies."""

    config: Config
    settings: ServeSettings
    listen: ListenAddress
    telemetry_path: str
    max_requests: int
    checks: list[Check[Any, Any]]
    schedules: list[CheckSchedule]
    security: WebSecurity


def load_setup(flags: Flags) -> Setup:
    """Read the configuration files and the flags; SetupError says what is wrong."""
    try:
        config = load_config(flags.config or DEFAULT_CONFIG, required=flags.config is not None)
        check_sections_known(config)
        settings: ServeSettings = settings_for(config, "serve")
        web_config = flags.web_config_file or settings.web_config_file
        security = load_web_security(web_config)
    except (ConfigError, WebConfigError) as exc:
        raise SetupError(str(exc)) from None
    names = list(dict.fromkeys(settings.checks or check_names()))
    return Setup(
        config=config,
        settings=settings,
        listen=_flag("--web.listen-address", flags.listen_address, settings.listen_address,
                     parse_listen_address),
        telemetry_path=_flag("--web.telemetry-path", flags.telemetry_path,
                             settings.telemetry_path, check_telemetry_path),
        max_requests=_flag("--web.max-requests", flags.max_requests, settings.max_requests,
                           _at_least_one),
        checks=[get_check(name) for name in names],
        schedules=[settings.schedule(name) for name in names],
        security=security,
    )  # fmt: skip


def _flag(name: str, given: Any, configured: Any, parse: Callable[[Any], Any]) -> Any:
    """The flag's value where given (checked, naming the flag), else the validated setting."""
    if given is None:
        return parse(configured)
    try:
        return parse(given)
    except ValueError as exc:
        raise SetupError(f"{name}: {exc}") from None


def _at_least_one(value: int) -> int:
    if value < 1:
        raise ValueError(f"must be at least 1, got {value}")
    return value


@dataclass(frozen=True)
class _Task:
    interval: float
    action: Callable[[], None]
    at_start: bool  # run once at the start too, not only after the first interval


class Pusher:
    """StatsD pushes, textfile writes and state saves, each on its own interval, in a thread of
    their own: a slow StatsD name lookup delays neither a scrape nor a signal."""

    def __init__(self, runner: CheckRunner, store: MemoryStateStore) -> None:
        self._runner = runner
        self._store = store
        self._wake = threading.Event()
        self._stopping = False
        self._tasks: list[_Task] = []
        self._thread = threading.Thread(target=self._loop, name="stackwatch-push", daemon=True)

    def configure(self, settings: ServeSettings) -> None:
        tasks = [_Task(settings.seconds_of("state_save_interval"), self.save_state, False)]
        within = settings.seconds_of("scrape_timeout")
        if settings.statsd:
            host = socket.gethostname().replace(".", "_")
            prefix = settings.statsd_prefix or f"stackwatch.{host}"
            push = _statsd_push(self._runner, settings.statsd, prefix, within)
            tasks.append(_Task(settings.seconds_of("statsd_interval"), push, True))
        if settings.textfile_dir:
            write = _textfile_write(self._runner, settings.textfile_dir, within)
            tasks.append(_Task(settings.seconds_of("textfile_interval"), write, True))
        self._tasks = tasks
        self._wake.set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    def save_state(self) -> None:
        for problem in self._store.flush():
            log.warning("%s (rates go on from memory; a restart would start them over)", problem)

    def _loop(self) -> None:
        while not self._stopping:
            tasks = self._tasks  # replaced whole by configure(): then the schedule starts over
            now = time.monotonic()
            due = [now if task.at_start else now + task.interval for task in tasks]
            while not self._stopping and tasks is self._tasks:
                for i, task in enumerate(tasks):
                    if due[i] <= time.monotonic():
                        _run_task(task.action)
                        due[i] = time.monotonic() + task.interval
                self._wake.wait(max(0.0, min(due) - time.monotonic()))
                self._wake.clear()


def _run_task(action: Callable[[], None]) -> None:
    try:
        action()
    except Exception:  # a bug of ours: logged, and the next interval tries again
        log.exception("periodic task failed")


def _statsd_push(
    runner: CheckRunner, address: str, prefix: str, within: float
) -> Callable[[], None]:
    def push() -> None:
        from stackwatch.render.statsd import StatsdError, send_statsd

        try:
            send_statsd([s.result for s in runner.results(within)], address, prefix)
        except StatsdError as exc:
            log.warning("%s", printable(str(exc)))

    return push


def _textfile_write(runner: CheckRunner, directory: str, within: float) -> Callable[[], None]:
    def write() -> None:
        from stackwatch.render import render
        from stackwatch.render.prometheus import write_textfile

        try:
            write_textfile(
                directory, render([s.result for s in runner.results(within)], "prometheus")
            )
        except OSError as exc:
            log.warning("cannot write the textfile in %s: %s", directory, exc.strerror or exc)

    return write


class Service:
    """The running exporter: its server, its runner, its state and its pushes."""

    def __init__(self, flags: Flags, setup: Setup) -> None:
        self.flags = flags
        self.setup = setup
        state_dir = flags.state_dir or SERVE_STATE_DIR
        self.store = MemoryStateStore(state_dir, fallback=flags.state_dir is None)
        self.runner = CheckRunner(setup.config, self.store, flags.root)
        self.runner.configure(setup.checks, setup.schedules, setup.config)
        self.server = ExporterServer(setup.listen, self.runner, self._web(setup))
        self.pusher = Pusher(self.runner, self.store)
        self.pusher.configure(setup.settings)

    @staticmethod
    def _web(setup: Setup) -> Any:
        timeout = setup.settings.seconds_of("scrape_timeout")
        return web_settings(setup.telemetry_path, timeout, setup.security, setup.max_requests)

    def run(self) -> int:
        """Serve until SIGTERM or SIGINT; reload on SIGHUP."""
        signals = _signal_pipe()
        threading.Thread(target=self.server.serve, name="stackwatch-http", daemon=True).start()
        self.pusher.start()
        self._log_started()
        try:
            while True:
                received = _wait_for_signals(signals)
                if any(s in received for s in STOP_SIGNALS):
                    break
                if signal.SIGHUP in received:
                    self.reload()
        finally:
            self.stop()
        return OK

    def _log_started(self) -> None:
        tls = " (TLS)" if self.setup.security.tls else ""
        auth = ", basic auth" if self.setup.security.auth else ""
        log.info(
            "listening on %s%s%s: %s; %d checks, state in %s",
            self.setup.listen, tls, auth, self.setup.telemetry_path, len(self.setup.checks),
            self.store.directory,
        )  # fmt: skip
        if self.store.note:
            log.warning("%s", self.store.note)

    def reload(self) -> None:
        """Apply the configuration files again; a bad one keeps the running configuration."""
        try:
            setup = load_setup(self.flags)
        except SetupError as exc:
            log.error("reload failed, keeping the running configuration: %s", printable(str(exc)))
            return
        if setup.listen != self.setup.listen:
            log.warning(
                "listen address %s takes a restart; still on %s", setup.listen, self.setup.listen
            )
        self.runner.configure(setup.checks, setup.schedules, setup.config)
        self.server.web = self._web(setup)
        self.pusher.configure(setup.settings)
        self.setup = setup
        log.info("configuration reloaded: %d checks", len(setup.checks))

    def stop(self) -> None:
        self.pusher.stop()
        self.server.stop()
        self.pusher.save_state()
        log.info("stopped; state saved in %s", self.store.directory)


def _signal_pipe() -> int:
    """The read end of a pipe that receives the number of every HUP, TERM and INT."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    signal.set_wakeup_fd(write_end)
    for number in (signal.SIGHUP, *STOP_SIGNALS):
        signal.signal(number, _ignore)
    return read_end


def _ignore(number: int, frame: object) -> None:
    """The pipe carries the signal; nothing to do here."""


def _wait_for_signals(read_end: int) -> set[int]:
    select.select([read_end], [], [])
    return set(os.read(read_end, 64))


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
MMAP_THRESHOLD = 128 * 1024  # glibc's default, fixed


def keep_large_blocks_out_of_the_heap() -> None:
    """glibc raises its mmap threshold each time a large block is freed; from then on blocks of
    about a megabyte (CPython's table of interned strings, reallocated as pathlib interns the
    parts of every path the checks read) come from the heap, where the small allocations of the
    other threads fragment it, and resident memory grows by a megabyte every half minute under
    load. A fixed threshold keeps them in mappings of their own, given back when freed."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return  # not glibc: nothing to tune
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)


def serve(flags: Flags) -> int:
    """``stackwatch serve``: run, or end with one clear line (2: configuration, 1: no listening)."""
    logging.basicConfig(
        level=logging.INFO, format="stackwatch serve: %(levelname)s: %(message)s", stream=sys.stderr
    )
    try:
        setup = load_setup(flags)
    except SetupError as exc:
        usage_error(str(exc))
    keep_large_blocks_out_of_the_heap()
    try:
        service = Service(flags, setup)
    except OSError as exc:
        fail(f"cannot listen on {setup.listen}: {exc.strerror or exc}", FAILED)
    return service.run()
