"""ovs apply --confirm against a real switch, with a real client cut off and let back in.

The client lives in a network namespace of its own, wired by a veth pair to a port of br-ex in
the switch's namespace, and talks to 10.0.15.11 on the internal port mgmt (the management address
an operator's SSH session uses). The new layout moves that address onto mgmt2 of another bridge:
the client can no longer reach it. Nobody confirms, and the watchdog puts the old layout and the
address back within the deadline; with a confirmation the new one stays; the watchdog survives
the session and the stackwatch that started it being killed.
"""

from __future__ import annotations

import contextlib
import os
import pty
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from switch import Switch

from tests.conftest import free_port, run_stackwatch

pytestmark = pytest.mark.integration

ADDRESS = "10.0.15.11"
DEADLINE = 3.0  # seconds: short, so that the suite stays quick

OLD = """\
bridges:
  br-ex:
    datapath_type: netdev
    ports:
      cl0-sw: {}
      mgmt: {type: internal, address: 10.0.15.11/24}
"""
NEW = """\
bridges:
  br-ex:
    datapath_type: netdev
    ports:
      cl0-sw: {}
  br-new:
    datapath_type: netdev
    ports:
      mgmt2: {type: internal, address: 10.0.15.11/24}
"""

ECHO_SERVER = """
import socket, sys
server = socket.create_server(("0.0.0.0", int(sys.argv[1])), reuse_port=True)
while True:
    conn, _ = server.accept()
    with conn:
        while data := conn.recv(100):
            conn.sendall(data)
"""


# The userspace datapath reads the veth with AF_PACKET and passes on what the client's kernel left
# for the card to finish: a TCP checksum. There is no card; the client computes it itself (what
# `ethtool -K cl0 tx off` does; ethtool is not installed everywhere).
TX_CHECKSUM_OFF = """
import array, fcntl, socket, struct, sys
request = array.array("I", [0x17, 0])  # ETHTOOL_STXCSUM, off
ifreq = struct.pack("16sP", sys.argv[1].encode(), request.buffer_info()[0])
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    fcntl.ioctl(s.fileno(), 0x8946, ifreq)  # SIOCETHTOOL
"""


class Site:
    """The switch with br-ex wired to a client namespace, a TCP echo server on the switch's side,
    and the state directory of apply --confirm."""

    def __init__(self, switch: Switch, tmp_path: Path) -> None:
        self.switch = switch
        self.client_ns = f"swcl-{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.state = tmp_path / "state"
        self.old = tmp_path / "old.yaml"
        self.new = tmp_path / "new.yaml"
        self.old.write_text(OLD)
        self.new.write_text(NEW)
        self.server: subprocess.Popen[bytes] | None = None

    def ip(self, *args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, timeout=20)

    def start(self) -> Site:
        ns, sw = self.client_ns, self.switch.netns
        self.ip("netns", "add", ns)
        self.ip("link", "add", "cl0", "netns", ns, "type", "veth", "peer", "cl0-sw", "netns", sw)
        self.ip("-n", ns, "addr", "add", "10.0.15.99/24", "dev", "cl0")
        self.ip("-n", ns, "link", "set", "cl0", "up")
        self.ip("-n", sw, "link", "set", "cl0-sw", "up")
        self.ip("netns", "exec", ns, sys.executable, "-c", TX_CHECKSUM_OFF, "cl0")
        self.server = subprocess.Popen(
            ["ip", "netns", "exec", sw, sys.executable, "-c", ECHO_SERVER, str(self.port)]
        )
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.kill()
            self.server.wait(10)
        holder = self.state / "ovs-confirm.lock"
        with contextlib.suppress(OSError, ValueError, ProcessLookupError):
            os.kill(int(holder.read_text().strip()), signal.SIGKILL)  # a watchdog a test left
        subprocess.run(["ip", "netns", "del", self.client_ns], capture_output=True, check=False)

    def ovs(self, *args: str) -> subprocess.CompletedProcess[str]:
        where = ("--db", self.switch.db, "--netns", self.switch.netns)
        wants_switch = args[0] in ("apply", "verify")
        extra = (*where, "--state-dir", str(self.state)) if wants_switch else ()
        if args[0] in ("confirm", "rollback"):
            extra = ("--state-dir", str(self.state))
        return run_stackwatch("ovs", *args, *extra, timeout=60, stdin=subprocess.DEVNULL)

    def apply_new(self, seconds: float = DEADLINE) -> subprocess.CompletedProcess[str]:
        return self.ovs("apply", str(self.new), "--prune", "--confirm", f"{seconds:g}")

    def reachable(self, timeout: float = 0.5) -> bool:
        """The client opens a TCP connection to the management address and gets an echo."""
        probe = (
            "import socket,sys\n"
            f"s = socket.create_connection(('{ADDRESS}', {self.port}), timeout={timeout})\n"
            "s.sendall(b'hi'); sys.exit(0 if s.recv(2) == b'hi' else 1)\n"
        )
        done = subprocess.run(
            ["ip", "netns", "exec", self.client_ns, sys.executable, "-c", probe],
            capture_output=True,
            timeout=30,
            check=False,
        )
        return done.returncode == 0

    def wait_reachable(self, limit: float) -> float:
        start = time.monotonic()
        while not self.reachable():
            assert time.monotonic() - start < limit, "the client never got back in"
            time.sleep(0.1)
        return time.monotonic() - start

    def layout_is_old(self) -> bool:
        bridges = self.switch.vsctl("list-br").split()
        return bridges == ["br-ex"] and "mgmt" in self.switch.vsctl("list-ports", "br-ex").split()

    def address_on(self, device: str) -> bool:
        done = subprocess.run(
            ["ip", "-n", self.switch.netns, "-br", "addr", "show", "dev", device],
            capture_output=True,
            text=True,
            check=False,
        )
        return f"{ADDRESS}/24" in done.stdout


