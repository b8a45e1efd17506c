"""Destinations under an unlucky start: a directory that does not exist yet is created (0700,
parents too); a volume is never written while it is not mounted (issue 10). The dump's own word
that its snapshot is open, and the names of verify's scratch databases."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackwatch.backup.config import Destination
from stackwatch.backup.destinations import DestinationError, DirectoryBackend, VolumeBackend
from stackwatch.backup.dump import DumpedFile, without_progress
from stackwatch.backup.scratch import MARKER, Schema
from stackwatch.backup.snapshot import STARTING, opened_snapshot
from stackwatch.core.host import Host


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_missing_directory_destination_is_created_private_with_its_parents(
    tmp_path: Path,
) -> None:
    (tmp_path / "srv").mkdir(mode=0o755)
    path = tmp_path / "srv" / "new disk" / "backups"
    dest = DirectoryBackend("nas", Destination(kind="directory", path=str(path)), Host())
    dest.open()
    assert path.is_dir()
    assert mode(path) == mode(tmp_path / "srv" / "new disk") == 0o700
    assert mode(tmp_path / "srv") == 0o755  # what existed stays as it was
    staging = dest.prepare("nightly", "1")
    assert staging == path / "nightly" / ".partial-1" and mode(path / "nightly") == 0o700
    dest.open()  # the second run: it exists, fine


class Unmounted(Host):
    """The machine, where the volume's mount point is never a mount point."""

    def is_mount(self, path: str | os.PathLike[str]) -> bool:
        return False


def fake_programs(tmp_path: Path) -> str:
    """A PATH where mount and umount succeed without doing anything (a device that vanished,
    a mount helper that lies): the backend must look for itself."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("mount", "umount"):
        (bin_dir / name).write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / name).chmod(0o755)
    return f"{bin_dir}:{os.environ['PATH']}"


def test_a_volume_that_did_not_mount_is_never_written(tmp_path: Path) -> None:
    point = tmp_path / "mnt" / "vault"
    dest = Destination(kind="volume", path=str(point), device="/dev/disk/by-label/gone")
    vault = VolumeBackend("vault", dest, Unmounted(path_env=fake_programs(tmp_path)))
    with pytest.raises(DestinationError, match=r"^vault: .*/mnt/vault is not mounted; refusing"):
        vault.open()
    for write in (
        lambda: vault.prepare("nightly", "1"),
        lambda: vault.delete("nightly", "0"),
        lambda: vault.store(tmp_path, "nightly", "1", []),
    ):
        with pytest.raises(DestinationError, match="is not mounted"):
            write()
    assert list(point.iterdir()) == []  # nothing under the bare mount point


def test_a_volume_unmounted_during_the_run_is_not_written_either(tmp_path: Path) -> None:
    point = tmp_path / "vault"
    point.mkdir()
    data = b"x"
    files = [DumpedFile("a.sql", "a", 1, 1, hashlib.sha256(data).hexdigest())]
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / "a.sql").write_bytes(data)

    class Vanishing(Host):
        mounted = True

        def is_mount(self, path: str | os.PathLike[str]) -> bool:
            return self.mounted

    host = Vanishing()
    dest = Destination(kind="volume", path=str(point), device="/dev/sdz1")
    vault = VolumeBackend("vault", dest, host)
    vault.open()  # mounted already (by someone else): used as it is
    host.mounted = False  # then someone unmounts it
    with pytest.raises(DestinationError, match="is not mounted"):
        vault.store(staging, "nightly", "1", files)
    assert list(point.iterdir()) == []


# The dump's word that its snapshot is open (mariadb-dump --verbose) ----------------------------

REAL = (
    "-- Connecting to localhost...\n-- Starting transaction...\n-- Setting savepoint...\n"
    "-- Retrieving table structure for table t...\n"
)


def test_the_snapshot_is_open_once_a_progress_line_follows_starting_transaction() -> None:
    assert opened_snapshot(REAL)
    assert opened_snapshot("-- Connecting to localhost...\n-- Starting transaction...\n-- Disc")
    assert not opened_snapshot("-- Connecting to localhost...\n")
    assert not opened_snapshot("-- Connecting to localhost...\n-- Starting transaction...\n")
    assert not opened_snapshot("-- Starting transaction...")  # its line is not even complete
    # An error after it is no progress: the dump ends, and its exit status says why.
    failed = "-- Starting transaction...\nmariadb-dump: Got error: 1049: Unknown database\n"
    assert not opened_snapshot(failed)
    assert not opened_snapshot("x-- Starting transaction...\n-- Setting savepoint...\n")


@given(st.text(max_size=300), st.text(max_size=300))
def test_only_a_progress_line_after_starting_transaction_counts(before: str, after: str) -> None:
    while STARTING in before:
        before = before.replace(STARTING, "")
    assert not opened_snapshot(before)
    text = f"{before}\n{STARTING}\n{after}"
    assert opened_snapshot(text) == ("\n-- " in "\n" + after)


def test_progress_lines_are_not_the_error_message() -> None:
    stderr = (
        REAL + "mariadb-dump: Error 2013: Lost connection\n-- Disconnecting from localhost...\n"
    )
    assert without_progress(stderr) == "mariadb-dump: Error 2013: Lost connection"


# verify's scratch databases --------------------------------------------------------------------


def test_a_scratch_database_needs_its_name_and_its_mark() -> None:
    token = "0123456789abcdef"
    assert Schema(f"stackwatch_verify_{token}_1", MARKER).scratch_token == token
    assert Schema(f"stackwatch_verify_{token}_1", "").scratch_token is None  # a customer's
    assert Schema("stackwatch_verify_1234", MARKER).scratch_token is None
    assert Schema(f"stackwatch_verify_{token}_1\n", MARKER).scratch_token is None
    assert Schema(f"xstackwatch_verify_{token}_1", MARKER).scratch_token is None


@given(st.text(max_size=60), st.text(max_size=60))
def test_only_the_exact_form_is_a_scratch_database(name: str, comment: str) -> None:
    token = Schema(name, comment).scratch_token
    if token is not None:
        assert comment == MARKER and name.startswith(f"stackwatch_verify_{token}_")
        assert name.isascii() and name.isprintable()
