"""A real transfer through a router that removes the window-scale option from the SYN-ACK, caught
by `stackwatch tcp diagnose --capture` (real tcpdump in the client's namespace); and the same
transfer through a router that leaves TCP alone, which it must call healthy."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.conftest import PROJECT, run_stackwatch

from .conftest import SERVER_ADDRESS, Path3

PORT = "5201"


def _diagnose_during_transfer(path: Path3, saved: Path) -> tuple[int, dict[str, Any], str]:
    """Capture in the client's namespace while iperf3 sends for one second to the server."""
    server = subprocess.Popen(
        ["ip", "netns", "exec", path.server,
         "iperf3", "-s", "-1", "-B", SERVER_ADDRESS, "-p", PORT],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    env = {"PYTHONPATH": str(PROJECT / "src")}
    diagnose = subprocess.Popen(
        [sys.executable, "-m", "stackwatch.cli", "tcp", "diagnose", "--capture", path.client_link,
         "--netns", path.client, "--seconds", "4", "--filter", f"tcp port {PORT}",
         "--save", str(saved), "--format", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        _wait_for(lambda: saved.exists() and saved.stat().st_size > 0, 5)  # tcpdump is running
        path.run(path.client, "iperf3", "-c", SERVER_ADDRESS, "-p", PORT, "-t", "1", "-b", "40M")
        out, err = diagnose.communicate(timeout=30)
    finally:
        diagnose.kill()
        server.kill()
        server.wait()
    return diagnose.returncode, json.loads(out), err


def _wait_for(condition: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "tcpdump did not start"
        time.sleep(0.05)


def _data_connection(report: dict[str, Any]) -> dict[str, Any]:
    """iperf3 opens a control connection and a data connection: the one that carried most."""
    return max(report["connections"], key=lambda c: c["sides"][0]["bytes_sent"])


def test_a_router_that_strips_the_window_scale_is_found(routed: Path3, tmp_path: Path) -> None:
    routed.strip_window_scale()
    code, report, err = _diagnose_during_transfer(routed, tmp_path / "broken.pcap")
    assert code == 4, err
    data = _data_connection(report)
    client, server = data["sides"]
    assert client["syn"]["wscale"] is not None and server["syn"]["wscale"] is None
    kinds = {f["kind"] for f in data["findings"]}
    assert {"one-sided-scale", "unscaled-bound"} <= kinds
    # the server's windows are tiny numbers read as bytes: the crawl the issue describes
    assert max(value for _, value in server["windows"]) < 1024
    assert client["bytes_sent"] < 1_000_000
    assert report["fixes"]
    # the capture it kept reads the same, and the text names the cause in words
    again = run_stackwatch("tcp", "diagnose", str(tmp_path / "broken.pcap"))
    assert again.returncode == 4
    assert "window scale negotiated by one side only" in again.stdout
    assert "tcp_window_scaling=0" in again.stdout and "--max-scale" in again.stdout


def test_the_same_transfer_without_the_broken_router_is_healthy(
    routed: Path3, tmp_path: Path
) -> None:
    code, report, err = _diagnose_during_transfer(routed, tmp_path / "healthy.pcap")
    assert code == 0, err
    data = _data_connection(report)
    client, server = data["sides"]
    assert data["scaling"] is True
    assert client["syn"]["wscale"] is not None and server["syn"]["wscale"] is not None
    assert not [f for f in data["findings"] if f["kind"] != "retransmissions"]
    assert max(value for _, value in server["windows"]) > 65535  # scaled past 64 KB
    assert client["bytes_sent"] > 1_000_000
    assert report["fixes"] == []


def test_a_capture_that_cannot_start_is_one_line_and_exit_1() -> None:
    result = run_stackwatch(
        "tcp", "diagnose", "--capture", "no-such-if0", "--seconds", "2", timeout=30
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("stackwatch: capture on no-such-if0 failed: tcpdump exited")
    assert len(result.stderr.strip().splitlines()) == 1