@pytest.fixture
def site(switch: Switch, tmp_path: Path) -> Iterator[Site]:
    made = Site(switch, tmp_path).start()
    try:
        done = made.ovs("apply", str(made.old))
        assert done.returncode == 0, done.stderr
        made.wait_reachable(10)
        yield made
    finally:
        made.stop()


def test_unconfirmed_layout_comes_back_with_its_address(site: Site) -> None:
    started = time.monotonic()
    done = site.apply_new()
    assert done.returncode == 0, done.stderr
    assert "+ port br-new/mgmt2: internal, address 10.0.15.11/24" in done.stdout
    assert "keep this layout: stackwatch ovs confirm --state-dir" in done.stdout
    assert site.address_on("mgmt2") and not site.reachable()  # the client is cut off

    while not (site.layout_is_old() and site.address_on("mgmt")):
        assert time.monotonic() - started < DEADLINE + 10, "the old layout did not come back"
        time.sleep(0.1)
    assert time.monotonic() - started >= DEADLINE - 0.5  # not before the deadline
    # mgmt is made anew, with a new MAC: the client learns it from the port's announcement at
    # once, not when its ARP entry for the old one goes stale (15 to 45 s and more)
    site.wait_reachable(8)

    log = (site.state / "ovs-confirm.log").read_text()
    assert "not confirmed by the deadline: applying the saved layout back" in log
    assert "+ port br-ex/mgmt: internal, address 10.0.15.11/24" in log and "rolled back" in log
    late = site.ovs("confirm")
    assert late.returncode == 1
    assert "nothing to confirm: no apply --confirm waits" in late.stderr
    assert "not confirmed, rolled back" in late.stderr


def test_confirmed_layout_stays(site: Site) -> None:
    started = time.monotonic()
    assert site.apply_new(seconds=DEADLINE + 2).returncode == 0  # time to confirm on a busy host
    done = site.ovs("confirm")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"confirmed: {site.new} stays")
    time.sleep(max(0.0, started + DEADLINE + 3 - time.monotonic()))  # past the deadline
    assert site.switch.vsctl("list-br").split() == ["br-ex", "br-new"]
    assert site.address_on("mgmt2") and not site.reachable()
    log = (site.state / "ovs-confirm.log").read_text()
    assert "confirmed (or rolled back by hand): nothing to do" in log
    assert "applying the saved layout back" not in log
    again = site.ovs("confirm")
    assert again.returncode == 1 and "the last apply --confirm" in again.stderr


def _session_of(pid: int) -> int:
    return os.getsid(pid)


