"""ovs-kmod's automatic datapath against a real ovsdb-server: the bridges' datapath_type decides
whether a missing openvswitch module matters.

The switch here has no ovs-vswitchd: a bridge on the kernel datapath is only a row in OVSDB, which
is all the check reads, and no switch daemon tries to open (or make the kernel load) the module.
The module side is a fixture tree (--root) without any openvswitch module, loaded or on disk.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from switch import Switch, ovs_config

from tests.conftest import run_stackwatch
from tests.unit.ovs.test_kmod import make_tree

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not shutil.which("depmod"), reason="needs kmod"),
]


def kmod(root: Path, config: Path) -> dict[str, Any]:
    done = run_stackwatch(
        "check", "ovs-kmod", "--root", str(root), "--config", str(config), "--format", "json",
        timeout=60,
    )  # fmt: skip
    assert "Traceback" not in done.stderr
    (result,) = json.loads(done.stdout)["checks"]
    assert done.returncode == result["code"]
    return result  # type: ignore[no-any-return]


def test_datapath_of_the_bridges_decides(tmp_path: Path) -> None:
    if not shutil.which("ovsdb-server"):
        pytest.skip("needs openvswitch")
    root = make_tree(tmp_path / "t", loaded=None, on_disk={})
    switch = Switch(with_vswitchd=False).start()
    try:
        config = ovs_config(tmp_path / "kmod.toml", switch.db)
        result = kmod(root, config)
        assert (result["status"], result["summary"]) == (
            "OK",
            "no bridges: the openvswitch module is not in use",
        )

        switch.vsctl(
            "--no-wait", "add-br", "br-user", "--", "set", "bridge", "br-user",
            "datapath_type=netdev",
        )  # fmt: skip
        result = kmod(root, config)
        assert result["status"] == "OK"
        assert (
            "all on the userspace datapath: the openvswitch module does not matter"
            in (result["summary"])
        )

        switch.vsctl("--no-wait", "add-br", "br-kern")  # datapath_type "": the kernel's
        result = kmod(root, config)
        assert result["status"] == "CRITICAL"
        assert result["summary"] == (
            "openvswitch module not loaded (and none on disk) but bridges br-kern use the "
            "kernel datapath"
        )
        assert "bridges on the userspace datapath: br-user" in result["details"]

        switch.vsctl("--no-wait", "set", "bridge", "br-kern", "datapath_type=system")
        assert kmod(root, config)["status"] == "CRITICAL"
        switch.vsctl("--no-wait", "set", "bridge", "br-kern", "datapath_type=netdev")
        assert kmod(root, config)["status"] == "OK"
    finally:
        switch.stop()
    # the server is gone: the check cannot tell, and says so rather than guessing
    result = kmod(root, config)
    assert result["status"] == "UNKNOWN"
    assert result["summary"].startswith("cannot tell whether the bridges use the kernel datapath")
    assert "OVSDB not reachable" in result["summary"]
