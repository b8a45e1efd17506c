"""A real Glance for the image tests: PyPI ``glance`` in its own virtual environment
(.venv-glance, made by scripts/install-test-deps.sh so that its pinned dependencies never meet
the project's), SQLite and the file store, ``glance-manage db_sync``, and its WSGI application
under gunicorn on 127.0.0.1. Its paste pipeline leaves Keystone out: a filter
(../paste/openstack_identity.py) supplies the identity auth_token would confirm, and the client uses
openstacksdk's ``auth_type: none`` with an endpoint, from a clouds.yaml."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PROJECT, free_port

GLANCE_VENV = PROJECT / ".venv-glance"
HERE = Path(__file__).resolve().parent
CAP = 4 << 20

API_CONF = """\
[DEFAULT]
enabled_backends = fs:file
enabled_import_methods = [{methods}]
worker_self_reference_url = {url}
image_size_cap = {cap}
[database]
connection = sqlite:///{dir}/glance.sqlite
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = {dir}/images
[os_glance_staging_store]
filesystem_store_datadir = {dir}/staging
[os_glance_tasks_store]
filesystem_store_datadir = {dir}/tasks
[paste_deploy]
config_file = {dir}/glance-api-paste.ini
"""

CLOUDS = """\
clouds:
  glance-test:
    auth_type: none
    auth:
      endpoint: {url}
    image_endpoint_override: {url}
"""


@dataclass(frozen=True)
class Glance:
    url: str
    store: Path
    env: dict[str, str]  # OS_CLIENT_CONFIG_FILE for stackwatch's openstacksdk

    def images(self) -> list[dict[str, object]]:
        import json

        with urllib.request.urlopen(f"{self.url}/v2/images", timeout=5) as response:
            images: list[dict[str, object]] = json.load(response)["images"]
        return images


def _paste_ini(directory: Path) -> None:
    """Glance's own paste file, its default pipeline with the identity filter and Glance's
    context middleware in place of the unauthenticated context."""
    text = (GLANCE_VENV / "etc" / "glance" / "glance-api-paste.ini").read_text()
    old = "default = cors http_proxy_to_wsgi versionnegotiation osprofiler unauthenticated-context"
    new = "default = cors http_proxy_to_wsgi versionnegotiation identity context"
    assert old in text, "the paste file of this Glance release has another default pipeline"
    text = text.replace(old, new)
    text += "\n[filter:identity]\npaste.filter_factory = openstack_identity:filter_factory\n"
    (directory / "glance-api-paste.ini").write_text(text)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"Glance exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/v2/images", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail("Glance did not answer within 60 s")


def start_glance(
    directory: Path, methods: str = "glance-direct", cap: int = 1 << 40
) -> Iterator[Glance]:
    if not (GLANCE_VENV / "bin" / "gunicorn").exists():
        pytest.skip(f"Glance is not installed in {GLANCE_VENV} (scripts/install-test-deps.sh)")
    for sub in ("images", "staging", "tasks"):
        (directory / sub).mkdir(parents=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    (directory / "glance-api.conf").write_text(
        API_CONF.format(dir=directory, url=url, methods=methods, cap=cap)
    )
    _paste_ini(directory)
    (directory / "clouds.yaml").write_text(CLOUDS.format(url=url))
    conf = str(directory / "glance-api.conf")
    subprocess.run(
        [str(GLANCE_VENV / "bin" / "glance-manage"), "--config-file", conf, "db_sync"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    env = dict(
        os.environ, OS_GLANCE_CONFIG_DIR=str(directory), PYTHONPATH=str(HERE.parent / "paste")
    )
    log = directory / "gunicorn.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                str(GLANCE_VENV / "bin" / "gunicorn"),
                "-b",
                f"127.0.0.1:{port}",
                "-w",
                "1",
                "--threads",
                "4",
                "glance.wsgi.api:application",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        _wait_ready(url, process, log)
        client_env = {"OS_CLIENT_CONFIG_FILE": str(directory / "clouds.yaml")}
        for key in list(os.environ):
            if key.startswith("OS_") and key != "OS_CLIENT_CONFIG_FILE":
                client_env[key] = ""
        yield Glance(url, directory / "images", client_env)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _private_dir(prefix: str) -> Iterator[Path]:
    """A directory of this test's own, outside pytest's basetemp: pytest removes all but the
    newest three basetemps, so concurrent runs on one machine would delete Glance's database and
    store under it."""
    with tempfile.TemporaryDirectory(prefix=prefix) as name:
        yield Path(name)


@pytest.fixture
def work() -> Iterator[Path]:
    """The test's own directory for appliances and scratch space."""
    yield from _private_dir("stackwatch-image-test-")


@pytest.fixture(scope="module")
def glance() -> Iterator[Glance]:
    """Glance offering glance-direct import."""
    for directory in _private_dir("stackwatch-glance-"):
        yield from start_glance(directory)


@pytest.fixture(scope="module")
def glance_upload_only() -> Iterator[Glance]:
    """Glance offering no import method (the data goes up with PUT /file), and refusing images
    larger than 4 MiB (image_size_cap): an upload it refuses half-way."""
    for directory in _private_dir("stackwatch-glance-put-"):
        yield from start_glance(directory, methods="", cap=CAP)
