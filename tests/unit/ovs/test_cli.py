"""stackwatch ovs without a switch: the exit codes of usage and configuration errors, and
verify answering every error as the ovs-bridges check does (UNKNOWN, exit 3, every format)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_stackwatch

CLASSIC = Path(__file__).resolve().parents[2] / "fixtures" / "ovs" / "openstack-compute.yaml"
FORMATS = ("text", "nagios", "json", "prometheus")


def ovs(*args: str) -> tuple[int, str, str]:
    done = run_stackwatch("ovs", *args, timeout=60)
    assert "Traceback" not in done.stderr
    return done.returncode, done.stdout, done.stderr


def no_switch(tmp_path: Path) -> str:
    """An OVSDB address where nothing listens (not the default: the check must not SKIP)."""
    return f"unix:{tmp_path}/none.sock"


def write_config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "sw.toml"
    path.write_text(text)
    return str(path)


# plan, apply, export, show: 2 for usage and configuration, 1 for a switch out of reach --------


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_layout_errors_are_usage_errors(command: str, tmp_path: Path) -> None:
    db = no_switch(tmp_path)
    code, _, err = ovs(command, str(tmp_path / "missing.yaml"), "--db", db)
    assert code == 2 and "cannot read layout" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("bridges:\n  br0:\n    ports:\n      p1: {tag: 9999}\n")
    code, _, err = ovs(command, str(bad), "--db", db)
    assert code == 2 and f"{bad}:4: port p1: tag: 9999 is out of range 1-4094" in err
    code, _, err = ovs(command, "--db", db)  # no layout named, none configured
    assert code == 2
    assert err == "stackwatch: name a layout file (or set [ovs] layout in the configuration)\n"


def test_bad_options_and_configuration_are_usage_errors(tmp_path: Path) -> None:
    code, _, err = ovs("plan", str(CLASSIC), "--netns", "../x", "--db", no_switch(tmp_path))
    assert code == 2 and err == "stackwatch: --netns: not a network namespace name: '../x'\n"
    code, _, err = ovs("plan", str(CLASSIC), "--db", "db.sock")
    assert code == 2 and "--db: not an OVSDB address" in err
    config = write_config(tmp_path, "[ovs]\ntimeout = 0\n")
    for args in (("plan", str(CLASSIC)), ("export",), ("show", str(CLASSIC))):
        code, _, err = ovs(*args, "--config", config)
        assert code == 2 and "ovs.timeout: must be above 0" in err, args
    code, _, err = ovs("show", "--config", str(tmp_path / "absent.toml"))
    assert code == 2 and "configuration file not found" in err


def test_unreachable_switch_is_a_failure(tmp_path: Path) -> None:
    for args in (("plan", str(CLASSIC)), ("apply", str(CLASSIC)), ("export",), ("show",)):
        code, out, err = ovs(*args, "--db", no_switch(tmp_path))
        assert code == 1 and out == "", args
        assert err.startswith("stackwatch: OVSDB not reachable"), args


def test_show_prints_a_layout_file_without_a_switch() -> None:
    code, out, _ = ovs("show", str(CLASSIC))
    assert code == 0
    assert "  └─ mgmt: internal, tag 15, address 10.0.15.11/24\n" in out


# verify: the ovs-bridges check as a Nagios plugin -------------------------------------------------


def both(config: str, fmt: str, *verify_args: str) -> tuple[tuple[int, str], tuple[int, str]]:
    verify = run_stackwatch("ovs", "verify", *verify_args, "--config", config, "--format", fmt)
    check = run_stackwatch("check", "ovs-bridges", "--config", config, "--format", fmt)
    assert "Traceback" not in verify.stderr + check.stderr
    return (verify.returncode, verify.stdout), (check.returncode, check.stdout)


@pytest.mark.parametrize("fmt", FORMATS)
def test_verify_errors_are_the_checks_unknown(fmt: str, tmp_path: Path) -> None:
    db = no_switch(tmp_path)
    cases = {
        "OVSDB not reachable": f'[ovs]\ndb = "{db}"\nlayout = "{CLASSIC}"\n',
        "cannot read layout": f'[ovs]\ndb = "{db}"\nlayout = "{tmp_path}/missing.yaml"\n',
        "ovs.timeout: must be above 0": f'[ovs]\ntimeout = -1.0\nlayout = "{CLASSIC}"\n',
        "ovs-bridges.layout: unknown key": f'[checks.ovs-bridges]\nlayout = "{CLASSIC}"\n'
        f'[ovs]\nlayout = "{CLASSIC}"\n',
    }
    for reason, text in cases.items():
        verify, check = both(write_config(tmp_path, text), fmt)
        assert verify == check, reason
        code, out = verify
        assert code == 3, reason
        if fmt == "prometheus":  # the exposition format carries the status, not the reason
            assert 'stackwatch_check_status{check="ovs-bridges"} 3\n' in out
        else:
            assert "UNKNOWN" in out and reason in " ".join(out.split()), (reason, out)


def test_verify_usage_errors_are_unknown_in_the_format_asked(tmp_path: Path) -> None:
    db = no_switch(tmp_path)
    cases = {
        "name a layout file": ("--db", db),
        "--netns: not a network namespace name": (str(CLASSIC), "--netns", "a/b"),
        "--db: not an OVSDB address": (str(CLASSIC), "--db", "tcp"),
        "absent.toml: configuration file not found": (
            str(CLASSIC), "--config", str(tmp_path / "absent.toml"),
        ),
    }  # fmt: skip
    for reason, args in cases.items():
        done = run_stackwatch("ovs", "verify", *args, "--format", "json")
        assert done.returncode == 3, reason
        (result,) = json.loads(done.stdout)["checks"]
        assert result["name"] == "ovs-bridges" and result["status"] == "UNKNOWN"
        assert reason in result["summary"]
    done = run_stackwatch("ovs", "verify", str(CLASSIC), "--db", db, "--format", "nagios")
    assert done.returncode == 3
    assert done.stdout.startswith("OVS-BRIDGES UNKNOWN - OVSDB not reachable: ")
    assert done.stdout.count("\n") == 1


def test_verify_refuses_an_unknown_option_as_a_plugin() -> None:
    done = run_stackwatch("ovs", "verify", str(CLASSIC), "--no-such-option")
    # NRPE passes on stdout only: the status line says why, as for every other error of verify
    assert done.returncode == 3
    assert done.stdout == "OVS-BRIDGES UNKNOWN - No such option: --no-such-option\n"
    assert "No such option" in done.stderr


def test_check_options_hold_judgement_only(tmp_path: Path) -> None:
    # where the switch is belongs to [ovs]; [checks.ovs-managers] db is refused, naming the key
    config = write_config(tmp_path, '[checks.ovs-managers]\ndb = "unix:/x"\n')
    done = run_stackwatch("check", "ovs-managers", "--config", config, "--format", "nagios")
    assert done.returncode == 3
    assert "checks.ovs-managers.db: unknown key" in done.stdout
