"""The Host's file door: streaming reads that follow a renamed file, stat, glob and atomic writes,
all resolved under the Host's root and named as machine paths."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from stackwatch.core.host import Host, HostError


def tree(tmp_path: Path) -> Host:
    logs = tmp_path / "var" / "log" / "apache2"
    logs.mkdir(parents=True)
    (logs / "b-access.log").write_bytes(b"b\n")
    (logs / "a-access.log").write_bytes(b"a\n")
    (logs / "a-access.log.1.gz").write_bytes(b"\x1f\x8b")
    (logs / "error.log").write_bytes(b"e\n")
    return Host(tmp_path)


def test_open_binary_streams_and_keeps_following_a_renamed_file(tmp_path: Path) -> None:
    host = tree(tmp_path)
    with host.open_binary("/var/log/apache2/a-access.log") as handle:
        assert handle.read() == b"a\n"
        real = tmp_path / "var/log/apache2/a-access.log"
        os.rename(real, f"{real}.1")
        with open(f"{real}.1", "ab") as writer:
            writer.write(b"after rename\n")
        assert handle.read() == b"after rename\n"
    with pytest.raises(HostError, match=r"cannot read /var/log/missing\.log"):
        host.open_binary("/var/log/missing.log")
    with pytest.raises(HostError, match="cannot read /var/log"):
        host.open_binary("/var/log")  # a directory


def test_stat_and_stat_optional(tmp_path: Path) -> None:
    host = tree(tmp_path)
    st = host.stat("/var/log/apache2/b-access.log")
    assert st.st_size == 2 and stat.S_ISREG(st.st_mode)
    assert host.stat_optional("/var/log/apache2/gone.log") is None
    assert host.stat_optional("/var/log/apache2/b-access.log/x") is None  # under a file
    with pytest.raises(HostError, match="cannot stat /nowhere"):
        host.stat("/nowhere")


def test_glob_gives_sorted_machine_paths_inside_the_root(tmp_path: Path) -> None:
    host = tree(tmp_path)
    assert host.glob("/var/log/apache2/*-access.log*") == [
        "/var/log/apache2/a-access.log",
        "/var/log/apache2/a-access.log.1.gz",
        "/var/log/apache2/b-access.log",
    ]
    assert host.glob("/var/log/apache2/error.log") == ["/var/log/apache2/error.log"]
    assert host.glob("/var/log/apache2/none*.log") == []
    assert host.glob("/var/log/apache2/missing.log") == []
    # A root whose own name holds wildcards is looked into, never matched against.
    odd = tmp_path / "root[1]*"
    (odd / "log").mkdir(parents=True)
    (odd / "log" / "x.log").write_bytes(b"")
    assert Host(odd).glob("/log/*.log") == ["/log/x.log"]


def test_read_bytes_optional(tmp_path: Path) -> None:
    host = tree(tmp_path)
    assert host.read_bytes_optional("/var/log/apache2/a-access.log") == b"a\n"
    assert host.read_bytes_optional("/var/log/apache2/none") is None
    with pytest.raises(HostError):
        host.read_bytes_optional("/var/log")


def test_write_atomic_and_remove_under_the_root(tmp_path: Path) -> None:
    host = tree(tmp_path)
    host.write_atomic("/var/log/rules.conf", "one\n", 0o600)
    real = tmp_path / "var/log/rules.conf"
    assert real.read_text() == "one\n" and stat.S_IMODE(real.stat().st_mode) == 0o600
    host.write_atomic("/var/log/rules.conf", b"two\n")
    assert real.read_bytes() == b"two\n"
    assert [p.name for p in real.parent.iterdir() if p.name.startswith(".")] == []  # no temp
    with pytest.raises(HostError, match="cannot write /no/such/dir/x"):
        host.write_atomic("/no/such/dir/x", "x")
    host.remove_file("/var/log/rules.conf")
    assert not real.exists()
    host.remove_file("/var/log/rules.conf")  # already gone: nothing to do


def test_relative_paths_are_refused(tmp_path: Path) -> None:
    host = Host(tmp_path)
    for call in (host.open_binary, host.stat, host.stat_optional, host.glob, host.remove_file):
        with pytest.raises(ValueError, match="absolute"):
            call("var/log/x")
