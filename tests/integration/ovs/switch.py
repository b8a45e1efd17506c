"""A real Open vSwitch for tests and benchmarks: ovsdb-server and ovs-vswitchd in a temporary
directory, the switch daemon inside its own network namespace (userspace datapath), so that the
tap devices of internal ports and the dummy em1/em2 never touch the host's interfaces."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")


class Switch:
    def __init__(self, with_vswitchd: bool = True) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="sw-ovs-"))
        self.sock = self.dir / "db.sock"
        self.db = f"unix:{self.sock}"
        self.netns = f"swovs-{uuid.uuid4().hex[:8]}"
        self.with_vswitchd = with_vswitchd
        self.env = dict(
            os.environ,
            OVS_RUNDIR=str(self.dir),
            OVS_LOGDIR=str(self.dir),
            OVS_DBDIR=str(self.dir),
            OVS_SYSCONFDIR=str(self.dir),
        )
        self.pids: list[Path] = []

    def _run(self, *argv: str, timeout: float = 30) -> str:
        done = subprocess.run(
            argv, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")
        return done.stdout

    def start(self) -> Switch:
        try:
            self._run("ovsdb-tool", "create", str(self.dir / "conf.db"), str(SCHEMA))
            self._start_ovsdb()
            self.vsctl("--no-wait", "init")
            if self.with_vswitchd:
                self._run("ip", "netns", "add", self.netns)
                self._run("ip", "-n", self.netns, "link", "set", "lo", "up")
                for name in ("em1", "em2"):
                    # veth pairs where the kernel has no dummy driver (containers)
                    self._run(
                        "ip", "-n", self.netns, "link", "add", name,
                        "type", "veth", "peer", "name", f"{name}-peer",
                    )  # fmt: skip
                    self._run("ip", "-n", self.netns, "link", "set", name, "up")
                self._start_vswitchd()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_ovsdb(self) -> None:
        self._run(
            "ovsdb-server",
            str(self.dir / "conf.db"),
            f"--remote=punix:{self.sock}",
            "--remote=db:Open_vSwitch,Open_vSwitch,manager_options",
            f"--pidfile={self.dir / 'ovsdb-server.pid'}",
            f"--unixctl={self.dir / 'ovsdb-server.ctl'}",
            f"--log-file={self.dir / 'ovsdb-server.log'}",
            "--detach",
        )
        self.pids.append(self.dir / "ovsdb-server.pid")

    def _start_vswitchd(self) -> None:
        self._run(
            "ip",
            "netns",
            "exec",
            self.netns,
            "ovs-vswitchd",
            self.db,
            f"--pidfile={self.dir / 'ovs-vswitchd.pid'}",
            f"--unixctl={self.dir / 'ovs-vswitchd.ctl'}",
            f"--log-file={self.dir / 'ovs-vswitchd.log'}",
            "--detach",
        )
        self.pids.append(self.dir / "ovs-vswitchd.pid")

    def restart(self, devices: tuple[str, ...] = ()) -> None:
        """Stop ovs-vswitchd and ovsdb-server and start them again on the same database. The
        userspace datapath leaves its tap devices behind when it stops; ``devices`` are removed
        while it is down, as a reboot removes every device: OVSDB keeps its rows, ovs-vswitchd
        makes those devices anew, without the addresses they had."""
        self._kill_daemons()
        for device in devices:
            self._run("ip", "-n", self.netns, "link", "del", device)
        self._start_ovsdb()
        if self.with_vswitchd:
            self._start_vswitchd()

    def vsctl(self, *args: str, timeout: float = 60) -> str:
        return self._run("ovs-vsctl", f"--db={self.db}", "--timeout=20", *args, timeout=timeout)

    def clear(self) -> None:
        """Remove every bridge, manager and controller (between tests)."""
        bridges = self.vsctl("list-br").split()
        args: list[str] = ["--", "del-manager"]
        for bridge in bridges:
            args += ["--", "del-br", bridge]
        # with the switch daemon running, wait until it removed the devices of deleted ports
        self.vsctl(*args) if self.with_vswitchd else self.vsctl("--no-wait", *args)

    def stop(self) -> None:
        self._kill_daemons()
        subprocess.run(["ip", "netns", "del", self.netns], capture_output=True, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def _kill_daemons(self) -> None:
        for pidfile in reversed(self.pids):
            try:
                pid = int(pidfile.read_text().strip())
            except (OSError, ValueError):
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            for _ in range(100):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.pids.clear()


def ovs_config(path: Path, db: str, **ovs: str) -> Path:
    """Write a configuration whose [ovs] section names ``db`` (and any other [ovs] keys): the
    checks read where the switch is from [ovs], as the ovs commands do."""
    lines = ["[ovs]", f'db = "{db}"', *(f'{key} = "{value}"' for key, value in ovs.items())]
    path.write_text("\n".join(lines) + "\n")
    return path


class _Child:
    """A process a test started, stopped with SIGTERM (SIGKILL after 10 s)."""

    proc: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
            self.proc = None


class OvsdbListener(_Child):
    """A passive OVSDB client (ovsdb-client monitor ptcp:PORT) that a manager target reaches."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.proc = None

    def start(self, env: dict[str, str] | None = None) -> OvsdbListener:
        self.proc = subprocess.Popen(
            ["ovsdb-client", "monitor", f"ptcp:{self.port}:127.0.0.1", "Open_vSwitch", "Bridge"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return self


class OpenFlowController(_Child):
    """ovs-testcontroller listening on 127.0.0.1:port (a real OpenFlow controller)."""

    def __init__(self, port: int, workdir: Path, netns: str | None = None) -> None:
        self.port = port
        self.netns = netns
        self.pidfile = workdir / f"testcontroller-{port}.pid"
        self.proc = None

    def start(self, env: dict[str, str] | None = None) -> OpenFlowController:
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        self.proc = subprocess.Popen(
            [
                *prefix,
                "ovs-testcontroller",
                f"ptcp:{self.port}:127.0.0.1",
                f"--pidfile={self.pidfile}",
                f"--unixctl={self.pidfile.with_suffix('.ctl')}",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return self
