"""Real Apache 2.4 and nginx on 127.0.0.1, each in its own temporary directory, stopped after."""

from __future__ import annotations

import http.client
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stackwatch.weblog.rules import nginx_map
from tests.conftest import free_port

MODULES = "/usr/lib/apache2/modules"


@dataclass
class Server:
    kind: str
    root: Path
    port: int
    access_log: Path
    rules: Path  # the file stackwatch writes
    validate: list[str]
    reload: list[str]


def _site(root: Path) -> Path:
    htdocs = root / "htdocs"
    for page in ("index.html", "forum/search.php", "article/42", "static/site.css"):
        (htdocs / page).parent.mkdir(parents=True, exist_ok=True)
        (htdocs / page).write_text(f"page {page}\n")
    for path in [root, *root.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return htdocs


def _wait_for_port(port: int, log: Path, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/index.html")
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.1)
    text = log.read_text(errors="replace") if log.exists() else "(no log)"
    raise RuntimeError(f"server on port {port} did not start: {text[-2000:]}")


@pytest.fixture
def apache() -> Iterator[Server]:
    if shutil.which("apache2") is None:
        pytest.skip("apache2 not installed")
    root = Path(tempfile.mkdtemp(prefix="sw-apache-"))
    port = free_port()
    htdocs = _site(root)
    (root / "rules").mkdir()
    (root / "run").mkdir()
    conf = root / "apache2.conf"
    user = "User www-data\nGroup www-data\n" if os.geteuid() == 0 else ""
    conf.write_text(
        f"""ServerRoot "{root}"
DefaultRuntimeDir "{root}/run"
PidFile "{root}/apache2.pid"
ErrorLog "{root}/error.log"
LogLevel warn
{user}Listen 127.0.0.1:{port}
ServerName 127.0.0.1
LoadModule mpm_event_module {MODULES}/mod_mpm_event.so
LoadModule authz_core_module {MODULES}/mod_authz_core.so
LoadModule dir_module {MODULES}/mod_dir.so
LoadModule mime_module {MODULES}/mod_mime.so
LoadModule rewrite_module {MODULES}/mod_rewrite.so
TypesConfig /etc/mime.types
DocumentRoot "{htdocs}"
<Directory "{htdocs}">
    Require all granted
</Directory>
LogFormat "%h %l %u %t \\"%r\\" %>s %O \\"%{{Referer}}i\\" \\"%{{User-Agent}}i\\"" combined
CustomLog "{root}/access.log" combined
IncludeOptional "{root}/rules/*.conf"
"""
    )
    base = ["apache2", "-f", str(conf)]
    subprocess.run([*base, "-k", "start"], check=True, timeout=30, capture_output=True)
    try:
        _wait_for_port(port, root / "error.log")
        yield Server(
            "apache", root, port, root / "access.log", root / "rules" / "stackwatch.conf",
            [*base, "-t"], [*base, "-k", "graceful"],
        )  # fmt: skip
    finally:
        subprocess.run([*base, "-k", "stop"], timeout=30, capture_output=True, check=False)
        _wait_gone(root / "apache2.pid")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def nginx() -> Iterator[Server]:
    if shutil.which("nginx") is None:
        pytest.skip("nginx not installed")
    root = Path(tempfile.mkdtemp(prefix="sw-nginx-"))
    port = free_port()
    htdocs = _site(root)
    rules = root / "stackwatch-map.conf"
    rules.write_text(nginx_map([]))
    conf = root / "nginx.conf"
    temps = "\n".join(
        f"    {name}_temp_path {root}/{name};" for name in ("client_body", "proxy", "fastcgi")
    )
    conf.write_text(
        f"""worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    access_log {root}/access.log combined;
{temps}
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    include {rules};
    server {{
        listen 127.0.0.1:{port};
        root {htdocs};
        if ($stackwatch_blocked_referer) {{ return 403; }}
    }}
}}
"""
    )
    base = ["nginx", "-c", str(conf), "-p", str(root), "-e", str(root / "error.log")]
    subprocess.run(base, check=True, timeout=30, capture_output=True)
    try:
        _wait_for_port(port, root / "error.log")
        yield Server(
            "nginx", root, port, root / "access.log", rules, [*base, "-t"],
            [*base, "-s", "reload"],
        )  # fmt: skip
    finally:
        subprocess.run([*base, "-s", "stop"], timeout=30, capture_output=True, check=False)
        _wait_gone(root / "nginx.pid")
        shutil.rmtree(root, ignore_errors=True)


def _wait_gone(pidfile: Path, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.1)


def get(port: int, path: str, referrer: str | None, source: str = "127.0.0.1") -> int:
    """One real HTTP request from a loopback source address; the status code."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5, source_address=(source, 0))
    try:
        headers = {"User-Agent": "stackwatch-test"}
        if referrer:
            headers["Referer"] = referrer
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()
