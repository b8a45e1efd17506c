"""group_vars/ and host_vars/ beside the inventory: the files Ansible reads, in its order and with
its precedence; a cell named there counts; a broken file is one error naming it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stackwatch.core.host import Host
from stackwatch.nagios.inventory import InventoryError, parse_inventory, resolve
from stackwatch.nagios.inventory_vars import read_vars_dirs
from tests.conftest import run_stackwatch

INVENTORY = """\
[cells:children]
compute
[cells:vars]
x=inv_cells
[compute]
h1 y=inv_host q=inv_host
h2
[compute:vars]
x=inv_compute
[web]
h3
[web:vars]
x=inv_web
"""


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def facts(root: Path, inventory: str = INVENTORY, name: str = "hosts.ini"):  # type: ignore[no-untyped-def]
    (root / name).write_text(inventory)
    parsed = parse_inventory(inventory, str(root / name))
    dirs = read_vars_dirs(Host(), str(root / name), parsed)
    return resolve(parsed, "cell", r"c\d{4}", "global", dirs), dirs


def test_precedence_and_the_files_ansible_reads(tmp_path: Path) -> None:
    write(tmp_path, {
        "group_vars/all.yml": "a: all\nx: from_all\n",
        "group_vars/cells.yml": "x: cells_dir\ny: cells_dir\n",
        "group_vars/compute/10-main.yml": "y: compute_dir\nz: 1\n",
        "group_vars/compute/20-more.yaml": "z: 2\n",
        "group_vars/compute/sub/30.json": '{"w": "sub"}',
        "group_vars/compute/.hidden.yml": "z: 99\n",
        "group_vars/compute/old~": "z: 98\n",
        "group_vars/compute/notes.txt": "z: 97\n",
        "group_vars/web": "k: no_extension_first\n",
        "group_vars/web.yml": "k: never_read\n",
        "group_vars/nobody.yml": "x: not a group of the inventory\n",
        "host_vars/h1": "y: host_dir\n",
    })  # fmt: skip
    hosts, dirs = facts(tmp_path)
    assert hosts["h1"].vars == {
        "a": "all", "x": "cells_dir", "y": "host_dir", "z": 2, "w": "sub", "q": "inv_host"
    }  # fmt: skip
    assert hosts["h2"].vars["y"] == "compute_dir"  # the child group's file over its parent's
    assert hosts["h3"].vars == {"a": "all", "x": "from_all", "k": "no_extension_first"}
    read = [str(Path(f).relative_to(tmp_path)) for f in dirs.files]
    assert read == [
        "group_vars/all.yml",
        "group_vars/cells.yml",
        "group_vars/compute/10-main.yml",
        "group_vars/compute/20-more.yaml",
        "group_vars/compute/sub/30.json",
        "group_vars/web",
        "host_vars/h1",
    ]


def test_a_cell_in_host_vars_counts_and_a_second_one_is_shown_where_it_is(tmp_path: Path) -> None:
    write(tmp_path, {"host_vars/h2.yml": "# the cell\ncell: c0009\n"})
    hosts, _ = facts(tmp_path)
    assert hosts["h2"].cell == "c0009" and hosts["h1"].cell == "global"
    with pytest.raises(InventoryError) as caught:
        facts(tmp_path, INVENTORY + "[c0001]\nh2\n")
    assert f"{tmp_path}/host_vars/h2.yml:2" in str(caught.value)
    assert "host h2 is in two cells: c0001" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("- a\n- b\n", ":1: expected a mapping"),
        ("a: [b\n", "not YAML"),
        ("x: !!python/name:os.system\n", "not YAML"),
    ],
)
def test_a_broken_vars_file_is_one_error_naming_it(tmp_path: Path, text: str, why: str) -> None:
    write(tmp_path, {"group_vars/compute.yml": text})
    with pytest.raises(InventoryError) as caught:
        facts(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path}/group_vars/compute.yml") and why in str(
        caught.value
    )


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=200))
def test_any_text_in_a_vars_file_is_variables_or_one_clear_error(tmp_path: Path, text: str) -> None:
    write(tmp_path, {"host_vars/h1.yml": text})
    try:
        hosts, _ = facts(tmp_path)
    except InventoryError as exc:
        assert str(exc).startswith(f"{tmp_path}/host_vars/h1.yml")
    else:  # what the file says reaches the host (over the inventory's own value)
        import yaml

        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError:
            return
        for key, value in (loaded or {}).items():
            if isinstance(key, str) and value == value:  # (NaN is not equal to itself)
                assert hosts["h1"].vars[key] == value


def test_generate_reads_them_beside_the_inventory(tmp_path: Path) -> None:
    write(tmp_path, {
        "templates/compute.yaml": "services:\n  - name: links\n    check: links\n",
        "group_vars/compute.yml": "cell: c0007\n",
    })  # fmt: skip
    (tmp_path / "hosts.ini").write_text("[compute]\ncmp-1\n")
    done = run_stackwatch("nagios", "generate", "--inventory", str(tmp_path / "hosts.ini"),
                          "--templates", str(tmp_path / "templates"), "--out",
                          str(tmp_path / "out"), "--format", "json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["written"] == ["c0007/compute.cfg", "hostgroups.cfg"]
    assert summary["vars_files"] == [str(tmp_path / "group_vars/compute.yml")]