def test_watchdog_survives_the_session_and_stackwatch_killed(site: Site) -> None:
    """apply --confirm on a terminal in a session of its own (an SSH login): the whole session is
    SIGKILLed while it counts down, and the terminal hangs up; the layout still comes back."""
    controller, terminal = pty.openpty()
    started = time.monotonic()
    apply = subprocess.Popen(
        [sys.executable, "-m", "stackwatch.cli", "ovs", "apply", str(site.new), "--prune",
         "--confirm", f"{DEADLINE:g}", "--db", site.switch.db, "--netns", site.switch.netns,
         "--state-dir", str(site.state)],
        stdin=terminal, stdout=terminal, stderr=terminal, start_new_session=True,
    )  # fmt: skip
    os.close(terminal)
    try:
        lock = site.state / "ovs-confirm.lock"
        while not (site.state / "ovs-confirm.json").exists() or not lock.exists():
            assert apply.poll() is None and time.monotonic() - started < 20
            time.sleep(0.05)
        while not site.address_on("mgmt2"):
            assert time.monotonic() - started < 20
            time.sleep(0.05)
        watchdog = int(lock.read_text().strip())
        assert _session_of(watchdog) != _session_of(apply.pid)  # not in the login's session
        os.killpg(apply.pid, signal.SIGKILL)  # the session dies, stackwatch with it
        apply.wait(10)
    finally:
        os.close(controller)
    killed_at = time.monotonic()
    # bounds generous for a loaded 2-core CI machine: what matters is that it comes back at all
    while not (site.layout_is_old() and site.address_on("mgmt")):
        assert time.monotonic() - killed_at < DEADLINE + 15, "the old layout did not come back"
        time.sleep(0.1)
    site.wait_reachable(15)
    assert "rolled back" in (site.state / "ovs-confirm.log").read_text()


def test_enter_on_the_terminal_confirms(site: Site) -> None:
    controller, terminal = pty.openpty()
    apply = subprocess.Popen(
        [sys.executable, "-m", "stackwatch.cli", "ovs", "apply", str(site.new), "--prune",
         "--confirm", "20", "--db", site.switch.db, "--netns", site.switch.netns,
         "--state-dir", str(site.state)],
        stdin=terminal, stdout=terminal, stderr=terminal,
    )  # fmt: skip
    os.close(terminal)
    seen = b""
    try:
        while b"left to confirm" not in seen:
            seen += os.read(controller, 1000)
        os.write(controller, b"\n")
        assert apply.wait(20) == 0
        with contextlib.suppress(OSError):
            while chunk := os.read(controller, 1000):
                seen += chunk
    finally:
        os.close(controller)
    text = seen.decode(errors="replace")
    assert "keep this layout" in text and "(or Enter here)" in text
    assert f"confirmed: {site.new} stays" in text
    assert site.switch.vsctl("list-br").split() == ["br-ex", "br-new"]


def test_second_apply_refused_then_watchdog_killed_is_reported_and_rolled_back(
    site: Site,
) -> None:
    assert site.apply_new(seconds=60).returncode == 0
    second = site.ovs("apply", str(site.old), "--confirm", "10")
    assert second.returncode == 75, second.stderr  # BUSY
    assert "waits for confirmation until" in second.stderr
    plain = site.ovs("apply", str(site.old))
    assert plain.returncode == 75 and "waits for confirmation" in plain.stderr

    watchdog = int((site.state / "ovs-confirm.lock").read_text().strip())
    os.kill(watchdog, signal.SIGKILL)
    for _ in range(100):
        with contextlib.suppress(ProcessLookupError):
            os.kill(watchdog, 0)
            time.sleep(0.05)
            continue
        break

    verify = site.ovs("verify", str(site.new))
    assert verify.returncode == 1, verify.stdout  # WARNING: nothing will roll it back
    text = " ".join(verify.stdout.split())
    assert "an apply --confirm was left behind" in text
    assert "its watchdog is gone (killed?)" in text
    again = site.apply_new()
    assert again.returncode == 1
    assert "was never confirmed, and its watchdog is gone" in again.stderr
    assert "stackwatch ovs rollback" in again.stderr

    done = site.ovs("rollback")
    assert done.returncode == 0, done.stderr
    assert "rolled back: the layout saved before applying" in done.stdout
    assert site.layout_is_old() and site.address_on("mgmt")
    site.wait_reachable(15)
    assert site.ovs("verify", str(site.old)).returncode == 0
