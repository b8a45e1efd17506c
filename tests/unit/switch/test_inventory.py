"""The inventory: devices, roles, VLAN ranges; every error names the file and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackwatch.core.host import Host
from stackwatch.switch.inventory import InventoryError, load_inventory, parse_inventory
from stackwatch.switch.targets import TargetError, address_target, parse_address, read_v3

GOOD = """\
defaults:
  community_file: community
devices:
  tor-a1:
    address: 192.0.2.10
    groups: [rack-a]
    ports:
      Gi0/48: {vlans: "15", native: 15}
  tor-a2:
    address: 192.0.2.11
    port: 1161
    version: 3
    v3_file: tor.v3
roles:
  compute:
    em1: {vlans: "15, 100-199", native: 15}
    em2: {vlans: 300}
hypervisors:
  cmp-a01: {role: compute}
  cmp-a02: {roles: [compute], nics: {em2: {vlans: "300-301"}}}
known_neighbours: [spine-1]
"""


def test_roles_keep_it_short() -> None:
    inventory = parse_inventory(GOOD, "/etc/stackwatch/switches.yaml")
    nics = {(n.host, n.nic): n.expect for n in inventory.nics}
    assert nics[("cmp-a01", "em1")].vlans == frozenset({15, *range(100, 200)})
    assert nics[("cmp-a01", "em1")].native == 15
    assert nics[("cmp-a02", "em2")].vlans == frozenset({300, 301})  # its own nics win
    tor = inventory.device("tor-a1")
    assert tor is not None and tor.community_file == "/etc/stackwatch/community"
    assert tor.groups == ("rack-a",) and tor.ports["Gi0/48"].native == 15
    second = inventory.device("tor-a2")
    assert second is not None and (second.version, second.port) == ("3", 1161)
    assert inventory.known_neighbours == {"spine-1"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("devices:\n  a: {address: x, community_file: c}\n  b: [1]\n", "inv.yaml:3: device b"),
        ("devices:\n  a:\n    address: x\n", "inv.yaml:3: device a: v2c needs community_file"),
        ("roles:\n  r:\n    em1: {vlans: '100-5000'}\n", "inv.yaml:3: role r em1: VLAN 5000"),
        ("roles:\n  r:\n    em1: {native: 5}\n", "inv.yaml:3: role r em1: 'vlans' is required"),
        ("hypervisors:\n  h: {role: nope}\n", "inv.yaml:2: hypervisor h: no role 'nope'"),
        ("devises: {}\n", "inv.yaml:1: the inventory: unknown key 'devises'"),
        ("devices: {a: {address: x, community_file: c, port: 70000}}\n", "port must be 1-65535"),
        ("devices:\n  a: {address: x\n", "inv.yaml:3: not YAML"),
        ("", "inv.yaml: empty inventory"),
        ("devices:\n  a: {address: x, version: 1, community_file: c}\n", "version must be 2c"),
    ],
)
def test_errors_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(InventoryError) as caught:
        parse_inventory(text, "inv.yaml")
    assert message in str(caught.value)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="cannot read"):
        load_inventory(str(tmp_path / "missing.yaml"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.0.2.1", ("192.0.2.1", 161)),
        ("sw1:1161", ("sw1", 1161)),
        ("[2001:db8::1]:162", ("2001:db8::1", 162)),
        ("2001:db8::1", ("2001:db8::1", 161)),
    ],
)
def test_addresses(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("bad", ["", "sw1:0", "sw1:http", "a b"])
def test_bad_addresses(bad: str) -> None:
    with pytest.raises(TargetError):
        parse_address(bad)


def test_v3_file(tmp_path: Path) -> None:
    good = tmp_path / "v3"
    good.write_text(
        "user: mon\nauth_protocol: sha\nauth_password: authpass1\n"
        "priv_protocol: aes\npriv_password: privpass1\n"
    )
    creds = read_v3(Host(), str(good))
    assert (creds.user, creds.auth_protocol, creds.priv_protocol) == ("mon", "SHA", "AES")
    bad = tmp_path / "bad"
    bad.write_text("user: mon\nauth_password: short\npriv_password: privpass1\n")
    with pytest.raises(TargetError, match="at least 8"):
        read_v3(Host(), str(bad))
    bad.write_text("user: mon\npassword: x\n")
    with pytest.raises(TargetError, match="unknown keys"):
        read_v3(Host(), str(bad))


def test_address_needs_exactly_one_secrets_file(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="one of --community-file"):
        address_target("sw1", Host(), None, None)
    empty = tmp_path / "community"
    empty.write_text("\n")
    with pytest.raises(TargetError, match="no community"):
        address_target("sw1", Host(), str(empty), None)
