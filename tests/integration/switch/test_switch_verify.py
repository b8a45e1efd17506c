"""switch verify and the checks switch-vlans / switch-ports, against snmpsim and our hostile
agents: per hypervisor NIC what is wrong, each broken agent UNKNOWN with its reason, the others
still judged, all within --timeout."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.conftest import run_stackwatch
from tests.integration.switch.conftest import Agents


def inventory(
    agents: Agents, tmp_path: Path, devices: dict[str, int | str], hypervisors: str
) -> Path:
    lines = ["devices:"]
    for name, where in devices.items():
        port = where if isinstance(where, int) else agents.port
        community = where if isinstance(where, str) else "cisco-c3560"
        lines += [
            f"  {name}:",
            "    address: 127.0.0.1",
            f"    port: {port}",
            f"    community_file: {agents.files / (community + '.community')}",
        ]
    path = tmp_path / "switches.yaml"
    path.write_text("\n".join(lines) + "\n" + hypervisors)
    return path


# The Arista's Ethernet47/48 are members of Port-Channel1 (ifStackStatus.1000001.47/.48); the
# VLANs are on the port-channel, bridge port 100 (dot1dBasePortIfIndex.100 = 1000001): byte 12
# of every current egress list is 0x10 (bit 3 -> port 100) for VLANs 1, 40, 41, 80, 90;
# dot1qPvid.100 = 1. LLDP on 47/48: "ZJ-BP-Bak-Arista" ports Ethernet23 / Ethernet24.
# The Edgecore's Port1 (bridge port 1): first byte >= 0x80 in the current egress lists of VLANs
# 1, 199, 251 (FFFFFF..) and 1503 (80..); LLDP neighbour "cementnikiv12-1-1".
HYPERVISORS = """\
roles:
  bak:
    Ethernet23: {vlans: "1,40-41,80,90", native: 1}
    Ethernet24: {vlans: "1,40-41,80", native: 1}
hypervisors:
  ZJ-BP-Bak-Arista: {role: bak}
  cementnikiv12-1-1:
    nics: {"Ethernet Port on unit 1, port 25": {vlans: "1,199,251,1503-1504"}}
  ghost: {nics: {em1: {vlans: 15}}}
"""
ARISTA_ONLY = HYPERVISORS.split("  cementnikiv12-1-1:")[0]


def test_verify_reports_per_nic(agents: Agents, tmp_path: Path) -> None:
    path = inventory(agents, tmp_path, {"arista": "arista-dcs-7150s-52-cl"}, HYPERVISORS)
    done = run_stackwatch("switch", "verify", str(path), "--format", "json")
    assert done.returncode == 1, done.stdout + done.stderr  # WARNING: extra VLAN, ghost unseen
    (result,) = json.loads(done.stdout)["checks"]
    assert result["status"] == "WARNING"
    text = json.dumps(result)
    assert (
        "ZJ-BP-Bak-Arista Ethernet24 (arista Ethernet48 in Port-Channel1): VLANs extra 90" in text
    )
    assert (
        "ZJ-BP-Bak-Arista Ethernet23 (arista Ethernet47 in Port-Channel1): carries "
        "1,40-41,80,90 native 1: OK" in text
    )
    assert "ghost em1: no neighbour seen" in text


def test_verify_missing_vlan_is_critical(agents: Agents, tmp_path: Path) -> None:
    path = inventory(
        agents,
        tmp_path,
        {"edge": "librenms-edgecos_ecs4610-24f"},
        HYPERVISORS.replace("ghost: {nics: {em1: {vlans: 15}}}\n", ""),
    )
    done = run_stackwatch("switch", "verify", str(path), "--format", "nagios")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout.startswith("SWITCH-VLANS CRITICAL")
    assert (
        "cementnikiv12-1-1 Ethernet Port on unit 1, port 25 (edge Port1): VLANs missing 1504"
        in done.stdout
    )


def test_hostile_agents_are_unknown_and_the_others_still_answer(
    agents: Agents, tmp_path: Path
) -> None:
    devices: dict[str, int | str] = {
        "arista": "arista-dcs-7150s-52-cl",
        "oversized": "oversized-vtp",
        "wrongtype": "wrong-type",
        "nouptime": "no-uptime",
        "silent": agents.silent_port,
        "slow": agents.slow_port,
    }
    path = inventory(agents, tmp_path, devices, ARISTA_ONLY)
    started = time.monotonic()
    done = run_stackwatch("switch", "verify", str(path), "--timeout", "3", "--format", "json")
    elapsed = time.monotonic() - started
    assert elapsed < 3 + 2.5, elapsed  # the deadline, the start of Python and a grace
    assert done.returncode == 3, done.stdout + done.stderr
    text = done.stdout
    assert "oversized: bad reply: vlanTrunkPortVlansEnabled.1:" in text and "200 bytes" in text
    assert "wrongtype: bad reply: 1.3.6.1.2.1.2.2.1.8.1: OCTET STRING where INTEGER" in text
    assert "nouptime: bad reply: sysUpTime.0: no such object" in text
    assert "silent: no answer (timeout)" in text
    assert "slow: answers too slowly: " in text
    # the Arista still judged: its NIC with one VLAN too many
    assert "(arista Ethernet48 in Port-Channel1): VLANs extra 90" in text


def test_checks_in_every_format(agents: Agents, tmp_path: Path) -> None:
    path = inventory(
        agents,
        tmp_path,
        {"arista": "arista-dcs-7150s-52-cl", "edge": "librenms-edgecos_ecs4610-24f"},
        "",
    )
    config = tmp_path / "stackwatch.toml"
    config.write_text(f'[switch]\ninventory = "{path}"\ntimeout = 5\n')
    state = tmp_path / "state"
    nagios = run_stackwatch(
        "check",
        "switch-ports",
        "--config",
        str(config),
        "--format",
        "nagios",
        "--state-dir",
        str(state),
    )
    # edgecore Port6: admin up (2.2.1.7.6 = 1), oper lowerLayerDown (2.2.1.8.6 = 7); is it
    # described? Only ports with an ifAlias are watched by default.
    assert nagios.stdout.startswith("SWITCH-PORTS "), nagios.stdout + nagios.stderr
    assert "busiest_port_arista" in nagios.stdout
    prom = run_stackwatch(
        "check",
        "switch-vlans",
        "--config",
        str(config),
        "--format",
        "prometheus",
        "--state-dir",
        str(state),
    )
    assert 'check="switch-vlans"' in prom.stdout, prom.stdout + prom.stderr
    assert (
        "unknown neighbour"
        in run_stackwatch(
            "check", "switch-vlans", "--config", str(config), "--state-dir", str(state)
        ).stdout
    )
