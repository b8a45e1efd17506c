"""The resident process as systemd runs it: SIGHUP reloads (a bad file keeps the running
configuration and the log says why), SIGTERM stops it with the state saved for the restart, and a
start that cannot work ends in one line with the right exit code."""

from __future__ import annotations

import http.client
import signal
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.serve.conftest import Running, stop, wait_until

pytestmark = pytest.mark.integration


def checks_served(serve: Running) -> set[str]:
    connection = http.client.HTTPConnection("127.0.0.1", serve.port, timeout=30)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    prefix = 'stackwatch_check_success{check="'
    return {
        line[len(prefix) :].split('"')[0] for line in text.splitlines() if line.startswith(prefix)
    }


def test_sighup_reloads_and_sigterm_stops_with_the_state_saved(
    tmp_path: Path, start_serve: Callable[..., Running]
) -> None:
    config = tmp_path / "stackwatch.toml"
    config.write_text('[serve]\nchecks = ["links"]\n')
    state = tmp_path / "state"
    serve = start_serve("--config", str(config), "--state-dir", str(state))
    assert checks_served(serve) == {"links"}

    config.write_text('[serve]\nchecks = ["links", "no-such-check"]\n')
    serve.process.send_signal(signal.SIGHUP)
    wait_until(lambda: "reload failed" in serve.log_text(), 10, "the failed reload logged")
    assert "keeping the running configuration" in serve.log_text()
    assert "no-such-check" in serve.log_text()
    assert checks_served(serve) == {"links"}

    config.write_text('[serve]\nchecks = ["links", "tcp-retransmits"]\n')
    serve.process.send_signal(signal.SIGHUP)
    wait_until(lambda: checks_served(serve) == {"links", "tcp-retransmits"}, 10, "the reload")

    assert stop(serve) == 0
    assert {p.name for p in state.iterdir()} >= {"links.json", "tcp-retransmits.json"}
    assert "Traceback" not in serve.log_text()
    assert "stopped; state saved" in serve.log_text()


def test_a_bad_configuration_at_start_is_one_line_and_exit_2(
    tmp_path: Path, start_serve: Callable[..., Running]
) -> None:
    (tmp_path / "bad.toml").write_text('[serve]\nmin_interval = { links = "often" }\n')
    serve = start_serve("--config", "bad.toml", wait=False)
    assert serve.process.wait(30) == 2
    lines = serve.log_text().strip().splitlines()
    assert lines == [lines[0]] and "serve.min_interval.links: cannot read duration" in lines[0]


def test_a_busy_port_is_one_line_and_exit_1(
    tmp_path: Path, start_serve: Callable[..., Running]
) -> None:
    (tmp_path / "stackwatch.toml").write_text("")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        serve = start_serve("--config", "stackwatch.toml", port=port, wait=False)
        assert serve.process.wait(30) == 1
    assert serve.log_text().strip() == (
        f"stackwatch: cannot listen on 127.0.0.1:{port}: Address already in use"
    )
