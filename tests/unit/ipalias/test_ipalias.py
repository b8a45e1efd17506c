"""ipalias: requests parsed, addresses refused for the right reason, the files written."""

from __future__ import annotations

import contextlib
import ipaddress
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackwatch.ipalias.addresses import InUse, PlanError, parse_request, plan_addresses
from stackwatch.ipalias.configs import render_config
from stackwatch.ipalias.live import parse_ip_addr_json


def ips(*texts: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    return [ipaddress.ip_address(t) for t in texts]


def test_ranges_short_and_long_and_cidr() -> None:
    assert parse_request("192.168.41.186-190") == (
        ips(
            "192.168.41.186", "192.168.41.187", "192.168.41.188", "192.168.41.189", "192.168.41.190"
        ),
        None,
    )
    assert parse_request("10.0.0.254-10.0.1.1")[0][-1] == ipaddress.ip_address("10.0.1.1")
    assert parse_request("2001:db8::fe-101") == (
        ips("2001:db8::fe", "2001:db8::ff", "2001:db8::100", "2001:db8::101"),
        None,
    )
    assert parse_request("192.168.41.32/30") == (ips("192.168.41.33", "192.168.41.34"), 30)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("192.168.41.190-186", "upwards"),
        ("10.0.0.1-2001:db8::1", "one address family"),
        ("10.0.0.0/8", "more than 4096"),
        ("nonsense", "is not an IP address"),
        ("10.0.0.1-10.1.0.0", "more than 4096"),
    ],
)
def test_bad_requests(spec: str, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        parse_request(spec)


def test_refusals_and_present_addresses() -> None:
    in_use = [
        InUse("eth0", ipaddress.ip_interface("192.168.41.1/24")),
        InUse("eth0", ipaddress.ip_interface("192.168.41.187/24")),
        InUse("eth1", ipaddress.ip_interface("192.168.41.188/24")),
    ]
    plan = plan_addresses(
        "eth0",
        ips(
            "192.168.41.0",
            "192.168.41.186",
            "192.168.41.187",
            "192.168.41.188",
            "192.168.41.255",
            "192.168.42.1",
        ),
        24,
        in_use,
    )
    assert [str(a) for a in plan.add] == ["192.168.41.186/24"]
    assert [str(a) for a in plan.present] == ["192.168.41.187/24"]
    assert [(str(a), why) for a, why in plan.refused] == [
        ("192.168.41.0", "network address of 192.168.41.0/24"),
        ("192.168.41.188", "in use on eth1 as 192.168.41.188/24"),
        ("192.168.41.255", "broadcast address of 192.168.41.0/24"),
        ("192.168.42.1", "outside 192.168.41.0/24"),
    ]


def test_ipv6_has_no_broadcast_but_a_subnet_router_anycast_network_address() -> None:
    plan = plan_addresses("eth0", ips("2001:db8::", "2001:db8::ffff"), 112, [])
    assert [str(a) for a in plan.add] == ["2001:db8::ffff/112"]
    assert plan.refused[0][1] == "network address of 2001:db8::/112"


def test_same_address_other_prefix_is_in_use() -> None:
    in_use = [InUse("eth0", ipaddress.ip_interface("10.0.0.5/16"))]
    plan = plan_addresses("eth0", ips("10.0.0.5"), 24, in_use)
    assert plan.refused == ((ipaddress.ip_address("10.0.0.5"), "in use on eth0 as 10.0.0.5/16"),)


@given(st.integers(0, 2**32 - 1), st.integers(0, 40), st.integers(0, 32))
def test_every_address_is_added_present_or_refused_once(
    start: int, count: int, prefix: int
) -> None:
    addresses = [ipaddress.IPv4Address(n) for n in range(start, min(start + count, 2**32))]
    if not addresses:
        return
    plan = plan_addresses("eth0", addresses, prefix, [])
    seen = [a.ip for a in plan.add] + [a.ip for a in plan.present] + [a for a, _ in plan.refused]
    assert sorted(seen) == addresses
    subnet = ipaddress.ip_interface(f"{addresses[0]}/{prefix}").network
    assert all(a.ip in subnet and a.network == subnet for a in plan.add)


@given(st.text())
def test_requests_parse_or_refuse(spec: str) -> None:
    try:
        addresses, _ = parse_request(spec)
    except PlanError:
        return
    assert 0 < len(addresses) <= 4096


def test_writers() -> None:
    plan = plan_addresses("eth0", ips("192.0.2.10", "192.0.2.11"), 24, [])
    assert render_config("ifupdown", plan, first_label=3).splitlines()[1:] == [
        "",
        "auto eth0:3",
        "iface eth0:3 inet static",
        "    address 192.0.2.10/24",
        "",
        "auto eth0:4",
        "iface eth0:4 inet static",
        "    address 192.0.2.11/24",
    ]
    assert render_config("networkd", plan).splitlines()[2:] == [
        "[Network]",
        "Address=192.0.2.10/24",
        "Address=192.0.2.11/24",
    ]


IP_ADDR = [
    {
        "ifindex": 2,
        "ifname": "eth0",
        "addr_info": [
            {"family": "inet", "local": "192.0.2.2", "prefixlen": 24, "label": "eth0"},
            {"family": "inet", "local": "192.0.2.9", "prefixlen": 24, "label": "eth0:1"},
            {"family": "inet6", "local": "fd00::2", "prefixlen": 64},
        ],
    },
    {"ifindex": 3, "ifname": "ifb0", "addr_info": []},
]


def test_ip_addr_json() -> None:
    eth0, ifb0 = parse_ip_addr_json(json.dumps(IP_ADDR))
    assert [str(a.address) for a in eth0.addresses] == [
        "192.0.2.2/24",
        "192.0.2.9/24",
        "fd00::2/64",
    ]
    assert eth0.labels == ("", "eth0:1", "")
    assert ifb0.addresses == ()


@given(
    st.recursive(
        st.none() | st.integers() | st.text(max_size=6),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(
                st.sampled_from(["ifname", "addr_info", "family", "local", "prefixlen", "label"]),
                inner,
                max_size=4,
            )
        ),
        max_leaves=15,
    )
)
def test_ip_addr_json_never_crashes(data: object) -> None:
    with contextlib.suppress(PlanError):
        parse_ip_addr_json(json.dumps(data))
