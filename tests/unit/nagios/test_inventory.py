"""Ansible inventories in their three forms, and the mistakes shown where they are."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackwatch.nagios.inventory import InventoryError, parse_inventory, resolve

INI = """\
# hypervisors
[compute]
cmp-c0001-[001:003] cell=c0001
cmp-c0002-001 cell=c0002 ansible_host=10.0.2.1

[network]
net-c0001-001

[network:vars]
cell=c0001
role_note="edge routers"

[cells:children]
compute
network

[cells:vars]
dc=fra1

[control]
ctl-001
"""

YAML = """\
all:
  vars:
    dc: fra1
  children:
    compute:
      hosts:
        cmp-c0001-001: {cell: c0001}
        cmp-c0002-001:
          cell: c0002
          ansible_host: 10.0.2.1
    control:
      hosts:
        ctl-001:
"""

LISTED = {
    "_meta": {"hostvars": {"cmp-c0001-001": {"cell": "c0001"}, "ctl-001": {}}},
    "all": {"children": ["ungrouped", "compute", "control"]},
    "compute": {"hosts": ["cmp-c0001-001"], "vars": {"dc": "fra1"}},
    "control": {"hosts": ["ctl-001"]},
}


def facts(text: str, name: str):  # type: ignore[no-untyped-def]
    return resolve(parse_inventory(text, name), "cell", r"c\d{4}", "global")


def test_ini_groups_children_ranges_and_variables() -> None:
    hosts = facts(INI, "hosts.ini")
    assert sorted(hosts) == [
        "cmp-c0001-001",
        "cmp-c0001-002",
        "cmp-c0001-003",
        "cmp-c0002-001",
        "ctl-001",
        "net-c0001-001",
    ]
    assert hosts["cmp-c0001-002"].groups == ("cells", "compute")
    assert hosts["cmp-c0001-002"].cell == "c0001"
    assert hosts["cmp-c0002-001"].vars["ansible_host"] == "10.0.2.1"
    assert hosts["net-c0001-001"].vars == {
        "cell": "c0001",
        "role_note": "edge routers",
        "dc": "fra1",
    }
    assert hosts["ctl-001"].cell == "global"
    assert str(hosts["cmp-c0002-001"].where) == "hosts.ini:4"


def test_yaml_and_ansible_inventory_list_json() -> None:
    yaml_hosts = facts(YAML, "hosts.yml")
    assert yaml_hosts["cmp-c0002-001"].vars == {
        "dc": "fra1",
        "cell": "c0002",
        "ansible_host": "10.0.2.1",
    }
    assert yaml_hosts["cmp-c0002-001"].groups == ("all", "compute")
    assert str(yaml_hosts["cmp-c0002-001"].where) == "hosts.yml:8"
    listed = facts(json.dumps(LISTED, indent=2), "inventory.json")
    assert listed["cmp-c0001-001"].groups == ("all", "compute")
    assert listed["cmp-c0001-001"].cell == "c0001" and listed["cmp-c0001-001"].vars["dc"] == "fra1"


def test_deeper_groups_win_and_the_host_wins_over_groups() -> None:
    text = "[a:children]\nb\n[a:vars]\nx=1\ny=1\n[b]\nh1 y=3\n[b:vars]\nx=2\ny=2\n"
    assert facts(text, "i.ini")["h1"].vars == {"x": 2, "y": 3}


def test_cycle_of_children_names_file_line_and_the_cycle() -> None:
    text = "[a:children]\nb\n[b:children]\nc\n[c:children]\na\n[c]\nh1\n"
    with pytest.raises(InventoryError, match=r"^i\.ini:6: cycle of children: a -> b -> c -> a$"):
        facts(text, "i.ini")


def test_yaml_cycle_is_an_error_too() -> None:
    text = (
        "all:\n  children:\n    a:\n      children:\n"
        "        b:\n          children:\n            a:\n"
    )
    with pytest.raises(InventoryError, match="cycle of children"):
        facts(text, "i.yml")


def test_host_in_two_cells_shows_both_places() -> None:
    text = INI + "[c0002]\ncmp-c0001-001\n"
    with pytest.raises(InventoryError) as caught:
        facts(text, "hosts.ini")
    assert str(caught.value) == (
        "hosts.ini:3: host cmp-c0001-001 is in two cells: c0001 (hosts.ini:3) and c0002 "
        "(hosts.ini:23)"
    )


def test_bad_lines_are_errors_with_their_line() -> None:
    with pytest.raises(InventoryError, match=r"^i\.ini:2: expected key=value"):
        facts("[a]\nh1 novalue\n", "i.ini")
    with pytest.raises(InventoryError, match=r"^i\.ini:1: unknown section"):
        facts("[a:hostz]\n", "i.ini")
    with pytest.raises(InventoryError, match=r"^i\.yml:3: unknown key 'host' in group a"):
        facts("a:\n  hosts: {}\n  host: {}\n", "i.yml")


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_any_text_is_an_inventory_or_one_clear_error(text: str) -> None:
    for name in ("i.ini", "i.yml", "i.json"):
        try:
            facts(text, name)
        except InventoryError as exc:
            assert str(exc).startswith(name)
