"""ovs-managers and ovs-controllers against a real switch: connected and disconnected for real."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from switch import OpenFlowController, OvsdbListener, Switch, ovs_config

from tests.conftest import free_port, run_stackwatch

pytestmark = pytest.mark.integration


def config_of(switch: Switch) -> str:
    return str(ovs_config(Path(switch.dir) / "targets.toml", switch.db))


def check_json(switch: Switch, *names: str) -> dict[str, dict[str, object]]:
    done = run_stackwatch(
        "check", *names, "--config", config_of(switch), "--format", "json", timeout=60
    )
    data = json.loads(done.stdout)
    results = data["checks"]
    return {r["name"]: r for r in results}


def wait_for(switch: Switch, name: str, predicate, limit: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit
    while True:
        result = check_json(switch, name)[name]
        if predicate(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def test_no_targets_is_ok(switch: Switch) -> None:
    results = check_json(switch, "ovs-managers", "ovs-controllers")
    assert results["ovs-managers"]["status"] == "OK"
    assert "no managers configured" in results["ovs-managers"]["summary"]
    assert "no controllers configured" in results["ovs-controllers"]["summary"]


def test_controllers_connected_and_not(switch: Switch) -> None:
    up, down, passive = free_port(), free_port(), free_port()
    controller = OpenFlowController(up, switch.dir, switch.netns).start(switch.env)
    try:
        switch.vsctl("add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev")
        switch.vsctl("set-controller", "br0", f"tcp:127.0.0.1:{up}")
        result = wait_for(
            switch,
            "ovs-controllers",
            lambda r: "1 of 1 active controllers connected" in r["summary"],
        )
        assert result["status"] == "OK", result
        assert any("connected" in d and "state ACTIVE" in d for d in result["details"]), result

        switch.vsctl(
            "set-controller",
            "br0",
            f"tcp:127.0.0.1:{up}",
            f"tcp:127.0.0.1:{down}",
            f"ptcp:{passive}:127.0.0.1",
        )
        result = wait_for(
            switch,
            "ovs-controllers",
            lambda r: r["status"] == "CRITICAL" and "Connection refused" in " ".join(r["details"]),
        )
        assert result["status"] == "CRITICAL", result
        assert f"tcp:127.0.0.1:{down} not connected" in result["summary"]
        assert "1 of 2 active controllers connected, 1 passive" in result["summary"]
        assert "new ports get no flows" in result["hint"]
    finally:
        controller.stop()
    # the controller went away: the target that was up is now down too
    result = wait_for(switch, "ovs-controllers", lambda r: "0 of 2" in r["summary"])
    assert "0 of 2 active controllers connected" in result["summary"], result


def test_managers_connected_and_not(switch: Switch) -> None:
    up, down = free_port(), free_port()
    listener = OvsdbListener(up).start(switch.env)
    try:
        switch.vsctl("set-manager", f"tcp:127.0.0.1:{up}", f"tcp:127.0.0.1:{down}")
        result = wait_for(
            switch,
            "ovs-managers",
            lambda r: "1 of 2 active managers connected" in r["summary"],
        )
        assert result["status"] == "CRITICAL", result
        assert f"tcp:127.0.0.1:{down} not connected" in result["summary"]
        nagios = run_stackwatch(
            "check", "ovs-managers", "--config", config_of(switch), "--format", "nagios"
        )
        assert nagios.returncode == 2
        assert nagios.stdout.startswith("OVS-MANAGERS CRITICAL")
    finally:
        listener.stop()


def test_unreachable_ovsdb_is_unknown_within_the_timeout(switch: Switch, tmp_path: Path) -> None:
    port = free_port()
    config = ovs_config(tmp_path / "unreachable.toml", f"tcp:127.0.0.1:{port}")
    started = time.monotonic()
    done = run_stackwatch("check", "ovs-managers", "--config", str(config))
    assert done.returncode == 3
    assert "not reachable" in done.stdout
    assert time.monotonic() - started < 15
