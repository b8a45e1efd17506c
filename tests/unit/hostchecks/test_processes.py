"""The processes check: roles from the configuration, counted from a real /proc and fixtures."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackwatch.checks.process_identity import Identity, verify
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
from tests.unit.hostchecks.support import run, run_engine, write

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


# Who a process is: its executable and its user, not the name it gives itself ------------------


def exe_tree(root: Path, pid: int, name: str, argv: list[str], exe: str, mode: int) -> None:
    """A captured process whose /proc/PID/exe points at ``exe`` inside the tree, a file with
    ``mode`` (the tests run as root: root owns it)."""
    fake_proc(root, {pid: (name, argv)})
    target = root / exe.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"\x7fELF")
    target.chmod(mode)
    (root / f"proc/{pid}/exe").symlink_to(exe)


def test_a_borrowed_name_does_not_stand_in_for_the_daemon(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the fixture's files must belong to root")
    root = tmp_path / "root"
    exe_tree(
        root, 10, "ovsdb-server", ["ovsdb-server", "--detach"], "/usr/sbin/ovsdb-server", 0o755
    )
    # A program anyone may rewrite, and a system program started under the daemon's name.
    exe_tree(root, 11, "ovs-vswitchd", ["ovs-vswitchd"], "/home/x/ovs-vswitchd", 0o777)
    exe_tree(root, 12, "sleep", ["ovs-vswitchd", "--pidfile"], "/usr/bin/sleep", 0o755)
    result = run("processes", root, tmp_path / "s", config={"roles": ["ovs"]})
    assert result.status == Status.CRITICAL
    assert result.summary.startswith("ovs-vswitchd not running (role ovs); ovs-vswitchd: ")
    assert "processes 11, 12 use its name but is not it" in result.summary
    details = "\n".join(result.details)
    assert "process 11: runs /home/x/ovs-vswitchd, a file root did not install" in details
    assert "process 12: runs /usr/bin/sleep under a borrowed name" in details
    assert result.hint and "ls -l /proc/PID/exe" in result.hint
    counts = {m.labels["process"]: m.value for m in result.metrics}
    assert counts == {"ovs-vswitchd": 0, "ovsdb-server": 1}


def test_an_interpreter_counts_for_the_script_root_installed(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the fixture's files must belong to root")
    root = tmp_path / "root"
    python = "/usr/bin/python3.11"
    exe_tree(root, 40, "nova-compute", ["/usr/bin/python3", "/usr/bin/nova-compute"], python, 0o755)
    write(root, "/usr/bin/nova-compute", "#!/usr/bin/python3\n")
    exe_tree(root, 41, "nova-compute", ["/usr/bin/python3", "/home/m/nova-compute"], python, 0o755)
    write(root, "/home/m/nova-compute", "#!/usr/bin/python3\n")
    (root / "home/m/nova-compute").chmod(0o666)
    exe_tree(
        root,
        42,
        "nova-compute",
        ["python3", "-c", "import time", "/usr/bin/nova-compute"],
        python,
        0o755,
    )
    exe_tree(root, 43, "nova-compute", ["/bin/sh", "/usr/bin/nova-compute"], "/usr/bin/dash", 0o755)
    (root / "bin").mkdir()
    (root / "bin/sh").symlink_to("../usr/bin/dash")  # argv[0] /bin/sh names dash: the same file
    result = run(
        "processes", root, tmp_path / "s", config={"role": {"n": [{"name": "nova-compute"}]}}
    )
    assert [m.value for m in result.metrics] == [2]  # 40, and 43 (a shell running the script)
    details = "\n".join(result.details)
    assert (
        "process 41: /usr/bin/python3.11 runs /home/m/nova-compute, a script root did not install"
        in details
    )
    assert "process 42: /usr/bin/python3.11 runs no script given by its full path" in details
    assert result.status == Status.WARNING


def test_configured_executables_and_user(tmp_path: Path) -> None:
    root = tmp_path / "root"
    exe_tree(root, 20, "mydaemon", ["/opt/app/bin/mydaemon"], "/opt/app/bin/mydaemon", 0o777)
    write(root, "/proc/20/status", "Name:\tmydaemon\nUid:\t1000\t1000\t1000\t1000\n")
    write(root, "/etc/passwd", "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/opt/app:/bin/sh\n")
    spec = {"name": "mydaemon", "exe": ["/opt/app/bin/*"], "user": "app"}
    result = run("processes", root, tmp_path / "s", config={"role": {"a": [spec]}})
    assert result.status == Status.OK, result.summary  # the operator named the path and user
    other_user = run(
        "processes", root, tmp_path / "s", config={"role": {"a": [{**spec, "user": "root"}]}}
    )
    assert other_user.status == Status.CRITICAL
    assert "runs as uid 1000, not 0" in other_user.summary
    unknown = run_engine(
        "processes", root, tmp_path / "s", config={"role": {"a": [{**spec, "user": "nobody"}]}}
    )
    assert unknown.status == Status.UNKNOWN and "'nobody' is not in /etc/passwd" in unknown.summary


def test_without_the_executable_the_name_counts_and_says_so(tmp_path: Path) -> None:
    root = fake_proc(tmp_path, {30: ("libvirtd", ["/usr/sbin/libvirtd"])})
    result = run("processes", root, tmp_path / "s", config={"role": {"v": [{"name": "libvirtd"}]}})
    assert result.status == Status.OK
    assert any(
        "v: libvirtd: process 30: /proc/PID/exe cannot be read (root alone may read another "
        "user's): counted by name" in d
        for d in result.details
    )


IDENTITIES = st.builds(
    Identity,
    exe=st.one_of(st.none(), st.sampled_from(["/usr/sbin/nginx", "/usr/bin/python3.11", "/tmp/x"])),
    exe_trusted=st.one_of(st.none(), st.booleans()),
    argv0_names_exe=st.one_of(st.none(), st.booleans()),
    script=st.one_of(st.none(), st.sampled_from(["/usr/bin/nova-compute", "/home/m/nginx"])),
    script_trusted=st.one_of(st.none(), st.booleans()),
    uid=st.one_of(st.none(), st.integers(0, 70000)),
)


@given(
    IDENTITIES,
    st.one_of(st.none(), st.integers(0, 70000)),
    st.one_of(st.none(), st.just(["nginx"])),
    st.one_of(st.just([]), st.just(["/usr/sbin/*"])),
)
def test_verdicts_never_count_what_the_kernel_contradicts(
    identity: Identity, want_uid: int | None, names: list[str] | None, exe: list[str]
) -> None:
    verdict = verify(identity, exe, want_uid, names)
    if want_uid is not None and identity.uid is not None and identity.uid != want_uid:
        assert not verdict.counted
    if identity.exe is None:
        assert verdict.counted == (want_uid is None or identity.uid in (None, want_uid))
        return
    if exe:
        assert verdict.counted == (
            identity.exe.startswith("/usr/sbin/")
            and (want_uid is None or identity.uid in (None, want_uid))
        )
        return
    contradicted = (
        identity.exe_trusted is False
        or identity.argv0_names_exe is False
        or (identity.script is not None and identity.script_trusted is False)
    )
    if contradicted:
        assert not verdict.counted
    if verdict.counted and (
        identity.exe_trusted is None or (want_uid is not None and identity.uid is None)
    ):
        assert verdict.why  # what could not be checked is said


SRC = Path(__file__).resolve().parents[3] / "src"
AS_NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def _python_for_nobody() -> str:
    """An interpreter nobody may run that imports stackwatch (this one may live under /root)."""
    for python in dict.fromkeys([sys.executable, "/usr/bin/python3"]):
        probe = subprocess.run(
            [*AS_NOBODY, "env", f"PYTHONPATH={SRC}", python, "-c", "import stackwatch.cli"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        if probe.returncode == 0:
            return python
    pytest.skip("no Python that nobody may run imports stackwatch")


def _run_as_nobody(*args: str) -> subprocess.CompletedProcess[str]:
    python = _python_for_nobody()
    return subprocess.run(
        [*AS_NOBODY, "env", f"PYTHONPATH={SRC}", python, "-m", "stackwatch.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory nobody can reach too (pytest's own are root's alone)."""
    with tempfile.TemporaryDirectory(prefix="stackwatch-test-") as name:
        Path(name).chmod(0o755)
        yield Path(name)


