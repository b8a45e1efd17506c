"""The commands against an API that lies or is not there (a loopback HTTP server posing as
nova-api): one clear line and the exit codes of core/exits.py, never a traceback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port, run_stackwatch

LIES = {
    "html": (200, "text/html", b"<html><body>Welcome to the load balancer</body></html>"),
    "shape": (200, "application/json", json.dumps({"servers": {"id": 1}}).encode()),
    "console": (200, "application/json", json.dumps({"remote_console": {"url": 42}}).encode()),
    "500": (500, "application/json", json.dumps({"computeFault": {"message": "boom"}}).encode()),
}
SERVER = {"id": "s1", "name": "canary", "status": "ACTIVE", "created": "2026-01-01T00:00:00Z",
          "OS-EXT-AZ:availability_zone": "az1", "OS-EXT-SRV-ATTR:host": "h1"}  # fmt: skip


class Liar(BaseHTTPRequestHandler):
    lie = "html"

    def _answer(self) -> None:
        status, kind, body = LIES[self.lie]
        if self.path.rstrip("/") in ("", "/v2.1"):  # the version documents openstacksdk reads
            status, kind, body = 200, "application/json", self._versions()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _versions(self) -> bytes:
        url = f"http://{self.headers['Host']}/v2.1"
        version = {"id": "v2.1", "status": "CURRENT", "version": "2.96", "min_version": "2.1",
                   "links": [{"rel": "self", "href": url}]}  # fmt: skip
        root = self.path.rstrip("/") == ""
        return json.dumps({"versions": [version]} if root else {"version": version}).encode()

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def liar(tmp_path: Path) -> Iterator[tuple[ThreadingHTTPServer, dict[str, str]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Liar)
    url = f"http://127.0.0.1:{server.server_address[1]}/v2.1"
    gone = f"http://127.0.0.1:{free_port()}/v2.1"
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(
        "clouds:\n"
        + "".join(
            f"  {name}:\n    auth_type: admin_token\n    auth:\n      endpoint: {u}\n"
            f"      token: secret-token\n    compute_endpoint_override: {u}\n"
            f"    placement_endpoint_override: {u}\n"
            for name, u in (("liar", url), ("gone", gone))
        )
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server, {"OS_CLIENT_CONFIG_FILE": str(clouds)}
    server.shutdown()
    server.server_close()


def _config(tmp_path: Path, cloud: str) -> str:
    path = tmp_path / "stackwatch.toml"
    path.write_text(f'[nova]\nclouds = ["{cloud}"]\napi_timeout = 5.0\n')
    return str(path)


@pytest.mark.parametrize("lie", ["html", "shape", "console"])
def test_a_lying_api_is_unknown(liar: Any, tmp_path: Path, lie: str) -> None:
    Liar.lie = lie
    config = _config(tmp_path, "liar")
    done = run_stackwatch("check", "nova-console", "--format", "nagios", "--config", config,
                          "--state-dir", str(tmp_path), env=liar[1])  # fmt: skip
    assert done.returncode == 3, done.stdout + done.stderr
    line = done.stdout.splitlines()[0]
    assert "UNKNOWN" in line and ("not JSON" in line or "unexpected shape" in line), line
    assert "Traceback" not in done.stdout + done.stderr and "secret-token" not in done.stdout


def test_a_failing_or_absent_api_is_critical_naming_the_step(liar: Any, tmp_path: Path) -> None:
    Liar.lie = "500"
    done = run_stackwatch("nova", "probe", "--config", _config(tmp_path, "liar"),
                          "--state-dir", str(tmp_path), env=liar[1])  # fmt: skip
    assert done.returncode == 2 and "API failed" in done.stdout and "boom" in done.stdout
    done = run_stackwatch("nova", "probe", "--config", _config(tmp_path, "liar"), "--cloud",
                          "gone", "--state-dir", str(tmp_path), env=liar[1])  # fmt: skip
    assert done.returncode == 2 and "API failed" in done.stdout and "unreachable" in done.stdout


def test_recover_against_a_liar_fails_in_one_line(liar: Any, tmp_path: Path) -> None:
    Liar.lie = "html"
    done = run_stackwatch("nova", "recover", "h1", "--config", _config(tmp_path, "liar"),
                          env=liar[1])  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.startswith("stackwatch: ") and len(done.stderr.splitlines()) == 1
    assert "not JSON" in done.stderr


def test_usage_errors(tmp_path: Path) -> None:
    config = _config(tmp_path, "liar")
    both = run_stackwatch("nova", "recover", "h1", "--plan", "--apply", "--config", config)
    assert both.returncode == 2 and "exclude each other" in both.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('[nova]\ncanaries = ["no-equals-sign"]\n')
    done = run_stackwatch("nova", "probe", "--config", str(bad))
    assert done.returncode == 2 and "ZONE=SERVER" in done.stderr
    done = run_stackwatch("check", "nova-console", "--config", str(bad), "--format", "nagios")
    assert done.returncode == 3


def test_without_clouds_the_check_is_skipped(tmp_path: Path) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    done = run_stackwatch("check", "nova-console", "--config", str(empty))
    assert done.returncode == 0 and "SKIP" in done.stdout and "[nova] clouds" in done.stdout
