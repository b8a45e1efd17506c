"""The processes check: roles from the configuration, counted from a real /proc and fixtures."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackwatch.checks.processes import (
    ProcessInfo,
    ProcessSpec,
    parse_cmdline,
    parse_comm,
    spec_matches,
)
from stackwatch.core.result import Status
from tests.conftest import run_stackwatch
from tests.unit.hostchecks.support import run, write

MARK = "stackwatch-test-worker"
ROLE = {"roles": ["worker"], "role": {"worker": [{"name": MARK, "cmdline": MARK, "max": 1}]}}


def fake_proc(root: Path, processes: dict[int, tuple[str, list[str]]]) -> Path:
    """A /proc of the given pid -> (comm, argv); kernel threads have an empty argv."""
    for pid, (comm, argv) in processes.items():
        write(root, f"/proc/{pid}/comm", comm + "\n")
        write(root, f"/proc/{pid}/cmdline", b"".join(a.encode() + b"\0" for a in argv))
    return root


@pytest.fixture
def worker() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.kill()
        process.wait(timeout=10)


def start_worker(started: list[subprocess.Popen[bytes]]) -> None:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", MARK])
    started.append(process)
    # Popen may return (vfork) before the kernel has set up the new command line: wait for it.
    cmdline = Path(f"/proc/{process.pid}/cmdline")
    deadline = time.monotonic() + 5
    while MARK.encode() not in cmdline.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_real_processes_counted_from_this_machines_proc(
    worker: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    missing = run("processes", "/", tmp_path / "s", config=ROLE)
    assert missing.status == Status.CRITICAL
    assert missing.summary == f"{MARK} not running (role worker)"
    assert missing.hint and f"start {MARK}" in missing.hint
    start_worker(worker)
    ok = run("processes", "/", tmp_path / "s", config=ROLE)
    assert ok.status == Status.OK, ok.summary
    assert ok.summary == "all 1 required processes running (roles worker)"
    assert [m.value for m in ok.metrics] == [1]
    start_worker(worker)
    too_many = run("processes", "/", tmp_path / "s", config=ROLE)
    assert too_many.status == Status.WARNING
    assert too_many.summary == f"2 {MARK} running, at most 1 expected"
    assert str(worker[1].pid) in " ".join(too_many.details)


def test_builtin_roles_on_a_fixture_tree(tmp_path: Path) -> None:
    root = fake_proc(
        tmp_path,
        {
            1: ("systemd", ["/sbin/init"]),
            2: ("kthreadd", []),
            812: ("ovsdb-server", ["ovsdb-server", "/etc/openvswitch/conf.db", "--detach"]),
            901: (
                "nova-compute",
                ["/usr/bin/python3", "/usr/bin/nova-compute", "--config-file=/etc/nova/nova.conf"],
            ),
            950: ("libvirtd", ["/usr/sbin/libvirtd", "--listen"]),
        },
    )
    result = run("processes", root, tmp_path / "s", config={"roles": ["ovs", "nova-compute"]})
    assert result.status == Status.CRITICAL
    assert result.summary == "ovs-vswitchd not running (role ovs)"
    counts = {m.labels["process"]: m.value for m in result.metrics}
    assert counts == {"ovs-vswitchd": 0, "ovsdb-server": 1, "nova-compute": 1, "libvirtd": 1}


def test_name_matching_rules() -> None:
    long_name = ProcessSpec("ovs-xapi-sync-daemon")
    assert spec_matches(long_name, None, ProcessInfo(1, "ovs-xapi-sync-d", ("x",)))  # comm cut
    by_script = ProcessSpec("nova-compute")
    python = ProcessInfo(2, "python3", ("/usr/bin/python3", "-u", "/usr/bin/nova-compute"))
    assert spec_matches(by_script, None, python)
    assert not spec_matches(ProcessSpec("libvirtd"), None, python)


def test_no_roles_is_a_skip_and_config_errors_are_one_clear_message(tmp_path: Path) -> None:
    assert run("processes", "/", tmp_path / "s").skipped
    config = tmp_path / "stackwatch.toml"
    config.write_text('[checks.processes]\nroles = ["nova"]\n')
    done = run_stackwatch(
        "check",
        "processes",
        "--config",
        str(config),
        "--state-dir",
        str(tmp_path / "s"),
        "--format",
        "nagios",
    )
    assert done.returncode == 3
    assert "unknown role 'nova'" in done.stdout and "Traceback" not in done.stderr
    config.write_text('[checks.processes.role]\nx = [{ name = "a", cmdline = "(" }]\n')
    done = run_stackwatch(
        "check",
        "processes",
        "--config",
        str(config),
        "--state-dir",
        str(tmp_path / "s"),
        "--format",
        "nagios",
    )
    assert done.returncode == 3 and "not a valid regular expression" in done.stdout


def test_a_process_that_vanishes_while_read_is_skipped(tmp_path: Path) -> None:
    root = fake_proc(tmp_path, {10: ("libvirtd", ["libvirtd"])})
    (root / "proc" / "11").mkdir()  # listed, gone before its files were read
    result = run("processes", root, tmp_path / "s", config={"role": {"v": [{"name": "libvirtd"}]}})
    assert result.status == Status.OK


@given(st.binary())
def test_parsers_never_crash(raw: bytes) -> None:
    assert isinstance(parse_cmdline(raw), tuple)
    assert "\n" not in parse_comm(raw).rstrip("\n")[-1:]


def test_scan_is_quick(tmp_path: Path) -> None:
    started = time.process_time()
    run("processes", "/", tmp_path / "s", config={"roles": ["ovs"]})
    assert time.process_time() - started < 1.0