@pytest.fixture
def impostors(open_dir: Path) -> Iterator[tuple[str, dict[str, int]]]:
    """A daemon "stackwatch-tNNN" (a copy of sleep root installed) and three processes that
    borrow its name: sleep under that name, a copy nobody owns run by nobody, and python -c
    with its comm set to that name."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv")
    name = f"stackwatch-t{os.getpid() % 100000}"
    bindir = open_dir / "sbin"
    bindir.mkdir()
    real = bindir / name
    shutil.copy("/usr/bin/sleep", real)
    real.chmod(0o755)
    fake_dir = open_dir / "nobody"
    fake_dir.mkdir(mode=0o777)
    fake = fake_dir / name
    shutil.copy("/usr/bin/sleep", fake)
    os.chown(fake, 65534, 65534)
    rename = f"open('/proc/self/comm', 'w').write({name!r}); import time; time.sleep(60)"
    started = {
        "daemon": subprocess.Popen([str(real), "60"]),
        "borrowed": subprocess.Popen(["bash", "-c", f"exec -a {name} sleep 60"]),
        "copy": subprocess.Popen([*AS_NOBODY, str(fake), "60"]),
        "python": subprocess.Popen([*AS_NOBODY, "/usr/bin/python3", "-c", rename]),
    }
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        comms = {k: Path(f"/proc/{p.pid}/comm").read_text().strip() for k, p in started.items()}
        if all(c == name for k, c in comms.items() if k != "borrowed"):
            break
        time.sleep(0.02)
    try:
        yield name, {k: p.pid for k, p in started.items()}
    finally:
        for process in started.values():
            process.kill()
            process.wait(timeout=10)


def test_impostors_on_this_machine_as_root_and_as_nobody(
    impostors: tuple[str, dict[str, int]], open_dir: Path, tmp_path: Path
) -> None:
    name, pids = impostors
    result = run(
        "processes", "/", tmp_path / "s", config={"role": {"t": [{"name": name, "max": 1}]}}
    )
    counted = next(m.value for m in result.metrics)
    assert counted == 1, result.details  # only the daemon root installed
    assert result.status == Status.WARNING and "use its name but is not it" in result.summary
    for kind in ("borrowed", "copy", "python"):
        assert any(f"not counted: process {pids[kind]}: " in d for d in result.details), kind
    # As nobody (NRPE runs plugins unprivileged): root's processes' executables cannot be read,
    # so they count by name and the output says so; nobody's own impostors are still seen through,
    # and a configured user sees through the rest.
    config = open_dir / "nobody.toml"
    config.write_text(f'[checks.processes.role]\nt = [{{ name = "{name}", user = "root" }}]\n')
    config.chmod(0o644)
    state = open_dir / "nobody-state"
    state.mkdir(mode=0o777)
    done = _run_as_nobody(
        "check", "processes", "--config", str(config), "--state-dir", str(state), "--format", "json"
    )
    assert done.returncode in (0, 1), done.stderr
    check = json.loads(done.stdout)["checks"][0]
    details = "\n".join(check["details"])
    unread = next(d for d in check["details"] if "/proc/PID/exe cannot be read" in d)
    assert str(pids["daemon"]) in unread and unread.endswith("counted by name and user")
    assert f"not counted: process {pids['copy']}: runs as uid 65534, not 0" in details
    assert f"not counted: process {pids['python']}: runs as uid 65534, not 0" in details
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("hidepid", ["invisible", "noaccess"])
def test_processes_hidden_by_hidepid_are_unknown_not_dead(open_dir: Path, hidepid: str) -> None:
    """NRPE runs plugins as nagios; on a /proc mounted with hidepid it cannot see root's daemons.
    Not seeing them is not their death: UNKNOWN, saying why, never CRITICAL."""
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("setpriv") is None:
        pytest.skip("needs root, unshare and setpriv")
    python = _python_for_nobody()
    config = open_dir / "c.toml"
    config.write_text('[checks.processes.role]\nr = [{ name = "sleep" }]\n')
    config.chmod(0o644)
    state = open_dir / "s"
    state.mkdir(mode=0o777)
    inner = (
        f"mount -t proc -o hidepid={hidepid} proc /proc || exit 99; exec {' '.join(AS_NOBODY)} "
        f"env PYTHONPATH={SRC} {python} -m stackwatch.cli check processes --config {config} "
        f"--state-dir {state} --format nagios"
    )
    with subprocess.Popen(["sleep", "30"]) as daemon:  # root's: hidden from nobody
        done = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", inner],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        daemon.kill()
    if done.returncode == 99:
        pytest.skip(f"this kernel cannot mount a proc instance with hidepid={hidepid}")
    first = done.stdout.splitlines()[0]
    assert done.returncode == 3, done.stdout + done.stderr
    assert first.startswith("PROCESSES UNKNOWN - sleep: 0 of 1 seen (role r); ")
    assert "other users' processes are hidden from this user (/proc mounted with hidepid)" in first
