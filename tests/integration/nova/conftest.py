"""A real Nova for the nova tests, once per session: PyPI ``nova`` and ``openstack-placement`` in
their own virtual environment (.venv-nova, made by scripts/install-test-deps.sh), Debian's
rabbitmq-server, a MariaDB server holding nova_api, nova_cell0, nova (cell1) and placement, the
Glance of the image tests for the image, and nova-api, placement (both under gunicorn),
nova-conductor, nova-scheduler, nova-novncproxy and two nova-compute services (hosts
``compute-a`` and ``compute-b``) with Nova's fake virt driver. Keystone is left out: a paste
filter (../paste/openstack_identity.py) supplies the identity auth_token would confirm,
placement runs with its noauth2 strategy, and clients send the admin token placement's noauth2
expects. Neutron is left out: servers boot with ``networks: none``. Everything listens on
127.0.0.1; every process is stopped at the end of the session (process groups, SIGTERM then
SIGKILL)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PROJECT, free_port

NOVA_VENV = PROJECT / ".venv-nova"
HERE = Path(__file__).resolve().parent
RABBIT = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
HOSTS = ("compute-a", "compute-b")
CLOUD = "nova-test"
DEADLINE = 420.0  # seconds the whole cloud may take to come up (a busy machine: see docs)


def _skip_without_parts() -> None:
    if not (NOVA_VENV / "bin" / "nova-compute").exists():
        pytest.skip(f"Nova is not installed in {NOVA_VENV} (scripts/install-test-deps.sh)")
    if not RABBIT.exists():
        pytest.skip("rabbitmq-server is not installed (scripts/install-test-deps.sh)")
    if shutil.which("mariadbd") is None and not Path("/usr/sbin/mariadbd").exists():
        pytest.skip("mariadb-server is not installed (scripts/install-test-deps.sh)")


@dataclass
class Processes:
    """Every process the fixture started, each in a process group of its own."""

    directory: Path
    started: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        with (self.directory / f"{name}.log").open("ab") as log:
            self.started[name] = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                cwd=self.directory,
            )

    def log(self, name: str) -> str:
        path = self.directory / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def alive(self, name: str) -> None:
        process = self.started[name]
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited ({process.returncode}): {self.log(name)}")

    def stop(self, name: str) -> None:
        process = self.started.pop(name, None)
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        # children of a stopped service (gunicorn workers, rabbit's beam) go with the group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)

    def stop_all(self) -> None:
        for name in reversed(list(self.started)):
            self.stop(name)


def _wait_port(port: int, processes: Processes, name: str, limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        processes.alive(name)
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.2)
    raise RuntimeError(
        f"{name} did not listen on {port} within {limit:.0f} s: {processes.log(name)}"
    )


# --- MariaDB and RabbitMQ ------------------------------------------------------------------


def _start_mariadb(processes: Processes) -> str:
    """A MariaDB of its own; returns its socket."""
    base = processes.directory / "mariadb"
    base.mkdir()
    subprocess.run(
        ["mariadb-install-db", "--no-defaults", f"--datadir={base / 'data'}", "--user=root",
         "--auth-root-authentication-method=normal", "--skip-test-db"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    sock = str(base / "sock")
    port = free_port()
    processes.start(
        "mariadb",
        ["mariadbd", "--no-defaults", f"--datadir={base / 'data'}", f"--socket={sock}",
         f"--port={port}", "--bind-address=127.0.0.1", "--user=root",
         f"--pid-file={base / 'pid'}", "--innodb-buffer-pool-size=64M",
         "--innodb-flush-log-at-trx-commit=0", "--innodb-flush-method=nosync",
         "--innodb-doublewrite=0", "--max-connections=500", "--skip-log-bin"],
    )  # fmt: skip
    _wait_port(port, processes, "mariadb", 60)
    sql = "".join(
        f"CREATE DATABASE {db};" for db in ("nova_api", "nova_cell0", "nova", "placement")
    )
    subprocess.run(
        ["mariadb", "--no-defaults", "-uroot", f"--socket={sock}", "-e", sql],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return sock


def _start_rabbit(processes: Processes) -> int:
    """rabbitmq-server on 127.0.0.1 with its own epmd, node name, cookie and files."""
    base = processes.directory / "rabbit"
    (base / "home").mkdir(parents=True)
    (base / "enabled_plugins").write_text("[].\n")
    (base / "rabbitmq.conf").write_text("loopback_users = none\n")
    port, epmd = free_port(), free_port()
    env = dict(
        os.environ,
        HOME=str(base / "home"),
        RABBITMQ_NODENAME=f"stackwatch{port}@localhost",
        RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
        RABBITMQ_NODE_PORT=str(port),
        RABBITMQ_DIST_PORT=str(free_port()),
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
        ERL_EPMD_ADDRESS="127.0.0.1",
        ERL_EPMD_PORT=str(epmd),
        RABBITMQ_MNESIA_BASE=str(base / "mnesia"),
        RABBITMQ_LOG_BASE=str(base / "log"),
        RABBITMQ_CONFIG_FILE=str(base / "rabbitmq"),
        RABBITMQ_ENABLED_PLUGINS_FILE=str(base / "enabled_plugins"),
        RABBITMQ_PID_FILE=str(base / "pid"),
    )
    epmd_bin = shutil.which("epmd") or "/usr/bin/epmd"
    processes.start("epmd", [epmd_bin, "-address", "127.0.0.1", "-port", str(epmd)], env)
    processes.start("rabbitmq", [str(RABBIT)], env)
    return port


# --- configuration ---------------------------------------------------------------------------


NOVA_CONF = """\
[DEFAULT]
transport_url = rabbit://guest:guest@127.0.0.1:{rabbit}/
compute_driver = loopback_console.LoopbackConsoleDriver
state_path = {dir}/state
instances_path = {dir}/instances
my_ip = 127.0.0.1
rpc_response_timeout = 20
report_interval = 2
service_down_time = 20
graceful_shutdown_timeout = 2
use_rootwrap_daemon = false
[api]
auth_strategy = keystone
[api_database]
connection = mysql+pymysql://root@/nova_api?unix_socket={sock}
[database]
connection = mysql+pymysql://root@/nova?unix_socket={sock}
[placement]
auth_type = admin_token
endpoint = {placement}
token = admin
[glance]
endpoint_override = {glance}
[neutron]
auth_type = admin_token
endpoint = {neutron}
endpoint_override = {neutron}
token = admin
[vnc]
enabled = true
novncproxy_base_url = http://127.0.0.1:{novnc}/vnc_lite.html
novncproxy_host = 127.0.0.1
novncproxy_port = {novnc}
server_listen = 127.0.0.1
server_proxyclient_address = 127.0.0.1
[conductor]
workers = 1
[scheduler]
workers = 1
discover_hosts_in_cells_interval = 2
[filter_scheduler]
enabled_filters = ComputeFilter
[oslo_concurrency]
lock_path = {dir}/lock
[oslo_messaging_rabbit]
heartbeat_timeout_threshold = 0
[oslo_policy]
enforce_new_defaults = false
enforce_scope = false
"""

PLACEMENT_CONF = """\
[api]
auth_strategy = noauth2
[placement_database]
connection = mysql+pymysql://root@/placement?unix_socket={sock}
"""

CLOUDS = """\
clouds:
  {cloud}:
    auth_type: admin_token
    auth:
      endpoint: {api}/v2.1
      token: "admin:admin"
    compute_endpoint_override: {api}/v2.1
    placement_endpoint_override: {placement}
    image_endpoint_override: {glance}
