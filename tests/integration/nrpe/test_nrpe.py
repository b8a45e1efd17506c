"""Real NRPE: Debian's nagios-nrpe-server runs the installed stackwatch as the unprivileged nagios
user, check_nrpe reads the answers, all on 127.0.0.1.

The commands are the ones an operator writes, without --state-dir: nagios cannot write
/var/lib/stackwatch, so stackwatch keeps the state in nagios' own directory and says so, and the
second call has rates. The nagios user's state directory is moved aside for the test and put back.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.integration.conftest import Installation

pytestmark = pytest.mark.integration

NRPE = Path("/usr/sbin/nrpe")
CHECK_NRPE = Path("/usr/lib/nagios/plugins/check_nrpe")
CHECKS = ("conntrack", "tcp-retransmits")


def _need_nrpe() -> pwd.struct_passwd:
    if os.geteuid() != 0:
        pytest.skip("NRPE runs its commands as the nagios user: needs root")
    for tool in (NRPE, CHECK_NRPE):
        if not tool.exists():
            pytest.skip(f"{tool} not installed (nagios-nrpe-server, nagios-nrpe-plugin)")
    try:
        return pwd.getpwnam("nagios")
    except KeyError:
        pytest.skip("no nagios user")


def _config(directory: Path, port: int, command: Path) -> Path:
    lines = [
        f"pid_file={directory / 'nrpe.pid'}",
        "server_address=127.0.0.1",
        f"server_port={port}",
        "allowed_hosts=127.0.0.1",
        "nrpe_user=nagios",
        "nrpe_group=nagios",
        "dont_blame_nrpe=0",
        "command_timeout=60",
        "connection_timeout=60",
        "disable_syslog=1",
    ]
    # as an operator writes them: no --state-dir, the default /var/lib/stackwatch
    lines += [f"command[stackwatch_{n}]={command} check {n} --format nagios" for n in CHECKS]
    config = directory / "nrpe.cfg"
    config.write_text("\n".join(lines) + "\n")
    return config


def _wait_listening(port: int, daemon: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            pytest.fail(f"nrpe exited with {daemon.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"nrpe does not listen on 127.0.0.1:{port}")


@pytest.fixture
def nrpe(installed: Installation, tmp_path: Path) -> Iterator[int]:
    """nrpe in the foreground with a configuration of its own; the port it listens on."""
    _need_nrpe()
    port = free_port()
    config = _config(tmp_path, port, installed.command)
    # the environment of a service: nrpe sets HOME, USER and PATH for its commands itself
    daemon = subprocess.Popen(
        [str(NRPE), "-c", str(config), "-f"],
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        cwd="/",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening(port, daemon)
        yield port
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=10)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()


@pytest.fixture
def nagios_state() -> Iterator[Path]:
    """The nagios user's own state directory, empty for the test; what was there is put back."""
    nagios = _need_nrpe()
    home = Path(nagios.pw_dir)
    if not home.is_dir() or home.stat().st_uid != nagios.pw_uid:
        pytest.skip(f"the nagios user has no home of its own ({home})")
    state = home / ".local" / "state" / "stackwatch"
    made = state  # the outermost directory the test creates, removed after it
    while not made.parent.exists():
        made = made.parent
    aside = state.with_name(f"stackwatch.before-test-{os.getpid()}")
    if state.exists():
        state.rename(aside)
    try:
        yield state
    finally:
        shutil.rmtree(made, ignore_errors=True)
        if aside.exists():
            aside.rename(state)


def _ask(port: int, command: str) -> tuple[int, list[str]]:
    """check_nrpe's exit code and answer (SSL, as Debian's nrpe and check_nrpe default to)."""
    result = subprocess.run(
        [str(CHECK_NRPE), "-H", "127.0.0.1", "-p", str(port), "-t", "60", "-c", command],
        capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip
    lines = result.stdout.splitlines()
    assert lines, f"check_nrpe answered nothing ({result.returncode}): {result.stderr}"
    return result.returncode, lines


def _status(name: str, code: int, lines: list[str]) -> str:
    """The plugin's status line, after checking it agrees with check_nrpe's exit code."""
    word = {0: "OK", 1: "WARNING", 2: "CRITICAL"}.get(code)
    assert word is not None, f"exit {code}: {lines}"
    assert lines[0].startswith(f"{name.upper()} {word} - "), lines
    return lines[0]


@pytest.mark.parametrize("name", CHECKS)
def test_nagios_gets_rates_from_the_second_call_through_nrpe(
    name: str, installed: Installation, nrpe: int, nagios_state: Path
) -> None:
    if name == "conntrack" and not Path("/proc/sys/net/netfilter/nf_conntrack_max").exists():
        pytest.skip("nf_conntrack is not loaded: the check has nothing to count")
    nagios = pwd.getpwnam("nagios")

    code, first = _ask(nrpe, f"stackwatch_{name}")
    _status(name, code, first)
    assert any("first run" in line for line in first), first
    assert "_rate'=" not in first[0]
    kept = f"state kept in {nagios_state} (/var/lib/stackwatch is not writable by this user)"
    assert kept in first, first
    saved = nagios_state / f"{name}.json"
    assert saved.stat().st_uid == nagios.pw_uid

    code, second = _ask(nrpe, f"stackwatch_{name}")
    status = _status(name, code, second)
    assert not any("first run" in line for line in second), second
    assert "_rate'=" in status.partition("|")[2], status
    assert kept in second
