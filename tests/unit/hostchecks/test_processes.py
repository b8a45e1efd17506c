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
    parse_stat,
    spec_matches,
)
from stackwatch.core.result import Status
from tests.conftest import run_stackwatch
from tests.unit.hostchecks.support import run, write

MARK = "stackwatch-test-worker"
ROLE = {"roles": ["worker"], "role": {"worker": [{"name": MARK, "cmdline": MARK, "max": 1}]}}


KTHREAD_FLAGS = 0x00208040  # PF_KTHREAD | PF_NOFREEZE | PF_FORKNOEXEC, as kthreadd shows them
USER_FLAGS = 0x00400100


def stat_line(pid: int, name: str, state: str = "S", flags: int = USER_FLAGS) -> str:
    """A /proc/PID/stat line as the kernel writes it (the fields after flags abridged)."""
    return f"{pid} ({name}) {state} 1 {pid} {pid} 0 -1 {flags} 120 0 0 0 4 2 0 0 20 0 1 0\n"


def fake_proc(root: Path, processes: dict[int, tuple[str, list[str]]]) -> Path:
    """A /proc of the given pid -> (comm, argv); a process with an empty argv is a kernel thread
    (PF_KTHREAD in its stat flags)."""
    for pid, (comm, argv) in processes.items():
        write(root, f"/proc/{pid}/comm", comm + "\n")
        write(root, f"/proc/{pid}/cmdline", b"".join(a.encode() + b"\0" for a in argv))
        write(
            root,
            f"/proc/{pid}/stat",
            stat_line(pid, comm, flags=USER_FLAGS if argv else KTHREAD_FLAGS),
        )
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


def test_empty_command_line_falls_back_to_the_name_and_kernel_threads_never_count(
    tmp_path: Path,
) -> None:
    root = fake_proc(
        tmp_path,
        {
            # A kernel thread whose name happens to equal a daemon's: never a match.
            3: ("ovsdb-server", []),
            # A daemon just started: its command line is still empty, its name already right.
            700: ("ovs-vswitchd", []),
        },
    )
    write(root, "/proc/700/stat", stat_line(700, "ovs-vswitchd"))
    # Started a moment ago too, and its comm already gone: the name in stat (with a space and a
    # parenthesis in it, as prctl allows) is what is left.
    write(root, "/proc/701/cmdline", b"")
    write(root, "/proc/701/stat", stat_line(701, "nova-compute (2)"))
    # A zombie: an ovsdb-server that has exited but not yet been reaped is not running.
    write(root, "/proc/702/cmdline", b"")
    write(root, "/proc/702/comm", "ovsdb-server\n")
    write(root, "/proc/702/stat", stat_line(702, "ovsdb-server", state="Z"))
    role = {"role": {"r": [{"name": "ovs-vswitchd"}, {"name": "ovsdb-server"}]}}
    result = run("processes", root, tmp_path / "s", config=role)
    counts = {m.labels["process"]: m.value for m in result.metrics}
    assert counts == {"ovs-vswitchd": 1, "ovsdb-server": 0}
    assert result.summary == "ovsdb-server not running (role r)"
    by_pattern = {"role": {"n": [{"name": "nova", "cmdline": r"^nova-compute"}]}}
    result = run("processes", root, tmp_path / "s", config=by_pattern)
    assert result.status == Status.OK and "701" in " ".join(result.details)


def test_stat_of_this_machines_processes() -> None:
    own = parse_stat(Path("/proc/self/stat").read_bytes())
    assert own is not None and not own.kernel_thread and own.state == "R"
    kthreadd = parse_stat(Path("/proc/2/stat").read_bytes())
    if kthreadd is not None and kthreadd.name == "kthreadd":  # not in a PID namespace
        assert kthreadd.kernel_thread
    odd = parse_stat(stat_line(9, ") x (", flags=KTHREAD_FLAGS).encode())
    assert odd is not None and odd.name == ") x (" and odd.kernel_thread
    assert parse_stat(b"12 (short) S 1") is None


@given(st.binary())
def test_parsers_never_crash(raw: bytes) -> None:
    assert isinstance(parse_cmdline(raw), tuple)
    stat = parse_stat(raw)
    assert stat is None or stat.flags >= 0
    assert "\n" not in parse_comm(raw).rstrip("\n")[-1:]


def test_scan_is_quick(tmp_path: Path) -> None:
    started = time.process_time()
    run("processes", "/", tmp_path / "s", config={"roles": ["ovs"]})
    assert time.process_time() - started < 1.0