"""


def _api_paste(directory: Path) -> None:
    """Nova's own paste file with the identity filter in place of Keystone's auth_token."""
    text = (NOVA_VENV / "etc" / "nova" / "api-paste.ini").read_text()
    assert "authtoken keystonecontext" in text, "this Nova's paste file has another pipeline"
    text = text.replace("authtoken keystonecontext", "identity keystonecontext")
    text += "\n[filter:identity]\npaste.filter_factory = openstack_identity:filter_factory\n"
    text += "token = admin:admin\n"
    (directory / "api-paste.ini").write_text(text)


@dataclass
class Nova:
    """The running cloud, as the tests and stackwatch reach it."""

    directory: Path
    api: str
    placement: str
    novnc: int
    processes: Processes
    env: dict[str, str]  # OS_CLIENT_CONFIG_FILE for stackwatch's openstacksdk
    image_id: str = ""
    flavor_id: str = ""
    vnc: VncListener | None = None
    neutron: EmptyNeutron | None = None
    services: dict[str, Any] = field(default_factory=dict)

    @property
    def clouds_yaml(self) -> Path:
        return self.directory / "clouds.yaml"

    def connect(self) -> Any:
        from openstack import config, connection

        loader = config.OpenStackConfig(config_files=[str(self.clouds_yaml)], load_envvars=False)
        return connection.Connection(config=loader.get_one(cloud=CLOUD, api_timeout=60))

    def nova_env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "PYTHON"))}
        env.update(
            PYTHONPATH=f"{HERE}:{HERE.parent / 'paste'}",
            OS_NOVA_CONFIG_DIR=str(self.directory),
            **extra,
        )
        return env

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [str(NOVA_VENV / "bin" / "nova-manage"), "--config-file", self.conf, *args],
            capture_output=True, text=True, timeout=120, env=self.nova_env(),
        )  # fmt: skip
        if done.returncode not in (0, 1) or "Traceback" in done.stderr:
            raise RuntimeError(f"nova-manage {' '.join(args)}: {done.stdout} {done.stderr}")
        return done.stdout

    @property
    def conf(self) -> str:
        return str(self.directory / "nova.conf")

    def start_compute(self, host: str) -> None:
        conf = self.directory / f"{host}.conf"
        conf.write_text(
            f"[DEFAULT]\nhost = {host}\nstate_path = {self.directory / host}\n"
            f"instances_path = {self.directory / host / 'instances'}\n"
        )
        env = self.nova_env(NOVA_TEST_VNC_PORT=str(self.vnc.port if self.vnc else 9))
        self.processes.start(
            host,
            [str(NOVA_VENV / "bin" / "nova-compute"), "--config-file", self.conf,
             "--config-file", str(conf)],
            env,
        )  # fmt: skip

    def stop_compute(self, host: str) -> None:
        self.processes.stop(host)

    def wait_port(self, port: int, name: str) -> None:
        _wait_port(port, self.processes, name, 90)

    def wait_compute_up(self, host: str, since: float, limit: float = 120) -> None:
        """Until the restarted compute has sent a heartbeat after ``since`` (time.time()):
        "up" alone may be the heartbeat of before its stop, and a compute sends its first one
        only once its resource tracker is ready (an evacuation to it would fail before)."""
        conn = self.connect()
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            self.processes.alive(host)
            for s in conn.compute.services(binary="nova-compute", host=host):
                beat = datetime.fromisoformat(s.updated_at or "1970-01-01").replace(tzinfo=UTC)
                if s.state == "up" and not s.is_forced_down and beat.timestamp() > since:
                    return
            time.sleep(1)
        raise RuntimeError(f"{host} did not come back up: {self.processes.log(host)}")


class EmptyNeutron:
    """Neutron is not part of this cloud (servers boot with ``networks: none``), yet nova-api
    asks it for an instance's ports and security groups when it shows a server: this answers
    every list with an empty one, and anything else with 404, on 127.0.0.1."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                resource = self.path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
                key = resource.removesuffix(".json").replace("-", "_")
                known = {
                    "ports",
                    "security_groups",
                    "networks",
                    "extensions",
                    "subnets",
                    "floatingips",
                    "trunks",
                    "qos_policies",
                }
                if key not in known:
                    self.send_error(404)
                    return
                body = f'{{"{key}": []}}'.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class VncListener:
    """The hypervisor's VNC port of the fake driver: greets every connection as an RFB 3.8
    server does, so that nova-novncproxy, once it accepts a token, relays the greeting."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with contextlib.suppress(OSError):
                conn.sendall(b"RFB 003.008\n")
                conn.settimeout(5)
                conn.recv(64)
            conn.close()

    def close(self) -> None:
        self.sock.close()


def _write_configs(nova: Nova, sock: str, rabbit: int, glance: str) -> None:
    directory = nova.directory
    for sub in ("state", "lock", "instances", *HOSTS):
        (directory / sub).mkdir(exist_ok=True)
    (directory / "nova.conf").write_text(
        NOVA_CONF.format(
            dir=directory, sock=sock, rabbit=rabbit, placement=nova.placement,
            glance=glance, novnc=nova.novnc, neutron=nova.neutron.url if nova.neutron else "",
        )
    )  # fmt: skip
    (directory / "placement.conf").write_text(PLACEMENT_CONF.format(sock=sock))
    _api_paste(directory)
    (directory / "clouds.yaml").write_text(
        CLOUDS.format(cloud=CLOUD, api=nova.api, placement=nova.placement, glance=glance)
    )


def _sync_databases(nova: Nova) -> None:
    """Placement's and Nova's schemas, cell0 and cell1 (the API database maps them)."""
    placement = subprocess.Popen(
        [str(NOVA_VENV / "bin" / "placement-manage"), "--config-file",
         str(nova.directory / "placement.conf"), "db", "sync"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=nova.nova_env(),
    )  # fmt: skip
    nova.manage("api_db", "sync")
    cell0 = (nova.directory / "nova.conf").read_text().split("[database]\nconnection = ")[1]
    cell0 = cell0.split("\n", 1)[0].replace("/nova?", "/nova_cell0?")
    nova.manage("cell_v2", "map_cell0", "--database_connection", cell0)
    nova.manage("cell_v2", "create_cell", "--name", "cell1")
    nova.manage("db", "sync")
    out, _ = placement.communicate(timeout=120)
    if placement.returncode != 0:
        raise RuntimeError(f"placement-manage db sync: {out.decode(errors='replace')}")


def _gunicorn(nova: Nova, name: str, port: int, app: str, env: dict[str, str]) -> None:
    nova.processes.start(
        name,
        [str(NOVA_VENV / "bin" / "gunicorn"), "-b", f"127.0.0.1:{port}", "-w", "1",
         "--threads", "8", "--timeout", "120", app],
        env,
    )  # fmt: skip


def _start_services(nova: Nova) -> None:
    bin_dir = NOVA_VENV / "bin"
    env = nova.nova_env()
    _gunicorn(nova, "placement-api", int(nova.placement.rsplit(":", 1)[1]),
              "placement.wsgi.api:application",
              dict(env, OS_PLACEMENT_CONFIG_DIR=str(nova.directory)))  # fmt: skip
    _gunicorn(nova, "nova-api", int(nova.api.rsplit(":", 1)[1]),
              "nova_api_shim:application", env)  # fmt: skip
    for service in ("nova-conductor", "nova-scheduler", "nova-novncproxy"):
        argv = [str(bin_dir / service), "--config-file", nova.conf]
        if service == "nova-novncproxy":
            argv += ["--web", str(nova.directory)]
        nova.processes.start(service, argv, env)
    for host in HOSTS:
        nova.start_compute(host)


def _wait_cloud(nova: Nova, deadline: float) -> Any:
    """Until the API answers, both computes are up and mapped to cell1 (discover_hosts)."""
    conn = None
    last = ""
    while time.monotonic() < deadline:
        for name in list(nova.processes.started):
            nova.processes.alive(name)
        try:
            conn = conn or nova.connect()
            services = {s.host: s for s in conn.compute.services(binary="nova-compute")}
            up = [h for h in HOSTS if h in services and services[h].state == "up"]
            hypervisors = list(conn.compute.hypervisors())
            if len(up) == len(HOSTS) and len(hypervisors) == len(HOSTS):
                nova.services = services
                return conn
        except Exception as exc:  # the API is still starting: any error until the deadline
            last = f"{type(exc).__name__}: {exc}"
            conn = None
        time.sleep(1)
    raise RuntimeError(
        f"Nova did not come up in time ({last}): "
        + " | ".join(f"{n}: {nova.processes.log(n)[-600:]}" for n in nova.processes.started)
    )


def _image(glance_url: str) -> str:
    """A one-KiB raw image in the real Glance (the fake driver never reads its data)."""
    import json
    import urllib.request

    body = json.dumps({"name": "cirros-fake", "disk_format": "raw", "container_format": "bare"})
    request = urllib.request.Request(
        f"{glance_url}/v2/images", body.encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        image_id: str = json.load(response)["id"]
    upload = urllib.request.Request(
        f"{glance_url}/v2/images/{image_id}/file", b"\0" * 1024,
        {"Content-Type": "application/octet-stream"}, method="PUT",
    )  # fmt: skip
    urllib.request.urlopen(upload, timeout=30).close()
    return image_id


def _client_env(clouds: Path) -> dict[str, str]:
    """stackwatch's environment: this clouds.yaml, and no OS_* of the shell that runs the tests
    (an OS_CLOUD or OS_AUTH_URL there would point openstacksdk elsewhere)."""
    env = {key: "" for key in os.environ if key.startswith("OS_")}
    env["OS_CLIENT_CONFIG_FILE"] = str(clouds)
    return env


def _keep_logs(directory: Path) -> None:
    """With STACKWATCH_KEEP_NOVA_LOGS=DIR, the services' logs are copied there at the end."""
    keep = os.environ.get("STACKWATCH_KEEP_NOVA_LOGS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        for log in directory.glob("*.log"):
            shutil.copy(log, Path(keep) / log.name)


_T0 = time.monotonic()


def _phase(what: str) -> None:
    print(f"[nova fixture] {what} at {time.monotonic() - _T0:.1f} s", flush=True)


@pytest.fixture(scope="session")
def nova_cloud() -> Iterator[Nova]:
    _skip_without_parts()
    from tests.integration.image.conftest import GLANCE_VENV, start_glance

    if not (GLANCE_VENV / "bin" / "gunicorn").exists():
        pytest.skip(f"Glance is not installed in {GLANCE_VENV} (scripts/install-test-deps.sh)")
    deadline = time.monotonic() + DEADLINE
    # in memory where there is /dev/shm: MariaDB's schema migrations are bound by fsync
    shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(prefix="stackwatch-nova-", dir=shm) as name:
        directory = Path(name)
        processes = Processes(directory)
        glance_dir = directory / "glance"
        glance_dir.mkdir()
        glance_gen = start_glance(glance_dir)
        vnc = VncListener()
        neutron = EmptyNeutron()
        try:
            glance = next(glance_gen)
            _phase("glance")
            rabbit = _start_rabbit(processes)
            sock = _start_mariadb(processes)
            nova = Nova(
                directory, f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}",
                free_port(), processes, _client_env(directory / "clouds.yaml"),
                vnc=vnc, neutron=neutron,
            )  # fmt: skip
            _write_configs(nova, sock, rabbit, glance.url)
            _wait_port(rabbit, processes, "rabbitmq", max(5, deadline - time.monotonic()))
            _phase("rabbit+mariadb")
            _sync_databases(nova)
            _phase("db sync")
            _start_services(nova)
            conn = _wait_cloud(nova, deadline)
            _phase("services up")
            nova.image_id = _image(glance.url)
            flavor = conn.compute.create_flavor(name="m1.tiny", ram=512, vcpus=1, disk=1)
            nova.flavor_id = flavor.id
            yield nova
        finally:
            processes.stop_all()
            _keep_logs(directory)
            vnc.close()
            neutron.close()
            glance_gen.close()
