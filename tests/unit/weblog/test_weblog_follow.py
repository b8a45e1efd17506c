"""Following files across rotation: every line exactly once, partial lines held back, offsets kept
in the state directory so a restart resumes where it stopped."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

from stackwatch.weblog.follow import Follower


def lines_of(blocks: list[bytes]) -> list[bytes]:
    return [ln for b in blocks for ln in b.split(b"\n") if ln]


def test_partial_lines_are_held_until_complete(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"")
    follower = Follower([str(log)])
    assert follower.poll() == []
    with open(log, "ab") as out:
        out.write(b"one\ntw")
        out.flush()
        assert lines_of(follower.poll()) == [b"one"]
        assert follower.poll() == []
        out.write(b"o\n")
        out.flush()
        assert lines_of(follower.poll()) == [b"two"]


def test_a_new_file_is_followed_from_its_end_unless_asked(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"old 1\nold 2\n")
    assert Follower([str(log)]).poll() == []
    assert lines_of(Follower([str(log)], from_start=True).poll()) == [b"old 1", b"old 2"]


def _writer(log: Path, total: int, rotate: str, done: threading.Event) -> None:
    """Append numbered lines; rotate twice on the way (rename+create, or copy+truncate)."""
    out = open(log, "ab")  # noqa: SIM115
    try:
        for n in range(total):
            out.write(b"line %06d\n" % n)
            out.flush()
            if n in (total // 3, 2 * total // 3):
                if rotate == "rename":
                    os.rename(log, f"{log}.1")
                    out.write(b"late %06d\n" % n)  # the writer has not reopened yet
                    out.flush()
                    out.close()
                    out = open(log, "ab")  # noqa: SIM115
                else:
                    shutil.copyfile(log, f"{log}.1")
                    os.truncate(log, 0)
            if n % 50 == 0:
                time.sleep(0.001)
    finally:
        out.close()
        done.set()


def _follow_while_writing(tmp_path: Path, rotate: str) -> list[bytes]:
    log = tmp_path / "access.log"
    log.write_bytes(b"")
    follower = Follower([str(log)])
    follower.poll()
    done = threading.Event()
    writer = threading.Thread(target=_writer, args=(log, 6000, rotate, done))
    writer.start()
    got: list[bytes] = []
    deadline = time.monotonic() + 60
    while not done.is_set() and time.monotonic() < deadline:
        got += lines_of(follower.poll())
        time.sleep(0.002)
    writer.join(10)
    got += lines_of(follower.poll())
    follower.close()
    return got


def test_rename_rotation_while_appending_loses_and_repeats_nothing(tmp_path: Path) -> None:
    got = _follow_while_writing(tmp_path, "rename")
    expected = [b"line %06d" % n for n in range(6000)] + [b"late 002000", b"late 004000"]
    assert sorted(got) == sorted(expected)
    assert len(got) == len(set(got))


def test_copytruncate_while_appending_loses_and_repeats_nothing(tmp_path: Path) -> None:
    got = _follow_while_writing(tmp_path, "copytruncate")
    assert sorted(got) == [b"line %06d" % n for n in range(6000)]


def test_restart_resumes_from_saved_offsets(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"a\n")
    first = Follower([str(log)], from_start=True)
    assert lines_of(first.poll()) == [b"a"]
    with open(log, "ab") as out:
        out.write(b"b\nc")
    assert lines_of(first.poll()) == [b"b"]
    state = first.state()
    first.close()
    with open(log, "ab") as out:
        out.write(b"\nd\n")
    second = Follower([str(log)], state)
    assert lines_of(second.poll()) == [b"c", b"d"]
    second.close()


def test_restart_after_rotation_reads_the_rest_of_the_old_file_first(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"1\n2\n")
    first = Follower([str(log)], from_start=True)
    assert lines_of(first.poll()) == [b"1", b"2"]
    state = first.state()
    first.close()
    with open(log, "ab") as out:
        out.write(b"3\n")
    os.rename(log, f"{log}.1")
    log.write_bytes(b"4\n")
    second = Follower([str(log)], state)
    assert lines_of(second.poll()) == [b"3", b"4"]
    second.close()


def test_corrupt_state_is_ignored(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"x\n")
    state = {str(log): {"dev": "?", "inode": None, "offset": -5}}
    follower = Follower([str(log)], state, from_start=True)
    assert lines_of(follower.poll()) == [b"x"]
    follower.close()


def test_lines_written_to_the_renamed_file_after_rotation_are_still_read(tmp_path: Path) -> None:
    """Apache keeps writing to the renamed log until its graceful restart."""
    log = tmp_path / "access.log"
    log.write_bytes(b"")
    follower = Follower([str(log)], retire_after=0.5)
    follower.poll()
    with open(log, "ab") as old:
        old.write(b"before\n")
        old.flush()
        os.rename(log, f"{log}.1")
        log.write_bytes(b"new 1\n")
        assert sorted(lines_of(follower.poll())) == [b"before", b"new 1"]
        old.write(b"after rename\nlast without newline")
        old.flush()
        assert lines_of(follower.poll()) == [b"after rename"]
        time.sleep(0.6)
        assert lines_of(follower.poll()) == [b"last without newline"]
    assert follower._retired == []
    follower.close()


def test_globs_are_expanded_again_and_new_logs_read_from_their_start(tmp_path: Path) -> None:
    first = tmp_path / "a.access.log"
    first.write_bytes(b"a old\n")
    pattern = str(tmp_path / "*")
    follower = Follower([str(first)], patterns=[pattern], rescan=0)
    assert follower.poll() == []
    # A new vhost log, and names that are rotations: only the new log is read, from its start.
    (tmp_path / "b.access.log").write_bytes(b"b 1\nb 2\n")
    (tmp_path / "a.access.log.2.gz").write_bytes(b"\x1f\x8b junk\n")
    (tmp_path / "a.access.log-20240101").write_bytes(b"dated\n")
    assert sorted(lines_of(follower.poll())) == [b"b 1", b"b 2"]
    assert any("new log" in e for e in follower.events)
    # Rotation by rename to a name the glob matches: the old file is not read again.
    with open(first, "ab") as out:
        out.write(b"a 1\n")
    os.rename(first, tmp_path / "a.access.old")
    first.write_bytes(b"a new\n")
    with open(tmp_path / "b.access.log", "ab") as out:
        out.write(b"b 3\n")
    got = lines_of(follower.poll()) + lines_of(follower.poll())
    assert sorted(got) == [b"a 1", b"a new", b"b 3"]
    assert lines_of(follower.poll()) == []
    follower.close()


def test_a_rescan_is_bounded_by_its_interval(tmp_path: Path) -> None:
    follower = Follower([], patterns=[str(tmp_path / "*.log")], rescan=3600)
    (tmp_path / "late.log").write_bytes(b"x\n")
    assert follower.poll() == [] and follower.cursors == []


def test_prime_gives_the_history_before_the_end_and_following_starts_there(
    tmp_path: Path,
) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(b"".join(b"line %d\n" % n for n in range(1000)) + b"partial")
    follower = Follower([str(log)])
    [(handle, start, end)] = follower.prime(1 << 30)
    assert (start, end) == (0, log.stat().st_size - len(b"partial"))
    assert os.pread(handle.fileno(), end - start, start).endswith(b"line 999\n")
    with open(log, "ab") as out:
        out.write(b"\nnext\n")
    assert lines_of(follower.poll()) == [b"partial", b"next"]
    # Saved offsets: nothing to prime, the restart resumes exactly.
    state = follower.state()
    follower.close()
    with open(log, "ab") as out:
        out.write(b"after\n")
    again = Follower([str(log)], state)
    assert again.prime(1 << 30) == []
    assert lines_of(again.poll()) == [b"after"]
    again.close()
