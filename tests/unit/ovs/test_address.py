"""The address of internal ports: ip -j addr replies (one recorded from the test switch) and
what differs from the layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackwatch.ovs.address import (
    AddressError,
    AddressTarget,
    DeviceState,
    declared_addresses,
    device_differences,
    parse_ip_addr_json,
)
from stackwatch.ovs.layout import load_layout

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ovs"
RECORDED = (FIXTURES / "replies" / "ip-addr-mgmt.json").read_text()
MGMT = AddressTarget("br-ex", "mgmt", "10.0.15.11/24")


def test_recorded_reply() -> None:
    # the kernel's link-local fe80:: address is not the device's address
    assert parse_ip_addr_json(RECORDED, "mgmt") == DeviceState("mgmt", True, ("10.0.15.11/24",))


def test_declared_addresses_of_the_classic_layout() -> None:
    layout = load_layout(str(FIXTURES / "openstack-compute.yaml"))
    assert declared_addresses(layout) == [MGMT]


def test_differences() -> None:
    assert device_differences(MGMT, DeviceState("mgmt", True, ("10.0.15.11/24",))) == []
    assert device_differences(MGMT, None) == ["the device does not exist"]
    assert device_differences(MGMT, DeviceState("mgmt", False, ())) == [
        "address (none) -> 10.0.15.11/24",
        "link down -> up",
    ]
    # another address of the same family is named; one of the other family is not
    state = DeviceState("mgmt", True, ("10.0.15.99/24", "2001:db8::1/64"))
    assert device_differences(MGMT, state) == ["address 10.0.15.99/24 -> 10.0.15.11/24"]
    # same address, other prefix: a difference
    state = DeviceState("mgmt", True, ("10.0.15.11/16",))
    assert device_differences(MGMT, state) == ["address 10.0.15.11/16 -> 10.0.15.11/24"]


def test_ipv6_spellings_compare_equal() -> None:
    entry = json.loads(RECORDED)
    entry[0]["addr_info"] = [
        {"family": "inet6", "local": "2001:db8::b", "prefixlen": 64, "scope": "global"}
    ]
    state = parse_ip_addr_json(json.dumps(entry), "mgmt")
    assert device_differences(AddressTarget("br-ex", "mgmt", "2001:0db8:0::000b/64"), state) == []


@pytest.mark.parametrize(
    "text",
    ["", "not json", "{}", "[]", '[{"ifname": "other"}]', "[[[[", "null", '"mgmt"'],
)
def test_malformed_replies_are_clear_errors(text: str) -> None:
    with pytest.raises(AddressError, match="ip addr show dev mgmt: "):
        parse_ip_addr_json(text, "mgmt")


def test_odd_entries_are_skipped() -> None:
    entry = json.loads(RECORDED)
    entry[0]["addr_info"] += [
        {"family": "inet", "local": "10.1.1.1", "prefixlen": "24", "scope": "global"},
        {"family": "inet", "local": "not an address", "prefixlen": 24, "scope": "global"},
        {"family": "inet", "local": "10.1.1.1", "prefixlen": True, "scope": "global"},
        "garbage",
    ]
    entry[0]["flags"] = "UP"
    assert parse_ip_addr_json(json.dumps(entry), "mgmt") == DeviceState(
        "mgmt", False, ("10.0.15.11/24",)
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["ifname", "flags", "addr_info", "family", "local", "prefixlen", "scope"]
            )
            | st.text(max_size=5),
            inner,
            max_size=5,
        )
    ),
    max_leaves=25,
)


@settings(max_examples=300)
@given(st.text() | json_values.map(json.dumps) | json_values.map(lambda v: json.dumps([v])))
def test_arbitrary_replies_give_a_state_or_a_clear_error(text: str) -> None:
    try:
        state = parse_ip_addr_json(text, "mgmt")
    except AddressError as exc:
        assert str(exc).startswith("ip addr show dev mgmt: ")
        return
    assert state.name == "mgmt"
    device_differences(MGMT, state)
