"""Record real OVSDB replies for the unit tests of live.py and plan.py (run as root, by hand):

    python3 tests/integration/ovs/capture_replies.py

Starts a test switch, and for each state writes the tables that ``read_live`` selects, exactly as
the server sent them, to tests/fixtures/ovs/replies/<state>.json; and targets.json, the tables that
ovs-managers and ovs-controllers select, with a manager and a controller that nothing answers and
a passive manager.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from switch import Switch

from stackwatch.core.host import Host
from stackwatch.ovs.apply import Devices, apply_layout
from stackwatch.ovs.layout import load_layout
from stackwatch.ovs.live import BRIDGE_COLUMNS, INTERFACE_COLUMNS, PORT_COLUMNS
from stackwatch.ovs.ovsdb import OvsdbClient
from tests.conftest import free_port

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ovs"
OUT = FIXTURES / "replies"


def capture(client: OvsdbClient, name: str) -> None:
    tables = client.select_many(
        [
            ("Open_vSwitch", ("bridges",)),
            ("Bridge", BRIDGE_COLUMNS),
            ("Port", PORT_COLUMNS),
            ("Interface", INTERFACE_COLUMNS),
        ]
    )
    (OUT / f"{name}.json").write_text(json.dumps(tables, indent=1, sort_keys=True) + "\n")


def capture_targets(client: OvsdbClient, switch: Switch) -> None:
    """Manager and Controller rows once ovs-vswitchd has tried them (their status maps)."""
    down, passive, controller = free_port(), free_port(), free_port()
    switch.vsctl("set-manager", f"tcp:127.0.0.1:{down}", f"ptcp:{passive}:127.0.0.1")
    switch.vsctl("set-controller", "br-int", f"tcp:127.0.0.1:{controller}")
    columns = ("target", "is_connected", "status", "role")
    for _ in range(100):
        tables = client.select_many(
            [("Manager", columns), ("Controller", columns), ("Bridge", ("name", "controller"))]
        )
        rows = tables["Manager"] + tables["Controller"]
        if all("last_error" in json.dumps(r) or "ptcp" in r["target"] for r in rows):
            break
        time.sleep(0.1)
    (OUT / "targets.json").write_text(json.dumps(tables, indent=1, sort_keys=True) + "\n")


def main() -> None:
    OUT.mkdir(exist_ok=True)
    switch = Switch().start()
    try:
        with OvsdbClient(switch.db) as client:
            capture(client, "empty")
            layout = load_layout(str(FIXTURES / "openstack-compute.yaml"))
            apply_layout(client, layout, devices=Devices(Host(), switch.netns))
            device = Host().run(["ip", "-n", switch.netns, "-j", "addr", "show", "dev", "mgmt"])
            (OUT / "ip-addr-mgmt.json").write_text(device.stdout)
            switch.vsctl("set", "port", "mgmt", "tag=20", "--", "add-port", "br-int", "tapdead")
            switch.vsctl("set", "bridge", "br-tun", "fail_mode=standalone")
            capture(client, "classic-drifted")
            switch.vsctl("set", "port", "mgmt", "tag=15", "--", "del-port", "br-int", "tapdead")
            switch.vsctl("set", "bridge", "br-tun", "fail_mode=secure")
            capture(client, "classic")
            capture_targets(client, switch)
    finally:
        switch.stop()


if __name__ == "__main__":
    main()
