"""Nova's answers read into facts: real shapes read right, hostile ones refused with
AnswerError only (never a crash of another kind)."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackwatch.nova.answers import (
    AnswerError,
    console_token,
    fault_message,
    parse_console,
    parse_free,
    parse_migrations,
    parse_one_server,
    parse_providers,
    parse_servers,
    parse_services,
)

# Shapes as nova 34 answers them (captured from the integration tests' Nova).
SERVER = {
    "id": "0540af7e-f141-4547-9e78-b76892d09b2a",
    "name": "t1",
    "status": "ACTIVE",
    "OS-EXT-STS:task_state": None,
    "OS-EXT-SRV-ATTR:host": "compute-a",
    "OS-EXT-AZ:availability_zone": "nova",
    "created": "2026-12-01T17:32:09Z",
    "flavor": {"vcpus": 1, "ram": 512, "disk": 1, "ephemeral": 0, "swap": 0,
               "original_name": "m1.tiny", "extra_specs": {}},
    "os-extended-volumes:volumes_attached": [{"id": "vol-1", "delete_on_termination": False}],
    "tags": ["stackwatch-canary"],
}  # fmt: skip

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)


def test_a_server_as_nova_gives_it() -> None:
    [server] = parse_servers({"servers": [SERVER]})
    assert (server.host, server.zone, server.status, server.task_state) == (
        "compute-a", "nova", "ACTIVE", None,
    )  # fmt: skip
    assert server.flavor is not None and (server.flavor.vcpus, server.flavor.ram_mb) == (1, 512)
    assert server.volumes == ("vol-1",) and server.tags == ("stackwatch-canary",)
    assert parse_one_server({"server": SERVER}) == server


def test_a_flavor_link_before_2_47_has_no_sizes() -> None:
    old = dict(SERVER, flavor={"id": "1", "links": []})
    assert parse_servers({"servers": [old]})[0].flavor is None


@pytest.mark.parametrize(
    "body",
    [
        None, [], "<html>", {"servers": {}}, {"servers": [[]]}, {"servers": [dict(SERVER, id=5)]},
        {"servers": [dict(SERVER, flavor=dict(SERVER["flavor"], vcpus=-1))]},  # type: ignore[arg-type]
        {"servers": [dict(SERVER, flavor=dict(SERVER["flavor"], ram=float("nan")))]},  # type: ignore[arg-type]
        {"servers": [dict(SERVER, tags="a")]},
    ],
)  # fmt: skip
def test_wrong_shapes_are_refused_by_name(body: Any) -> None:
    with pytest.raises(AnswerError):
        parse_servers(body)


def test_console_url_and_its_token() -> None:
    url = "http://127.0.0.1:6080/vnc_lite.html?path=%3Ftoken%3Dd85c80f0-306e"
    console = parse_console({"remote_console": {"protocol": "vnc", "type": "novnc", "url": url}})
    assert console.token == "d85c80f0-306e"
    assert console_token("https://p/spice_auto.html?token=abc") == "abc"
    assert console_token("https://p/vnc_lite.html") is None
    with pytest.raises(AnswerError, match="not an http"):
        parse_console({"remote_console": {"url": "javascript:alert(1)", "type": "novnc"}})


def test_services_and_placement() -> None:
    [service] = parse_services({"services": [{
        "id": "u1", "host": "compute-a", "binary": "nova-compute", "state": "down",
        "status": "enabled", "forced_down": True, "zone": "nova"}]})  # fmt: skip
    assert service.forced_down and service.state == "down"
    with pytest.raises(AnswerError, match="forced_down"):
        parse_services({"services": [{"host": "h", "binary": "b", "state": "up",
                                      "status": "enabled", "forced_down": "no"}]})  # fmt: skip
    assert parse_providers({"resource_providers": [{"uuid": "u", "name": "compute-b"}]}) == {
        "u": "compute-b"
    }
    free = parse_free(
        "compute-b",
        {"inventories": {"VCPU": {"total": 4, "reserved": 0, "allocation_ratio": 4.0},
                         "MEMORY_MB": {"total": 8192, "reserved": 512}}},
        {"usages": {"VCPU": 3, "MEMORY_MB": 1024}},
    )  # fmt: skip
    assert free.free == {"VCPU": 13.0, "MEMORY_MB": 6656.0}


def test_fault_messages() -> None:
    body = {"conflictingRequest": {"code": 409, "message": "Service is unavailable at this time."}}
    assert fault_message(body) == "Service is unavailable at this time."
    assert fault_message("<html>" * 100).startswith("<html>")


@given(json_values)
def test_hostile_answers_raise_only_answer_error(body: Any) -> None:
    parsers = (parse_servers, parse_one_server, parse_services, parse_providers, parse_console,
               parse_migrations)  # fmt: skip
    for parser in parsers:
        with contextlib.suppress(AnswerError):
            parser(body)
    fault_message(body)


@given(st.dictionaries(st.text(max_size=10), json_values, max_size=6))
def test_hostile_servers_raise_only_answer_error(fields: dict[str, Any]) -> None:
    with contextlib.suppress(AnswerError):
        parse_servers({"servers": [dict(SERVER, **fields)]})


@given(json_values, json_values)
def test_hostile_placement_raises_only_answer_error(inventories: Any, usages: Any) -> None:
    with contextlib.suppress(AnswerError):
        parse_free("h", {"inventories": inventories}, {"usages": usages})


@given(st.text(max_size=200))
def test_any_url_gives_a_token_or_none(url: str) -> None:
    token = console_token(url)
    assert token is None or isinstance(token, str)
