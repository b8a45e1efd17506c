"""The [serve] section and the flags: defaults a user can rely on, errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackwatch.core.config import ConfigError, load_config, settings_for
from stackwatch.serve.daemon import Flags, SetupError, load_setup
from stackwatch.serve.settings import (
    DEFAULT_LISTEN,
    ListenAddress,
    ServeSettings,
    parse_listen_address,
)


def settings_from(tmp_path: Path, text: str) -> ServeSettings:
    path = tmp_path / "stackwatch.toml"
    path.write_text(text)
    return settings_for(load_config(path, required=True), "serve")  # type: ignore[no-any-return]


def test_defaults_listen_on_loopback_beside_node_exporter() -> None:
    assert DEFAULT_LISTEN == "127.0.0.1:19100"
    assert parse_listen_address(DEFAULT_LISTEN) == ListenAddress("127.0.0.1", 19100)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9100", ListenAddress("127.0.0.1", 9100)),
        ("[::1]:19100", ListenAddress("::1", 19100)),
        (":19100", ListenAddress("", 19100)),
        ("localhost:80", ListenAddress("localhost", 80)),
    ],
)
def test_listen_addresses_as_go_exporters_read_them(text: str, expected: ListenAddress) -> None:
    assert parse_listen_address(text) == expected
    assert str(expected) == text


@pytest.mark.parametrize("text", ["19100", "127.0.0.1", "127.0.0.1:0", "1.2.3.4:65536", "::1:80"])
def test_bad_listen_addresses_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="invalid listen address"):
        parse_listen_address(text)


def test_cheap_checks_run_on_every_scrape_and_smart_every_half_hour(tmp_path: Path) -> None:
    settings = settings_from(tmp_path, "")
    for cheap in ("conntrack", "links", "tcp-retransmits"):
        assert settings.schedule(cheap).min_interval == 0
    assert settings.schedule("disk-smart").min_interval == 1800
    assert settings.schedule("processes").min_interval == 60
    assert settings.schedule("links").timeout > 0


def test_per_check_intervals_and_timeouts_from_the_file(tmp_path: Path) -> None:
    settings = settings_from(
        tmp_path,
        '[serve]\nmin_interval = { disk-smart = "1h", links = 5 }\n'
        'timeout = { disk-smart = "3m" }\n',
    )
    assert settings.schedule("disk-smart").min_interval == 3600
    assert settings.schedule("disk-smart").timeout == 180
    assert settings.schedule("links").min_interval == 5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('listen_address = "19100"', "serve.listen_address: invalid listen address"),
        ('telemetry_path = "metrics"', "serve.telemetry_path: invalid telemetry path"),
        ('telemetry_path = "/-/healthy"', "serve.telemetry_path"),
        ("max_requests = 0", "serve.max_requests: must be at least 1"),
        ('checks = ["links", "linkz"]', "serve.checks[1]: no such check 'linkz'"),
        ('min_interval = { smart = "1h" }', "serve.min_interval.smart: no such check"),
        ('min_interval = { links = "soon" }', "serve.min_interval.links: cannot read duration"),
        ("timeout = { links = 0 }", "serve.timeout.links: must be above 0"),
        ('scrape_timeout = "-1s"', "serve.scrape_timeout: cannot read duration"),
        ('statsd = "localhost"', "serve.statsd: invalid StatsD address"),
        ('textfile_interval = "0s"', "serve.textfile_interval: must be above 0"),
        ("listen = 1", "serve.listen: unknown key"),
    ],
)
def test_mistakes_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        settings_from(tmp_path, f"[serve]\n{text}\n")


def test_flags_win_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "stackwatch.toml"
    path.write_text('[serve]\nlisten_address = "127.0.0.1:1"\ntelemetry_path = "/m"\n')
    setup = load_setup(Flags(listen_address="127.0.0.1:2", telemetry_path="/x", config=str(path)))
    assert setup.listen == ListenAddress("127.0.0.1", 2)
    assert setup.telemetry_path == "/x"
    from_file = load_setup(Flags(config=str(path)))
    assert from_file.listen == ListenAddress("127.0.0.1", 1)
    assert from_file.telemetry_path == "/m"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (Flags(listen_address="nowhere"), "--web.listen-address: invalid listen address"),
        (Flags(telemetry_path="metrics"), "--web.telemetry-path: invalid telemetry path"),
        (Flags(max_requests=0), "--web.max-requests: must be at least 1"),
        (Flags(web_config_file="/nonexistent/web.yml"), "cannot read /nonexistent/web.yml"),
    ],
)
def test_bad_flags_name_the_flag(tmp_path: Path, flags: Flags, message: str) -> None:
    path = tmp_path / "empty.toml"
    path.write_text("")
    from stackwatch.core.record import replace

    with pytest.raises(SetupError, match=message):
        load_setup(replace(flags, config=str(path)))


def test_every_check_by_default_and_the_named_ones_otherwise(tmp_path: Path) -> None:
    from stackwatch.core.registry import check_names

    path = tmp_path / "stackwatch.toml"
    path.write_text("")
    assert [c.name for c in load_setup(Flags(config=str(path))).checks] == check_names()
    path.write_text('[serve]\nchecks = ["links", "conntrack", "links"]\n')
    assert [c.name for c in load_setup(Flags(config=str(path))).checks] == ["links", "conntrack"]
