"""Record real OVSDB replies for the unit tests of live.py and plan.py (run as root, by hand):

    python3 tests/integration/ovs/capture_replies.py

Starts a test switch, and for each state writes the tables that ``read_live`` selects, exactly as
the server sent them, to tests/fixtures/ovs/replies/<state>.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from switch import Switch

from stackwatch.core.host import Host
from stackwatch.ovs.apply import Devices, apply_layout
from stackwatch.ovs.layout import load_layout
from stackwatch.ovs.live import BRIDGE_COLUMNS, INTERFACE_COLUMNS, PORT_COLUMNS
from stackwatch.ovs.ovsdb import OvsdbClient

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
    finally:
        switch.stop()


if __name__ == "__main__":
    main()
