"""nova recover against the real Nova: refused while compute-a is up; once it is stopped and
forced down, the plan lists its instances, --apply evacuates them onto compute-b in parallel,
waits for ACTIVE, writes a report, and a second run finds nothing left to do; --in-place
hard-reboots a stopped instance on a host that is up."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_stackwatch
from tests.integration.nova.conftest import CLOUD, Nova
from tests.integration.nova.test_nova_boot import boot


def _recover(nova: Nova, config: Path, *args: str, host: str = "compute-a") -> tuple[int, str, str]:
    done = run_stackwatch("nova", "recover", host, "--config", str(config), *args,
                          env=nova.env, timeout=300)  # fmt: skip
    return done.returncode, done.stdout, done.stderr


def test_recover_a_failed_host_onto_the_other(nova_cloud: Nova, tmp_path: Path) -> None:
    servers = [boot(nova_cloud, f"on-a-{i}", host="compute-a") for i in range(3)]
    reports = tmp_path / "reports"
    config = tmp_path / "stackwatch.toml"
    config.write_text(
        f'[nova]\nclouds = ["{CLOUD}"]\nrecover_parallel = 2\nrecover_timeout = 120.0\n'
        f'report_dir = "{reports}"\n'
    )

    code, out, err = _recover(nova_cloud, config, "--plan")
    assert code == 1, out + err
    assert "REFUSED: compute-a's compute service is up and not forced down" in out

    conn = nova_cloud.connect()
    nova_cloud.stop_compute("compute-a")
    service = next(s for s in conn.compute.services(binary="nova-compute") if s.host == "compute-a")
    conn.compute.put(f"/os-services/{service.id}", json={"forced_down": True}, microversion="2.53")

    code, out, err = _recover(nova_cloud, config, "--plan", "--format", "json")
    assert code == 4, out + err
    plan = json.loads(out)
    assert plan["refusal"] is None and plan["service"]["forced_down"] is True
    planned = {s["server"]["id"]: s["action"] for s in plan["steps"]}
    assert {s.id for s in servers} <= set(planned)
    assert {planned[s.id] for s in servers} == {"evacuate"}
    assert [c["host"] for c in plan["capacity"]] == ["compute-b"]

    code, out, err = _recover(nova_cloud, config, "--apply")
    assert code == 0, out + err
    assert out.count("evacuate recovered") >= 3, out
    for server in servers:
        after = conn.compute.get_server(server.id)
        assert (after.status, after.compute_host) == ("ACTIVE", "compute-b")
    [report] = reports.glob("recover-compute-a-*.json")
    data = json.loads(report.read_text())
    assert {r["id"] for r in data["recovered"]} >= {s.id for s in servers}
    assert data["failed"] == [] and data["host"] == "compute-a"

    code, out, err = _recover(nova_cloud, config, "--apply")  # safe to run again
    assert code == 0 and "nothing to do" in out, out + err
    code, out, err = _recover(nova_cloud, config, "--plan")
    assert code == 0 and "0 instance(s)" in out, out + err

    # in place: an instance stopped on compute-b (up) is hard-rebooted back to ACTIVE
    conn.compute.stop_server(servers[0].id)
    conn.compute.wait_for_server(conn.compute.get_server(servers[0].id), status="SHUTOFF", wait=60)
    code, out, err = _recover(nova_cloud, config, "--in-place", host="compute-b")
    assert code == 4 and "SHUTOFF" in out and "-> reboot" in out, out + err
    code, out, err = _recover(nova_cloud, config, "--in-place", "--apply", host="compute-b")
    assert code == 0 and "reboot recovered (ACTIVE on compute-b" in out, out + err
    assert conn.compute.get_server(servers[0].id).status == "ACTIVE"
