"""stackwatch switch against real SNMP agents: snmpsim serving the real recordings, our hostile
agents, a silent one and a slow one. Expected values were decoded by hand from the .snmprec
lines quoted beside them (tests/unit/switch/test_tables.py shows the bit arithmetic)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from stackwatch.switch import oids
from tests.conftest import run_stackwatch
from tests.integration.switch.conftest import Agents


def cli(agents: Agents, command: str, community: str, *extra: str):  # type: ignore[no-untyped-def]
    return run_stackwatch(
        "switch",
        command,
        f"127.0.0.1:{agents.port}",
        "--community-file",
        str(agents.files / f"{community}.community"),
        *extra,
    )


def test_vlans_json_of_the_catalyst(agents: Agents) -> None:
    done = cli(agents, "vlans", "cisco-c3560", "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    ports = {p["ifindex"]: p for p in report["ports"]}
    # vlanTrunkPortDynamicStatus.10149 = 1 (trunking); VlansEnabled.10149 = 0x20 00..: VLAN 2;
    # NativeVlan 1; the 2k/3k/4k columns are empty: 1024-4095 unknown. ifName "Gi0/49".
    assert ports[10149] == {
        "ifindex": 10149,
        "name": "Gi0/49",
        "mode": "trunk",
        "vlans": [2],
        "native": 1,
        "source": "vtp",
        "unknown": "1024-4095",
    }
    # vmVlan.10101 = 3: an access port; no "unknown" key where nothing is unknown
    assert ports[10101] == {
        "ifindex": 10101,
        "name": "Gi0/1",
        "mode": "access",
        "vlans": [3],
        "native": 3,
        "source": "vlan-membership",
    }


def test_vlans_text_of_the_procurve(agents: Agents) -> None:
    done = cli(agents, "vlans", "hpe-procurve-516733-b21")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "127.0.0.1:11161 (DUMSYS-64)".replace("11161", str(agents.port))
    # bridge port 13 = ifIndex 13 (ifName "13"): only in VLAN 50's current egress list
    # (e1 eb 80: bit 5 of byte 2), untagged there, dot1qPvid.13 = 50
    row = next(line for line in lines if line.split()[:2] == ["13", "13"])
    assert row.split() == ["13", "13", "access", "50", "q-bridge", "50"]


def test_truncated_bitmap_says_which_range_is_unknown(agents: Agents) -> None:
    done = cli(agents, "vlans", "truncated-vtp", "--format", "json")
    assert done.returncode == 0, done.stderr
    # 16 bytes 40 00 .. 00 01: VLAN 1 (bit 1) and VLAN 127 (last bit); 128-4095 not said
    (port,) = json.loads(done.stdout)["ports"]
    assert (port["vlans"], port["unknown"]) == ([1, 127], "128-4095")


def test_portlist_as_hex_text(agents: Agents) -> None:
    done = cli(agents, "vlans", "hex-text", "--format", "json")
    assert done.returncode == 0, done.stderr
    (port,) = json.loads(done.stdout)["ports"]
    assert (port["name"], port["vlans"], port["native"]) == ("Gi0/1", [100], 100)


def test_lldp_json_of_the_arista(agents: Agents) -> None:
    done = cli(agents, "lldp", "arista-dcs-7150s-52-cl", "--format", "json")
    assert done.returncode == 0, done.stderr
    # lldpRemTable rows 0.47.2 and 0.48.2: sysName 5a4a2d.. "ZJ-BP-Bak-Arista", chassis
    # (subtype 4, MAC) 444ca8313edf, port ids (subtype 5) Ethernet23/24, descriptions empty;
    # lldpLocPortId.47 "Ethernet47" = ifName.47
    assert json.loads(done.stdout) == {
        "device": f"127.0.0.1:{agents.port}",
        "neighbours": [
            {
                "ifindex": 47,
                "name": "Ethernet47",
                "remote_system": "ZJ-BP-Bak-Arista",
                "remote_chassis": "44:4c:a8:31:3e:df",
                "remote_port": "Ethernet23",
                "remote_port_description": "",
            },
            {
                "ifindex": 48,
                "name": "Ethernet48",
                "remote_system": "ZJ-BP-Bak-Arista",
                "remote_chassis": "44:4c:a8:31:3e:df",
                "remote_port": "Ethernet24",
                "remote_port_description": "",
            },
        ],
    }


def test_ports_first_reading_then_rates(agents: Agents, tmp_path: Path) -> None:
    args = ("--format", "json", "--state-dir", str(tmp_path))
    first = json.loads(cli(agents, "ports", "librenms-edgecos_ecs4610-24f", *args).stdout)
    port1 = next(p for p in first["ports"] if p["ifindex"] == 1)
    # ifHCInOctets.1|70|382231344675, ifHighSpeed.1|66|1000, ifAlias.1 "cementnikiv12-1-1"
    assert port1["counters"]["in_octets"] == 382231344675
    assert (port1["speed_mbps"], port1["oper"], port1["alias"]) == (1000, "up", "cementnikiv12-1-1")
    assert first["first_run"] is True and port1["rates"] == {}
    second = json.loads(cli(agents, "ports", "librenms-edgecos_ecs4610-24f", *args).stdout)
    port1 = next(p for p in second["ports"] if p["ifindex"] == 1)
    assert second["first_run"] is False
    assert port1["rates"]["in_octets"] == 0.0  # a recording: counters do not move


def test_v3_authpriv_reads_the_same(agents: Agents) -> None:
    done = run_stackwatch(
        "switch",
        "lldp",
        f"127.0.0.1:{agents.port}",
        "--format",
        "json",
        "--v3-file",
        str(agents.files / "arista-dcs-7150s-52-cl.v3"),
    )
    assert done.returncode == 0, done.stderr
    assert [n["remote_port"] for n in json.loads(done.stdout)["neighbours"]] == [
        "Ethernet23",
        "Ethernet24",
    ]


def test_silent_agent_fails_within_timeout(agents: Agents) -> None:
    started = time.monotonic()
    done = run_stackwatch(
        "switch",
        "vlans",
        f"127.0.0.1:{agents.silent_port}",
        "--timeout",
        "1",
        "--community-file",
        str(agents.files / "cisco-c3560.community"),
    )
    assert time.monotonic() - started < 5
    assert done.returncode == 1
    assert "no" in done.stderr and "answer" in done.stderr


def test_usage_errors(agents: Agents, tmp_path: Path) -> None:
    done = run_stackwatch("switch", "vlans", "127.0.0.1:1")
    assert done.returncode == 2
    assert "give one of --community-file" in done.stderr or "not a device" in done.stderr
    bad = tmp_path / "inv.yaml"
    bad.write_text("devices:\n  a: {address: x\n")
    done = run_stackwatch("switch", "verify", str(bad))
    assert done.returncode == 3
    assert f"{bad}:3: not YAML" in done.stderr


def test_verify_usage_errors_answer_unknown_as_a_plugin(tmp_path: Path) -> None:
    # Nagios reads 2 as CRITICAL: a bad argument of the plugin is UNKNOWN (3), one status line
    for args in (["--format", "bogus"], ["a.yaml", "extra"], ["--timeout", "soon"], ["--nope"]):
        done = run_stackwatch("switch", "verify", *args)
        assert done.returncode == 3, (args, done.stdout, done.stderr)
        assert done.stdout.startswith("SWITCH-VLANS UNKNOWN - "), (args, done.stdout)
        assert len(done.stdout.splitlines()) == 1
    missing = tmp_path / "absent.toml"
    done = run_stackwatch("switch", "verify", "--config", str(missing))
    assert done.returncode == 3
    assert done.stdout == f"SWITCH-VLANS UNKNOWN - {missing}: configuration file not found\n"


class Counting:
    """An ezsnmp session that counts the requests it sends and the values it gets back."""

    def __init__(self, session: object) -> None:
        object.__setattr__(self, "session", session)
        object.__setattr__(self, "requests", 0)
        object.__setattr__(self, "values", 0)

    def __getattr__(self, name: str) -> object:
        call = getattr(self.session, name)
        if name not in ("get", "get_next", "bulk_get"):
            return call

        def counted(oids: list[str]) -> object:
            replies = call(oids)
            object.__setattr__(self, "requests", self.requests + 1)
            object.__setattr__(self, "values", self.values + len(replies))
            return replies

        return counted

    def __setattr__(self, name: str, value: object) -> None:
        setattr(self.session, name, value)


def test_verify_reads_the_catalyst_in_few_requests(
    agents: Agents, monkeypatch: pytest.MonkeyPatch
) -> None:
    # what verify reads of the Catalyst (57 interfaces, 52 VTP ports of which 3 trunks, no LLDP
    # neighbours): names and links, VTP status, vmVlan, ifStackTable, and the 4 bitmaps and the
    # native VLAN of the 3 trunks only. Walking every column in full took 20 requests and 979
    # values; an operator's snmpbulkwalk loop of the same columns takes 28 runs.
    from stackwatch.switch import client
    from stackwatch.switch.client import Credentials, Target, fetch
    from stackwatch.switch.device import decode_device, request_for

    sessions: list[Counting] = []
    opened = client._session

    def counting(target: Target, request: client.Request) -> Counting:
        sessions.append(Counting(opened(target, request)))
        return sessions[-1]

    monkeypatch.setattr(client, "_session", counting)
    target = Target("c", "127.0.0.1", agents.port, Credentials("2c", community="cisco-c3560"))
    request = request_for({"vlans", "lldp"}, 10)
    walked = fetch(target, request)
    (session,) = sessions
    assert session.requests <= 10 and session.values <= 450, (session.requests, session.values)
    assert set(walked.column(oids.VTP_VLANS_ENABLED)) == {(10149,), (10151,), (10152,)}
    facts = decode_device(client.Reading(target, walked), {"vlans", "lldp"})
    assert facts.error is None and facts.port_vlans(10149) is not None
