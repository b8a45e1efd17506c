"""Starting `stackwatch serve` and Debian's Prometheus on 127.0.0.1 for a test; stopping both."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PROJECT, free_port


@dataclass
class Running:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def wait_for_port(running: Running, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            raise AssertionError(f"exited {running.process.returncode}: {running.log_text()}")
        try:
            with socket.create_connection(("127.0.0.1", running.port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on {running.port}: {running.log_text()}")


def stop(running: Running) -> int:
    """SIGTERM, then SIGKILL if it does not end within 15 s; the exit status."""
    if running.process.poll() is None:
        running.process.send_signal(signal.SIGTERM)
        try:
            running.process.wait(15)
        except subprocess.TimeoutExpired:
            running.process.kill()
            running.process.wait()
    return running.process.returncode


@pytest.fixture
def start_serve(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    """Start ``stackwatch serve ARGS`` on a free loopback port; every one is stopped at the end."""
    started: list[Running] = []

    def start(*args: str, port: int | None = None, wait: bool = True) -> Running:
        port = port or free_port()
        log = tmp_path / f"serve-{port}.log"
        env = dict(os.environ, PYTHONPATH=str(PROJECT / "src"))
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "stackwatch.cli", "serve",
                 "--web.listen-address", f"127.0.0.1:{port}", *args],
                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp_path,
            )  # fmt: skip
        running = Running(process, port, log)
        started.append(running)
        if wait:
            wait_for_port(running)
        return running

    yield start
    for running in started:
        stop(running)


@pytest.fixture
def start_prometheus(tmp_path: Path) -> Iterator[Callable[[str], Running]]:
    """Start Debian's Prometheus with the given configuration, its storage in tmp_path."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed (apt-get install prometheus)")
    started: list[Running] = []

    def start(config: str) -> Running:
        port = free_port()
        directory = tmp_path / f"prometheus-{port}"
        directory.mkdir()
        (directory / "prometheus.yml").write_text(config)
        log = directory / "log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [binary, f"--config.file={directory / 'prometheus.yml'}",
                 f"--storage.tsdb.path={directory / 'data'}",
                 f"--web.listen-address=127.0.0.1:{port}"],
                stdout=out, stderr=subprocess.STDOUT, cwd=directory,
            )  # fmt: skip
        running = Running(process, port, log)
        started.append(running)
        wait_for_port(running)
        return running

    yield start
    for running in started:
        stop(running)


def prometheus_api(prometheus: Running, path: str, **params: str) -> Any:
    query = urllib.parse.urlencode(params)
    url = f"http://127.0.0.1:{prometheus.port}/api/v1/{path}" + (f"?{query}" if query else "")
    with urllib.request.urlopen(url, timeout=10) as answer:
        body = json.load(answer)
    assert body["status"] == "success", body
    return body["data"]


def wait_until(condition: Callable[[], Any], seconds: float, what: str) -> Any:
    """Poll ``condition`` every half second until it returns something true."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds:g} s: {what}")
        time.sleep(0.5)
