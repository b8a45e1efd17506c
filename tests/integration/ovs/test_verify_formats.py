"""stackwatch ovs verify --format, beside stackwatch check ovs-bridges, on a real switch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from switch import Switch, ovs_config

from tests.conftest import run_stackwatch

pytestmark = pytest.mark.integration

CLASSIC = Path(__file__).resolve().parents[2] / "fixtures" / "ovs" / "openstack-compute.yaml"


def both(switch: Switch, config: Path, output: str, *extra: str) -> tuple[object, object]:
    """(verify, check) as (exit code, stdout) for the same switch, layout and configuration
    (whose [ovs] db names the switch: stackwatch check has no --db)."""
    verify = run_stackwatch(
        "ovs", "verify", str(CLASSIC), "--db", switch.db, "--config", str(config),
        "--format", output, *extra, timeout=60,
    )  # fmt: skip
    check = run_stackwatch(
        "check", "ovs-bridges", "--config", str(config), "--format", output, *extra, timeout=60,
    )  # fmt: skip
    assert "Traceback" not in verify.stderr + check.stderr
    return (verify.returncode, verify.stdout), (check.returncode, check.stdout)


def test_unknown_format_is_refused() -> None:
    # a Nagios plugin answers UNKNOWN (3) to bad arguments too, as stackwatch check does
    done = run_stackwatch("ovs", "verify", str(CLASSIC), "--format", "xml", timeout=60)
    # with the status line on stdout (NRPE passes on stdout only), as every error of verify
    assert done.returncode == 3
    assert done.stdout.startswith("OVS-BRIDGES UNKNOWN - Invalid value for '--format': 'xml'")
    assert "Invalid value for '--format'" in done.stderr and "'xml'" in done.stderr
    assert "nagios" in done.stderr and "json" in done.stderr
    assert "Traceback" not in done.stderr


def test_formats_match_the_check(switch: Switch, tmp_path: Path) -> None:
    config = ovs_config(tmp_path / "sw.toml", switch.db, netns=switch.netns, layout=str(CLASSIC))
    assert (
        run_stackwatch(
            "ovs", "apply", str(CLASSIC), "--db", switch.db, "--netns", switch.netns, timeout=60
        ).returncode
        == 0
    )
    verify, check = both(switch, config, "nagios")
    assert verify == check
    assert verify[0] == 0 and str(verify[1]).startswith("OVS-BRIDGES OK - 3 bridges, 5 ports")

    # drift: same WARNING, same lines, same perfdata, in every machine-readable format
    switch.vsctl("set", "port", "mgmt", "tag=20")
    for output in ("nagios", "json", "prometheus"):
        verify, check = both(switch, config, output)
        assert verify == check, output
    code, out = both(switch, config, "json")[0]
    data = json.loads(str(out))
    (result,) = data["checks"]
    assert code == 1 and result["status"] == "WARNING"
    assert "~ port br-ex/mgmt: tag 20 -> 15" in result["details"]

    # the text format of verify is the check's (one render() for both)
    verify, check = both(switch, config, "text")
    assert verify == check
    assert verify[0] == 1 and "WARNING" in str(verify[1]) and "1 differences" in str(verify[1])

    # [checks.ovs-bridges] critical_on_drift is honoured by verify as by the check
    config.write_text(config.read_text() + "[checks.ovs-bridges]\ncritical_on_drift = true\n")
    verify, check = both(switch, config, "nagios")
    assert verify == check and verify[0] == 2


def test_unreachable_db_is_unknown_as_in_the_check(tmp_path: Path) -> None:
    db = f"unix:{tmp_path}/none.sock"
    config = ovs_config(tmp_path / "sw.toml", db, layout=str(CLASSIC))
    verify = run_stackwatch(
        "ovs", "verify", str(CLASSIC), "--db", db, "--config", str(config), "--format", "nagios"
    )
    check = run_stackwatch("check", "ovs-bridges", "--config", str(config), "--format", "nagios")
    assert (verify.returncode, verify.stdout) == (check.returncode, check.stdout)
    assert verify.returncode == 3 and verify.stdout.startswith("OVS-BRIDGES UNKNOWN - OVSDB not")


def test_captured_root_does_not_read_this_machines_devices(switch: Switch, tmp_path: Path) -> None:
    # the address of mgmt is set in the switch's namespace; with --root the check must not look
    # for it with ip(8) in this machine's namespace (where it would be "missing")
    assert (
        run_stackwatch(
            "ovs", "apply", str(CLASSIC), "--db", switch.db, "--netns", switch.netns, timeout=60
        ).returncode
        == 0
    )
    config = ovs_config(tmp_path / "sw.toml", switch.db, layout=str(CLASSIC))
    tree = tmp_path / "tree"
    tree.mkdir()
    done = run_stackwatch(
        "check", "ovs-bridges", "--root", str(tree), "--config", str(config), "--format", "nagios",
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "device mgmt" not in done.stdout
    assert "addresses of internal ports not compared" in done.stdout
    # the same configuration on the live root looks in the host's namespace: a clear difference
    done = run_stackwatch("check", "ovs-bridges", "--config", str(config), timeout=60)
    assert done.returncode == 1 and "the device does not exist" in done.stdout
