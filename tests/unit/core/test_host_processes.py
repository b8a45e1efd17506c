"""Host's processes: one stop rule (SIGTERM, SIGKILL after a grace, reaped), draining to a file with
a deadline, feeding input, one error family, and the argv audit that keeps passwords off command
lines. Also the file helpers that long-running jobs use."""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackwatch.core.host import (
    CommandFailed,
    CommandNotFound,
    CommandTimeout,
    Drained,
    Host,
    HostError,
    SecretOnCommandLine,
    audit_argv,
)

PY = sys.executable


def py(code: str) -> list[str]:
    return [PY, "-c", code]


def gone(pid: int) -> bool:
    """True when the process no longer exists (reaped: not even a zombie)."""
    return not Path(f"/proc/{pid}").exists()


def pid_of(path: Path) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = path.read_text() if path.exists() else ""
        if text.endswith("\n"):
            return int(text)
        time.sleep(0.01)
    raise AssertionError("the child never wrote its pid")


STUBBORN = (  # ignores SIGTERM: only SIGKILL ends it
    "import os, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "open(sys.argv[1], 'w').write(f'{os.getpid()}\\n'); time.sleep(60)"
)


# The argv audit ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["mariadb-dump", "--password=hunter2", "shop"],
        ["mysql", "--pass=hunter2"],
        ["mariadb", "--PASSWORD", "hunter2"],
        ["mariadb", "-phunter2"],
        ["mysqldump", "-phunter2", "--", "shop"],
        ["curl", "https://example.net/?user=a&password=hunter2"],
        ["ssh", "--", "backup@host", "mysql --password=hunter2"],  # operands too
    ],
)
def test_audit_refuses_a_password_on_the_command_line(argv: list[str]) -> None:
    with pytest.raises(SecretOnCommandLine) as err:
        audit_argv(argv)
    assert "hunter2" not in str(err.value)  # the refusal does not print the secret
    assert "option file" in str(err.value)


@pytest.mark.parametrize(
    "argv",
    [
        ["mariadb-dump", "--defaults-extra-file=/etc/stackwatch/db1.cnf", "--port=3306", "-P3306"],
        ["ssh", "-p", "2222", "-o", "BatchMode=yes", "--", "backup@host", "ls"],
        ["rsync", "--password-file=/etc/stackwatch/rsync.secret", "a", "b"],
        ["mkdir", "-p", "-m", "700", "--", "/srv/x"],
        ["find", "/srv", "-path", "*/x", "-print"],  # -p is a password for MySQL programs only
        ["mariadb-dump", "--single-transaction", "--", "-pages"],  # a database named -pages
    ],
)
def test_audit_allows_ordinary_command_lines(argv: list[str]) -> None:
    audit_argv(argv)


@given(st.lists(st.text(max_size=30), min_size=1, max_size=6), st.text(max_size=20))
def test_audit_refuses_every_password_assignment(argv: list[str], secret: str) -> None:
    with pytest.raises(SecretOnCommandLine):
        audit_argv(["prog", *argv, f"x-PassWord={secret}"])


@given(st.lists(st.text(alphabet="abcdefghijklmnoqrstuvwxyz0123456789=./_ ", max_size=30)))
def test_audit_leaves_text_without_password_options_alone(argv: list[str]) -> None:
    audit_argv(["mariadb", *argv])  # no "-p..." and no "pass" can be made from this alphabet


