"""The service: a reload applies a good configuration and keeps the running one when the new one
is bad (saying why); the StatsD push and the textfile carry the same results as the scrape."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackwatch.serve.daemon import Flags, Service, load_setup
from tests.conftest import free_port


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "stackwatch.toml"
    path.write_text('[serve]\nchecks = ["links", "tcp-retransmits"]\n')
    return path


@pytest.fixture
def service(tmp_path: Path, config: Path) -> Iterator[Service]:
    flags = Flags(
        listen_address=f"127.0.0.1:{free_port()}",
        config=str(config),
        state_dir=str(tmp_path / "state"),
    )
    running = Service(flags, load_setup(flags))
    try:
        yield running
    finally:
        running.server.server_close()


def test_a_good_reload_applies(service: Service, config: Path) -> None:
    config.write_text('[serve]\nchecks = ["links"]\ntelemetry_path = "/m"\n')
    service.reload()
    assert service.runner.names == ["links"]
    assert service.server.web.telemetry_path == "/m"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('[serve]\nchecks = ["linkz"]\n', "no such check 'linkz'"),
        ("[serve\n", "invalid TOML"),
        ('[serve]\nweb_config_file = "/nonexistent/web.yml"\n', "cannot read"),
    ],
)
def test_a_bad_reload_keeps_the_running_configuration(
    service: Service, config: Path, text: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    config.write_text(text)
    with caplog.at_level(logging.ERROR, logger="stackwatch.serve"):
        service.reload()
    assert service.runner.names == ["links", "tcp-retransmits"]
    assert service.server.web.telemetry_path == "/metrics"
    assert "reload failed, keeping the running configuration" in caplog.text
    assert reason in caplog.text


def test_the_textfile_is_written_for_node_exporter(
    service: Service, config: Path, tmp_path: Path
) -> None:
    textfiles = tmp_path / "textfiles"
    textfiles.mkdir()
    config.write_text(
        f'[serve]\nchecks = ["links"]\ntextfile_dir = "{textfiles}"\ntextfile_interval = "1h"\n'
    )
    service.reload()
    service.pusher.start()
    try:
        path = textfiles / "stackwatch.prom"
        for _ in range(100):
            if path.exists():
                break
            time.sleep(0.05)
        assert 'stackwatch_check_status{check="links"}' in path.read_text()
    finally:
        service.pusher.stop()


def test_statsd_gauges_are_pushed(service: Service, config: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(10)
        port = receiver.getsockname()[1]
        config.write_text(
            f'[serve]\nchecks = ["links"]\nstatsd = "127.0.0.1:{port}"\n'
            'statsd_prefix = "sw.test"\nstatsd_interval = "1h"\n'
        )
        service.reload()
        service.pusher.start()
        try:
            datagram = receiver.recv(2000).decode()
        finally:
            service.pusher.stop()
    assert "sw.test.links.status:" in datagram


def test_state_is_saved_for_a_restart(service: Service, tmp_path: Path) -> None:
    service.runner.results(10)
    assert not (tmp_path / "state" / "links.json").exists()
    service.pusher.save_state()
    assert (tmp_path / "state" / "links.json").exists()
