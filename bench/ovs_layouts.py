"""Open vSwitch layouts, side by side with ovs-vsctl on the same switch in the same run.

1. The classic OpenStack layout (br-int, br-tun, br-ex with bond0 and mgmt) applied from empty:
   ``stackwatch ovs apply`` (one transaction) beside the equivalent ovs-vsctl commands.
2. ``verify`` against 3 bridges and 500 ports, beside ``ovs-vsctl show`` on the same switch.

Needs root and Debian's openvswitch-switch. Run: python3 bench/ovs_layouts.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration" / "ovs"))

from switch import Switch  # noqa: E402

from stackwatch.ovs.apply import apply_layout  # noqa: E402
from stackwatch.ovs.checks import compare_layout  # noqa: E402
from stackwatch.ovs.layout import load_layout, parse_layout  # noqa: E402
from stackwatch.ovs.live import read_live  # noqa: E402
from stackwatch.ovs.ovsdb import OvsdbClient  # noqa: E402

CLASSIC = ROOT / "tests" / "fixtures" / "ovs" / "openstack-compute.yaml"
ROUNDS = 5

VSCTL_CLASSIC = [
    ["add-br", "br-int", "--", "set", "bridge", "br-int", "fail_mode=secure",
     "datapath_type=netdev"],
    ["add-port", "br-int", "patch-tun", "--", "set", "interface", "patch-tun", "type=patch",
     "options:peer=patch-int"],
    ["add-br", "br-tun", "--", "set", "bridge", "br-tun", "fail_mode=secure",
     "datapath_type=netdev"],
    ["add-port", "br-tun", "patch-int", "--", "set", "interface", "patch-int", "type=patch",
     "options:peer=patch-tun"],
    ["add-port", "br-tun", "vxlan-0a000002", "--", "set", "interface", "vxlan-0a000002",
     "type=vxlan", "options:remote_ip=10.0.0.2", "options:key=flow"],
    ["add-br", "br-ex", "--", "set", "bridge", "br-ex", "datapath_type=netdev",
     "other_config:hwaddr=52:54:00:00:00:01"],
    ["add-bond", "br-ex", "bond0", "em1", "em2", "bond_mode=balance-slb", "lacp=off"],
    ["add-port", "br-ex", "mgmt", "tag=15", "--", "set", "interface", "mgmt", "type=internal"],
]  # fmt: skip


def bench_apply(switch: Switch) -> None:
    layout = load_layout(str(CLASSIC))
    ours, theirs = [], []
    for _ in range(ROUNDS):
        switch.clear()
        started = time.perf_counter()
        with OvsdbClient(switch.db) as client:
            outcome = apply_layout(client, layout)
        ours.append(time.perf_counter() - started)
        assert outcome.applied
        switch.clear()
        started = time.perf_counter()
        for command in VSCTL_CLASSIC:
            switch.vsctl("--no-wait", *command)
        theirs.append(time.perf_counter() - started)
    ours_ms, theirs_ms = statistics.median(ours) * 1000, statistics.median(theirs) * 1000
    print(
        f"apply classic layout from empty: stackwatch {ours_ms:.1f} ms (1 transaction) | "
        f"ovs-vsctl {theirs_ms:.1f} ms ({len(VSCTL_CLASSIC)} commands) | "
        f"ratio {theirs_ms / ours_ms:.1f}x (median of {ROUNDS})"
    )


def big_layout(ports: int = 500) -> str:
    lines = ["bridges:"]
    per = [ports // 3 + (1 if i < ports % 3 else 0) for i in range(3)]
    for b, count in enumerate(per):
        lines.append(f"  br{b}:\n    datapath_type: netdev\n    ports:")
        for p in range(count):
            lines.append(f"      tap{b}x{p:04d}: {{type: internal, tag: {p % 4094 + 1}}}")
    return "\n".join(lines) + "\n"


def bench_verify(switch: Switch) -> None:
    switch.clear()
    layout_text = big_layout()
    path = switch.dir / "big.yaml"
    path.write_text(layout_text)
    layout = parse_layout(layout_text, str(path))
    with OvsdbClient(switch.db, timeout=30) as client:
        apply_layout(client, layout)
    ours, cli, theirs = [], [], []
    # as installed (pip writes bytecode): without it every run compiles the modules again
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    command = [
        sys.executable,
        "-m",
        "stackwatch.cli",
        "ovs",
        "verify",
        str(path),
        "--db",
        switch.db,
    ]
    subprocess.run(command, capture_output=True, env=env, check=False)
    for _ in range(ROUNDS):
        started = time.perf_counter()
        with OvsdbClient(switch.db) as client:
            facts = compare_layout(load_layout(str(path)), read_live(client))
        ours.append(time.perf_counter() - started)
        assert not facts.differences and facts.ports == 500, facts
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        cli.append(time.perf_counter() - started)
        assert done.returncode == 0, done.stdout + done.stderr
        started = time.perf_counter()
        switch.vsctl("show")
        theirs.append(time.perf_counter() - started)
    ours_ms = statistics.median(ours) * 1000
    cli_ms = statistics.median(cli) * 1000
    theirs_ms = statistics.median(theirs) * 1000
    print(
        f"verify 3 bridges / 500 ports: stackwatch {ours_ms:.1f} ms in-process, "
        f"{cli_ms:.1f} ms wall for the stackwatch ovs verify command | ovs-vsctl show "
        f"{theirs_ms:.1f} ms | ratio (command wall / ovs-vsctl show) {cli_ms / theirs_ms:.2f} "
        f"(median of {ROUNDS}; target: command wall <= 300 ms)"
    )


def main() -> None:
    switch = Switch(with_vswitchd=True).start()
    try:
        bench_apply(switch)
    finally:
        switch.stop()
    # verify reads OVSDB only; without ovs-vswitchd no 500 tap devices are created
    switch = Switch(with_vswitchd=False).start()
    try:
        bench_verify(switch)
    finally:
        switch.stop()


if __name__ == "__main__":
    main()