def test_nothing_starts_when_the_argv_carries_a_password(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    code = f"open({str(marker)!r}, 'w')"
    host = Host()
    with pytest.raises(SecretOnCommandLine):
        host.run([PY, "-c", code, "--password=x"])
    with pytest.raises(SecretOnCommandLine):
        host.spawn([PY, "-c", code, "--password=x"])
    with pytest.raises(SecretOnCommandLine):
        host.feed([PY, "-c", code, "--password=x"], [b""], timeout=5)
    assert not marker.exists()


# run: short commands ----------------------------------------------------------------------------


def test_run_names_what_failed_and_feeds_input() -> None:
    host = Host()
    assert host.run(py("import sys; print(sys.stdin.read().upper())"), input_text="hi").stdout == (
        "HI\n"
    )
    with pytest.raises(CommandFailed, match=r"^pre hook exited with status 3: bad$"):
        host.run(py("import sys; sys.stderr.write('x\\nbad\\n'); sys.exit(3)"), what="pre hook")
    with pytest.raises(CommandTimeout, match=r"^notify command did not finish within 0\.3 s$"):
        host.run(py("import time; time.sleep(30)"), timeout=0.3, what="notify command")
    env = host.run(py("import os; print(os.environ['JOB'])"), env={"JOB": "nightly"})
    assert env.stdout == "nightly\n"


def test_run_stops_a_program_that_ignores_sigterm(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    started = time.monotonic()
    with pytest.raises(CommandTimeout):
        Host().run([PY, "-c", STUBBORN, str(pid_file)], timeout=0.5)
    took = time.monotonic() - started
    assert gone(pid_of(pid_file))  # killed after the grace, and reaped
    assert 2.0 <= took < 10, took  # the grace (STOP_GRACE) after SIGTERM, then SIGKILL


# spawn and stop ---------------------------------------------------------------------------------


def test_stop_terminates_then_kills_and_reaps(tmp_path: Path) -> None:
    host = Host()
    polite = host.spawn(py("import time; time.sleep(60)"))
    started = time.monotonic()
    polite.stop()
    assert time.monotonic() - started < 2  # SIGTERM was enough
    assert polite.poll() is not None
    pid_file = tmp_path / "pid"
    stubborn = host.spawn([PY, "-c", STUBBORN, str(pid_file)])
    pid = pid_of(pid_file)
    stubborn.stop(grace=0.2)
    assert gone(pid)
    stubborn.stop()  # idempotent


def test_spawn_of_a_missing_program() -> None:
    with pytest.raises(CommandNotFound, match="no-such-program-stackwatch: command not found"):
        Host().spawn(["no-such-program-stackwatch"])


def test_wait_at_the_deadline_ends_the_program() -> None:
    with Host().spawn(py("import time; time.sleep(60)"), what="dump of shop") as process:
        with pytest.raises(CommandTimeout, match=r"^dump of shop did not finish within 0\.2 s$"):
            process.wait(0.2)
        assert process.poll() is not None


def test_new_stderr_gives_what_arrived_since_the_last_call() -> None:
    code = (
        "import sys, time; sys.stderr.write('one\\n'); sys.stderr.flush(); sys.stdin.readline();"
        " sys.stderr.write('two\\n')"
    )
    with Host().spawn(py(code), stdin=True) as process:
        deadline = time.monotonic() + 10
        first = ""
        while "one" not in first and time.monotonic() < deadline:
            first += process.new_stderr()
            time.sleep(0.01)
        assert first == "one\n"
        assert process.stdin is not None
        process.stdin.write(b"go\n")
        process.stdin.flush()
        assert process.wait(10) == 0
        assert process.new_stderr() == "two\n"
        assert process.stderr_text() == "one\ntwo\n"


# drain_to_file ----------------------------------------------------------------------------------

DATA = "import sys; sys.stdout.buffer.write(b'x' * 3_000_000 + b'\\n-- Dump completed\\n')"


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_drain_compresses_checksums_and_renames(tmp_path: Path) -> None:
    host = Host()
    target = tmp_path / "shop.sql.gz"
    seen: list[Drained] = []
    drained = host.drain_to_file(
        host.spawn(py(DATA)),
        target,
        timeout=30,
        encoder=zlib.compressobj(6, zlib.DEFLATED, 31),
        accept=seen.append,
    )
    written = target.read_bytes()
    assert zlib.decompress(written, 47) == b"x" * 3_000_000 + b"\n-- Dump completed\n"
    assert drained.size == len(written) < drained.raw_size == 3_000_000 + 19
    assert drained.sha256 == hashlib.sha256(written).hexdigest()
    assert drained.tail.endswith(b"\n-- Dump completed\n") and len(drained.tail) == 512
    assert seen == [drained]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert leftovers(tmp_path) == ["shop.sql.gz"]


def test_drain_leaves_nothing_when_the_program_fails(tmp_path: Path) -> None:
    host = Host()
    code = (
        "import sys; print('partial'); sys.stderr.write('Got error 2013: Lost connection');"
        " sys.exit(2)"
    )
    process = host.spawn(py(code), what="dump of shop")
    with pytest.raises(CommandFailed, match=r"^dump of shop exited with status 2: Got error 2013"):
        host.drain_to_file(process, tmp_path / "shop.sql", timeout=30)
    assert leftovers(tmp_path) == []
    assert process.poll() == 2


def test_drain_at_the_deadline_stops_the_program_and_leaves_nothing(tmp_path: Path) -> None:
    host = Host()
    pid_file = tmp_path / "pid"
    code = (  # prints a little, then hangs without closing its output
        "import os, sys, time; open(sys.argv[1], 'w').write(f'{os.getpid()}\\n');"
        " sys.stdout.write('x' * 1000); sys.stdout.flush(); time.sleep(60)"
    )
    process = host.spawn([PY, "-c", code, str(pid_file)], what="dump of big")
    out = tmp_path / "out"
    out.mkdir()
    started = time.monotonic()
    with pytest.raises(CommandTimeout, match=r"^dump of big did not finish within 0\.5 s$"):
        host.drain_to_file(process, out / "big.sql", timeout=0.5)
    assert time.monotonic() - started < 5
    assert gone(pid_of(pid_file))
    assert leftovers(out) == []


def test_drain_refused_by_accept_leaves_nothing(tmp_path: Path) -> None:
    host = Host()

    def no_trailer(drained: Drained) -> None:
        raise ValueError("cut short")

    with pytest.raises(ValueError, match="cut short"):
        host.drain_to_file(host.spawn(py(DATA)), tmp_path / "f", timeout=30, accept=no_trailer)
    assert leftovers(tmp_path) == []


def test_drain_into_a_missing_directory_stops_the_program(tmp_path: Path) -> None:
    host = Host()
    pid_file = tmp_path / "pid"
    process = host.spawn([PY, "-c", STUBBORN, str(pid_file)])
    pid = pid_of(pid_file)
    with pytest.raises(HostError, match="No such file or directory"):
        host.drain_to_file(process, tmp_path / "absent" / "f", timeout=30)
    assert gone(pid)


# feed -------------------------------------------------------------------------------------------


def test_feed_streams_every_chunk(tmp_path: Path) -> None:
    target = tmp_path / "in"
    code = f"import sys; open({str(target)!r}, 'wb').write(sys.stdin.buffer.read())"
    chunks = [bytes([n]) * 100_000 for n in range(30)]
    Host().feed(py(code), iter(chunks), timeout=30, what="restoring shop.sql.zst")
    assert target.read_bytes() == b"".join(chunks)


def test_feed_a_program_that_ends_early_says_why() -> None:
    code = "import sys; sys.stdin.readline(); sys.stderr.write('ERROR 1064: syntax'); sys.exit(1)"
    many = (b"line\n" * 100_000 for _ in range(100))  # far more than a pipe holds
    with pytest.raises(CommandFailed, match=r"^restoring x exited with status 1: ERROR 1064"):
        Host().feed(py(code), many, timeout=30, what="restoring x")


def test_feed_a_corrupt_source_stops_the_program(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"

    def corrupt() -> Iterator[bytes]:
        pid_of(pid_file)
        yield b"CREATE TABLE t (id int);\n"
        raise ValueError("zstd: corrupted block")

    argv = [PY, "-c", STUBBORN.replace("time.sleep(60)", "sys.stdin.read()"), str(pid_file)]
    with pytest.raises(ValueError, match="corrupted block"):
        Host().feed(argv, corrupt(), timeout=30)
    assert gone(pid_of(pid_file))


def test_feed_at_the_deadline() -> None:
    code = "import time; time.sleep(60)"
    with pytest.raises(CommandTimeout, match=r"^restoring x did not finish within 0\.3 s$"):
        Host().feed(py(code), [b"x" * 10], timeout=0.3, what="restoring x")


# Files of long-running jobs ---------------------------------------------------------------------


def test_file_helpers(tmp_path: Path) -> None:
    host = Host()
    source = tmp_path / "a"
    source.write_bytes(os.urandom(3 << 20))
    host.make_dir(tmp_path / "x" / "y", parents=True)
    host.make_dir(tmp_path / "x" / "y", parents=True)  # there already: fine with parents
    with pytest.raises(HostError, match="cannot create"):
        host.make_dir(tmp_path / "x" / "y")
    host.copy_file(source, tmp_path / "x" / "y" / "b")
    copy = tmp_path / "x" / "y" / "b"
    assert copy.read_bytes() == source.read_bytes()
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert leftovers(tmp_path / "x" / "y") == ["b"]
    assert host.size_of(copy) == 3 << 20
    with host.open_binary(copy) as handle:
        assert handle.read(4) == source.read_bytes()[:4]
    host.write_atomic(tmp_path / "x" / "m.json", b"{}", 0o600)
    host.rename(tmp_path / "x" / "y", tmp_path / "x" / "z")
    assert leftovers(tmp_path / "x") == ["m.json", "z"]
    host.remove_file(tmp_path / "x" / "m.json")
    host.remove_file(tmp_path / "x" / "m.json")  # absent: fine
    host.remove_tree(tmp_path / "x")
    host.remove_tree(tmp_path / "x")  # absent: fine
    assert leftovers(tmp_path) == ["a"]
    for missing in (lambda: host.open_binary(tmp_path / "nope"), lambda: host.size_of("/nope/x")):
        with pytest.raises(HostError, match="No such file"):
            missing()
    with pytest.raises(HostError, match="cannot read"):
        host.copy_file(tmp_path / "nope", tmp_path / "c")
    assert leftovers(tmp_path) == ["a"]


def test_file_helpers_resolve_under_the_root(tmp_path: Path) -> None:
    (tmp_path / "srv").mkdir()
    host = Host(tmp_path)
    host.write_atomic("/srv/f", b"data")
    assert (tmp_path / "srv" / "f").read_bytes() == b"data"
    assert host.size_of("/srv/f") == 4
    assert not host.is_mount("/srv")


def test_a_pipeline_says_why_its_later_program_failed_not_the_sigpipe_it_caused() -> None:
    """zstd | mbstream where mbstream runs out of space: zstd dies of SIGPIPE writing to it,
    and the error names mbstream's last words."""
    script = "head -c 10 >/dev/null; echo 'mbstream: No space left on device' >&2; exit 1"

    def chunks() -> Iterator[bytes]:
        for _ in range(200):
            yield b"x" * (1 << 20)

    with pytest.raises(CommandFailed, match="No space left on device"):
        Host().feed(["cat"], chunks(), timeout=30, what="extracting", then=["sh", "-c", script])
