"""Generated configuration: stable, one file per role and cell, one file touched per host change,
foreign files left alone; templates that cannot become configuration refused; coverage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stackwatch.core.host import Host
from stackwatch.nagios.coverage import gaps
from stackwatch.nagios.generate import (
    MARK,
    GenerateError,
    load_templates,
    place,
    render_files,
    role_template,
    write_tree,
)
from stackwatch.nagios.inventory import parse_inventory, resolve
from stackwatch.nagios.objects import ObjectsError, hostgroups_of, parse_objects, read_tree

COMPUTE = "host_template: generic-host\nservices:\n  - name: stackwatch-links\n    check: links\n"
CONTROL = "services:\n  - name: ssh\n    command: check_ssh!-p 22\n"


def templates(tmp_path: Path) -> Path:
    directory = tmp_path / "templates"
    directory.mkdir(exist_ok=True)
    (directory / "compute.yaml").write_text(COMPUTE)
    (directory / "control.yaml").write_text(CONTROL)
    return directory


def generate(tmp_path: Path, inventory: str):  # type: ignore[no-untyped-def]
    roles = load_templates(Host(), str(templates(tmp_path)), "check_nrpe")
    facts = resolve(parse_inventory(inventory, "hosts.ini"), "cell", r"c\d{4}", "global")
    files = render_files(place(facts, roles), roles, "hosts.ini")
    return files, write_tree(Host(), str(tmp_path / "out"), files)


INVENTORY = (
    "[compute]\n"
    + "".join(f"cmp-c{c:04d}-{h:03d} cell=c{c:04d}\n" for c in (1, 2) for h in range(3))
    + "[control]\nctl-001\n[monitoring]\nmon-001\n"
)


def test_one_file_per_role_and_cell_marked_and_sorted(tmp_path: Path) -> None:
    files, changes = generate(tmp_path, INVENTORY)
    assert sorted(files) == [
        "c0001/compute.cfg",
        "c0002/compute.cfg",
        "global/control.cfg",
        "hostgroups.cfg",
    ]
    assert len(changes.written) == 4 and changes.unchanged == 0
    text = (tmp_path / "out/c0001/compute.cfg").read_text()
    assert text.startswith(MARK)
    assert "check_command         check_nrpe!stackwatch_links" in text
    assert text.index("cmp-c0001-000") < text.index("cmp-c0001-001") < text.index("cmp-c0001-002")
    assert "mon-001" not in "".join(files.values())  # no template set for its group
    again, second = generate(tmp_path, INVENTORY)
    assert again == files and second.written == () and second.unchanged == 4


def test_a_change_to_one_host_changes_one_file_and_a_leaving_host_leaves(tmp_path: Path) -> None:
    generate(tmp_path, INVENTORY)
    changed = INVENTORY.replace(
        "cmp-c0002-001 cell=c0002", "cmp-c0002-001 cell=c0002 ansible_host=10.0.0.9"
    )
    _, changes = generate(tmp_path, changed)
    assert changes.written == ("c0002/compute.cfg",)
    gone = INVENTORY.replace("cmp-c0002-001 cell=c0002\n", "")
    _, changes = generate(tmp_path, gone)
    assert changes.written == ("c0002/compute.cfg",)
    assert "cmp-c0002-001" not in (tmp_path / "out/c0002/compute.cfg").read_text()


def test_a_cell_that_empties_is_removed_foreign_files_are_not(tmp_path: Path) -> None:
    generate(tmp_path, INVENTORY)
    (tmp_path / "out/c0002/local.cfg").write_text("define command {\n}\n")
    _, changes = generate(tmp_path, "[control]\nctl-001\n")
    assert changes.removed == ("c0001/compute.cfg", "c0002/compute.cfg")
    assert changes.foreign == ("c0002/local.cfg",)
    assert not (tmp_path / "out/c0001").exists() and (tmp_path / "out/c0002/local.cfg").exists()


def test_refuses_to_overwrite_a_file_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "out/global").mkdir(parents=True)
    (tmp_path / "out/global/control.cfg").write_text("# mine\n")
    with pytest.raises(GenerateError, match="was not generated"):
        generate(tmp_path, INVENTORY)
    assert (tmp_path / "out/global/control.cfg").read_text() == "# mine\n"


def test_names_that_would_break_the_configuration_are_refused(tmp_path: Path) -> None:
    with pytest.raises(GenerateError, match=r"hosts\.ini:2: address"):
        generate(tmp_path, "[compute]\nh1 ansible_host='1.2.3.4;x'\n")
    with pytest.raises(GenerateError, match="cannot be written"):
        role_template("web", {"services": [{"name": "a\nb", "check": "links"}]}, "web.yaml", "n")
    with pytest.raises(GenerateError, match="either check"):
        role_template("web", {"services": [{"name": "a"}]}, "web.yaml", "n")
    with pytest.raises(GenerateError, match="listed twice"):
        role_template("web", {"services": [{"name": "a", "check": "x"}] * 2}, "web.yaml", "n")


def test_objects_parser_comments_escapes_and_errors() -> None:
    text = "# c\ndefine host{\n  host_name h1 ; note\n  _X a\\;b\n  hostgroups +web\n}\n"
    (host,) = parse_objects(text, "a.cfg")
    assert (host.kind, host.attrs["host_name"], host.attrs["_X"], host.line) == (
        "host",
        "h1",
        "a;b",
        2,
    )
    with pytest.raises(ObjectsError, match=r"^a\.cfg:1: define host is never closed"):
        parse_objects("define host {\n host_name h\n", "a.cfg")
    groups = hostgroups_of(
        parse_objects(
            "define host {\n name t\n hostgroups web\n register 0\n}\n"
            "define host {\n use t\n host_name h1\n hostgroups +db\n}\n"
            "define hostgroup {\n hostgroup_name all\n members h1\n}\n",
            "b.cfg",
        )
    )
    assert groups == {"h1": ("all", "db", "web")}


def test_coverage_finds_what_a_role_requires_and_a_host_lacks(tmp_path: Path) -> None:
    generate(tmp_path, INVENTORY)
    roles = load_templates(Host(), str(templates(tmp_path)), "check_nrpe")
    found, hosts = gaps("prod", read_tree(Host(), str(tmp_path / "out")), roles)
    assert (found, hosts) == ([], 7)
    (tmp_path / "templates/compute.yaml").write_text(
        COMPUTE + "  - name: temperature\n    check: temperature\n"
    )
    roles = load_templates(Host(), str(tmp_path / "templates"), "check_nrpe")
    extra = "define service {\n host_name cmp-c0001-000\n service_description temperature\n}\n"
    (tmp_path / "out/c0001/extra.cfg").write_text(extra)
    found, _ = gaps("prod", read_tree(Host(), str(tmp_path / "out")), roles)
    assert [g.host for g in found] == ["cmp-c0001-001", "cmp-c0001-002"] + [
        f"cmp-c0002-{h:03d}" for h in range(3)
    ]
    assert found[0].service == "temperature" and found[0].where.endswith("c0001/compute.cfg:20")


def test_generate_and_coverage_command_lines(tmp_path: Path) -> None:
    from tests.conftest import run_stackwatch

    inventory = tmp_path / "hosts.ini"
    inventory.write_text(INVENTORY)
    out = tmp_path / "out"
    args = ["--inventory", str(inventory), "--templates", str(templates(tmp_path))]
    done = run_stackwatch("nagios", "generate", *args, "--out", str(out), "--format", "json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["hosts"], summary["without_role"], len(summary["written"])) == (7, 1, 4)
    clean = run_stackwatch(
        "nagios", "coverage", "--templates", str(tmp_path / "templates"), "--tree", str(out)
    )
    assert clean.returncode == 0 and "7 hosts, 0 missing services" in clean.stdout
    (tmp_path / "templates/control.yaml").write_text(CONTROL + "  - name: ntp\n    check: ntp\n")
    gap = run_stackwatch(
        "nagios",
        "coverage",
        "--templates",
        str(tmp_path / "templates"),
        "--tree",
        str(out),
        "--format",
        "json",
    )
    assert gap.returncode == 4
    assert [(g["host"], g["service"]) for g in json.loads(gap.stdout)["gaps"]] == [
        ("ctl-001", "ntp")
    ]
    inventory.write_text(INVENTORY + "[compute:children]\ncontrol\n[control:children]\ncompute\n")
    cycle = run_stackwatch("nagios", "generate", *args, "--out", str(out))
    assert (
        cycle.returncode == 1 and "cycle of children: compute -> control -> compute" in cycle.stderr
    )
    assert "Traceback" not in cycle.stderr


def test_alerts_by_hostgroup_from_a_generated_tree(tmp_path: Path) -> None:
    from tests.conftest import run_stackwatch

    generate(tmp_path, INVENTORY)
    log = tmp_path / "nagios.log"
    log.write_text(
        "[1700000000] SERVICE ALERT: cmp-c0001-001;stackwatch-links;CRITICAL;HARD;1;down\n"
        "[1700000001] SERVICE ALERT: ctl-001;ssh;CRITICAL;SOFT;1;refused\n"
    )
    done = run_stackwatch(
        "nagios", "alerts", str(log), "--objects", str(tmp_path / "out"), "--format", "json"
    )
    assert done.returncode == 0, done.stderr
    groups = {g["hostgroup"]: g["alerts"] for g in json.loads(done.stdout)["by_hostgroup"]}
    assert groups == {"compute": 1, "c0001": 1, "control": 1, "global": 1}


def test_coverage_of_every_environment_of_a_repository(tmp_path: Path) -> None:
    from tests.conftest import run_stackwatch

    repo = tmp_path / "repo"
    (repo / "common/cell").mkdir(parents=True)
    (repo / "common/cell/services.cfg").write_text(
        "define service {\n hostgroup_name compute\n service_description stackwatch-links\n}\n"
    )
    for env, hosts in (("prod", ("cmp-1", "cmp-2")), ("lab", ("cmp-9",))):
        (repo / f"environments/{env}/c0001").mkdir(parents=True)
        (repo / f"environments/{env}/c0001/hosts.cfg").write_text(
            "".join(f"define host {{\n host_name {h}\n hostgroups compute\n}}\n" for h in hosts)
        )
    (repo / "environments/prod/c0001/extra.cfg").write_text(
        "define service {\n host_name cmp-1\n service_description temperature\n}\n"
    )
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates/compute.yaml").write_text(
        COMPUTE + "  - name: temperature\n    check: temperature\n"
    )
    done = run_stackwatch(
        "nagios",
        "coverage",
        "--templates",
        str(tmp_path / "templates"),
        "--repo",
        str(repo),
        "--format",
        "json",
    )
    assert done.returncode == 4, done.stderr
    report = json.loads(done.stdout)
    assert report["environments"] == {"lab": 1, "prod": 2}
    assert [(g["environment"], g["host"], g["service"]) for g in report["gaps"]] == [
        ("lab", "cmp-9", "temperature"),
        ("prod", "cmp-2", "temperature"),
    ]
