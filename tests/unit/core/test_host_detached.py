"""Host.start_detached (a program that outlives stackwatch and its session) and Host.lock_holder
(whether a process still holds an exclusive_lock): what the ovs apply --confirm watchdog is
built on."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from stackwatch.core.host import CommandNotFound, Host


def wait_for_text(path: Path, text: str) -> str:
    for _ in range(200):
        found = path.read_text() if path.exists() else ""
        if text in found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"{text!r} never appeared in {path}")


def test_a_detached_program_has_a_session_of_its_own_and_is_not_our_child(tmp_path: Path) -> None:
    pid = Host().start_detached(["sleep", "30"], tmp_path / "out.log")
    try:
        assert os.getsid(pid) != os.getsid(0)  # not in our session: our SIGHUP is not its
        assert os.getsid(pid) != pid  # not a session leader: it can never take a terminal
        stat = Path(f"/proc/{pid}/stat").read_text()
        assert int(stat.rsplit(")", 1)[1].split()[1]) != os.getpid()  # left to init
    finally:
        os.kill(pid, signal.SIGKILL)


def test_its_output_goes_to_the_file(tmp_path: Path) -> None:
    log = tmp_path / "out.log"
    log.write_text("before\n")
    Host().start_detached(["echo", "hello"], log)
    assert wait_for_text(log, "hello") == "before\nhello\n"
    assert log.stat().st_mode & 0o777 == 0o644  # an existing file keeps its mode


def test_a_missing_program_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CommandNotFound):
        Host().start_detached(["no-such-program-here"], tmp_path / "out.log")


def test_lock_holder(tmp_path: Path) -> None:
    host = Host()
    lock = tmp_path / "x.lock"
    assert host.lock_holder(lock) is None  # no file
    with host.exclusive_lock(lock):
        assert host.lock_holder(lock) == str(os.getpid())
    assert host.lock_holder(lock) is None  # released; the file stays
    assert lock.exists()
