"""`lldpctl -f json` of a hypervisor: which switch port each NIC is on. The fixtures were
captured from lldpd 1.0.16 in two network namespaces joined by veth pairs (the hypervisor
cmp-t1 with em1/em2, the switch side tor-t1 with swp7/swp8, port id subtype ifname)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackwatch.switch.lldpctl import Uplink, parse_lldpctl
from stackwatch.switch.octets import DecodeError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "switch" / "lldpctl"


def test_one_neighbour_interface_is_an_object() -> None:
    (uplink,) = parse_lldpctl((FIXTURES / "one-neighbour.json").read_text())
    assert uplink == Uplink("em1", "tor-t1", "2a:7c:1f:26:e7:b8", "swp7", "swp7")


def test_several_neighbours_interface_is_a_list() -> None:
    uplinks = parse_lldpctl((FIXTURES / "two-neighbours.json").read_text())
    assert [(u.nic, u.switch, u.port) for u in uplinks] == [
        ("em1", "tor-t1", "swp7"),
        ("em2", "tor-t1", "swp8"),
    ]


def test_no_neighbour_and_unnamed_chassis() -> None:
    assert parse_lldpctl('{"lldp": {}}') == ()
    unnamed = {
        "lldp": {
            "interface": {
                "eth0": {
                    "chassis": {"id": {"type": "mac", "value": "aa"}},
                    "port": {"id": {"value": "7"}},
                }
            }
        }
    }
    assert parse_lldpctl(json.dumps(unnamed)) == (Uplink("eth0", "", "aa", "7", ""),)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[1]",
        '{"lldp": []}',
        '{"lldp": {"interface": [5]}}',
        '{"lldp": {"interface": {"eth0": {"port": {"id": [1]}}}}}',
    ],
)
def test_malformed_is_one_clear_error(text: str) -> None:
    with pytest.raises(DecodeError, match="lldpctl JSON"):
        parse_lldpctl(text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=15,
)


@given(json_values)
def test_any_json_parses_or_raises_decode_error(value: object) -> None:
    for document in (value, {"lldp": value}, {"lldp": {"interface": value}}):
        try:
            uplinks = parse_lldpctl(json.dumps(document))
        except DecodeError:
            continue
        assert all(isinstance(u.nic, str) and isinstance(u.port, str) for u in uplinks)
