"""nova-console and `nova probe` against the real Nova: the console URL of a tagged canary
timed, its token accepted by the real nova-novncproxy (which relays the fake hypervisor's RFB
greeting), percentiles over the runs, and the step named when the compute or the proxy fails."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import run_stackwatch
from tests.integration.nova.conftest import CLOUD, NOVA_VENV, Nova
from tests.integration.nova.test_nova_boot import boot


@pytest.fixture(scope="module")
def canary(nova_cloud: Nova) -> str:
    """A canary tagged for the probe, on compute-b (compute-a is the one the recovery test
    takes down)."""
    server = boot(nova_cloud, "canary-b", host="compute-b", tags=("stackwatch-canary",))
    return str(server.id)


def _config(tmp_path: Path, **extra: str) -> Path:
    lines = ["[nova]", f'clouds = ["{CLOUD}"]'] + [f"{k} = {v}" for k, v in extra.items()]
    path = tmp_path / "stackwatch.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _probe(
    nova: Nova, config: Path, state: Path, fmt: str = "json"
) -> tuple[int, dict[str, object]]:
    done = run_stackwatch(
        "nova", "probe", "--config", str(config), "--state-dir", str(state), "--format", fmt,
        env=nova.env, timeout=180,
    )  # fmt: skip
    assert not done.stderr.strip() or fmt != "json", done.stderr
    return done.returncode, json.loads(done.stdout)["checks"][0] if fmt == "json" else {}


def test_probe_times_the_console_and_the_proxy_accepts_the_token(
    nova_cloud: Nova, canary: str, tmp_path: Path
) -> None:
    config, state = _config(tmp_path), tmp_path / "state"
    before = nova_cloud.vnc.connections if nova_cloud.vnc else 0
    for _ in range(3):
        code, check = _probe(nova_cloud, config, state)
        assert code == 0, check
    assert check["status"] == "OK"
    metrics = {m["name"]: m for m in check["metrics"]}  # type: ignore[index]
    assert metrics["console_ok"]["value"] == 1
    assert metrics["console_ok"]["labels"] == {"cloud": CLOUD, "zone": "nova"}
    assert 0 < metrics["console_seconds"]["value"] < 10
    assert metrics["console_seconds"]["warn"] == "10" and metrics["console_seconds"]["crit"] == "30"
    assert metrics["console_p95_seconds"]["value"] >= metrics["console_p50_seconds"]["value"]
    assert any("over 3 probes" in d for d in check["details"])  # type: ignore[attr-defined]
    # the proxy connected to the hypervisor's console once per probe: the token was accepted
    assert nova_cloud.vnc is not None and nova_cloud.vnc.connections - before == 3
    saved = json.loads((state / "nova-console.json").read_text())
    assert len(saved["samples"][f"{CLOUD}/nova"]) == 3


def test_a_named_canary_per_cell(nova_cloud: Nova, canary: str, tmp_path: Path) -> None:
    """canaries = ["cell1=NAME", "cell2=ID"]: by name and by id, labelled with the cell; a
    name that matches no server is UNKNOWN (nothing was probed there)."""
    config = _config(tmp_path, canaries=f'["cell1=canary-b", "cell2={canary}", "cell3=nope"]')
    code, check = _probe(nova_cloud, config, tmp_path / "state")
    assert code == 3, check
    zones = {m["labels"]["zone"]: m["value"] for m in check["metrics"] if m["name"] == "console_ok"}  # type: ignore[index]
    assert zones == {"cell1": 1, "cell2": 1, "cell3": 0}
    assert "cell3: API failed: no server named 'nope'" in str(check["summary"])


def test_check_in_nagios_and_prometheus(nova_cloud: Nova, canary: str, tmp_path: Path) -> None:
    config = _config(tmp_path)
    common = ("--config", str(config), "--state-dir", str(tmp_path / "s"))
    nagios = run_stackwatch("check", "nova-console", "--format", "nagios", *common,
                            env=nova_cloud.env, timeout=180)  # fmt: skip
    assert nagios.returncode == 0, nagios.stdout + nagios.stderr
    assert nagios.stdout.startswith("NOVA-CONSOLE OK") or " OK" in nagios.stdout.split("|")[0]
    prom = run_stackwatch("check", "nova-console", "--format", "prometheus", *common,
                          env=nova_cloud.env, timeout=180)  # fmt: skip
    assert f'console_ok{{cloud="{CLOUD}",zone="nova"}} 1' in prom.stdout


def test_a_refused_token_is_a_console_auth_finding(
    nova_cloud: Nova, canary: str, tmp_path: Path
) -> None:
    """The proxy's cell database is not the compute's: it knows none of the tokens (a classic
    of multi-cell deployments). nova-novncproxy is restarted on an empty database for this."""
    conf = Path(nova_cloud.conf)
    original = conf.read_text()
    wrong = nova_cloud.directory / "proxy.conf"
    wrong.write_text("[database]\nconnection = " + original.split("[database]\nconnection = ")[1]
                     .split("\n", 1)[0].replace("/nova?", "/nova_cell0?") + "\n")  # fmt: skip
    nova_cloud.processes.stop("nova-novncproxy")
    nova_cloud.processes.start(
        "nova-novncproxy",
        [str(NOVA_VENV / "bin" / "nova-novncproxy"), "--config-file", nova_cloud.conf,
         "--config-file", str(wrong), "--web", str(nova_cloud.directory)],
        nova_cloud.nova_env(),
    )  # fmt: skip
    try:
        nova_cloud.wait_port(nova_cloud.novnc, "nova-novncproxy")
        code, check = _probe(nova_cloud, _config(tmp_path), tmp_path / "state")
        assert code == 2, check
        assert "console auth failed" in str(check["summary"])
        assert "token" in str(check["hint"])
    finally:
        nova_cloud.processes.stop("nova-novncproxy")
        nova_cloud.processes.start(
            "nova-novncproxy",
            [str(NOVA_VENV / "bin" / "nova-novncproxy"), "--config-file", nova_cloud.conf,
             "--web", str(nova_cloud.directory)],
            nova_cloud.nova_env(),
        )  # fmt: skip
        nova_cloud.wait_port(nova_cloud.novnc, "nova-novncproxy")


def test_a_proxy_that_is_down_is_named(nova_cloud: Nova, canary: str, tmp_path: Path) -> None:
    process = nova_cloud.processes.started["nova-novncproxy"]
    os.killpg(process.pid, signal.SIGSTOP)  # frozen: accepts TCP, answers nothing
    try:
        code, check = _probe(nova_cloud, _config(tmp_path, proxy_timeout="2"), tmp_path / "s")
    finally:
        os.killpg(process.pid, signal.SIGCONT)
    assert code == 2, check
    assert "proxy failed" in str(check["summary"]), check


def test_a_compute_that_is_down_is_a_compute_rpc_finding(
    nova_cloud: Nova, canary: str, tmp_path: Path
) -> None:
    """compute-b stopped and forced down: nova-api refuses the console at once (409)."""
    conn = nova_cloud.connect()
    nova_cloud.stop_compute("compute-b")
    service = next(s for s in conn.compute.services(binary="nova-compute") if s.host == "compute-b")
    conn.compute.put(f"/os-services/{service.id}", json={"forced_down": True}, microversion="2.53")
    try:
        code, check = _probe(nova_cloud, _config(tmp_path), tmp_path / "s")
        assert code == 2, check
        assert "compute RPC failed" in str(check["summary"]), check
    finally:
        conn.compute.put(f"/os-services/{service.id}", json={"forced_down": False},
                         microversion="2.53")  # fmt: skip
        restarted = time.time()
        nova_cloud.start_compute("compute-b")
        nova_cloud.wait_compute_up("compute-b", restarted)
