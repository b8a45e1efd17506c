import stat
import sys
from pathlib import Path

import pytest

from stackwatch.core.host import (
    CommandFailed,
    CommandNotFound,
    CommandTimeout,
    Host,
    HostError,
    write_atomic,
)
from stackwatch.core.rates import counter_rates, counter_sample
from stackwatch.core.state import StateStore


def test_state_round_trip_and_mode(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state")
    assert store.load("demo") == {}
    assert store.save("demo", {"a": 1})
    assert store.load("demo") == {"a": 1}
    mode = stat.S_IMODE((tmp_path / "state" / "demo.json").stat().st_mode)
    assert mode == 0o600
    assert store.warnings == []
    assert not list((tmp_path / "state").glob(".*tmp"))


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b"\xff\xfe", b""])
def test_corrupt_state_discarded_with_warning(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "demo.json").write_bytes(content)
    store = StateStore(tmp_path)
    assert store.load("demo") == {}
    assert len(store.warnings) == 1 and "starting over" in store.warnings[0]


def test_unwritable_state_dir_is_a_warning(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    store = StateStore(blocker / "sub")
    assert store.save("demo", {"a": 1}) is False
    assert "cannot save state" in store.warnings[0]


def test_write_atomic_keeps_old_file_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "f"
    write_atomic(target, "old")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("stackwatch.core.host.os.fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_counter_rates_and_resets() -> None:
    first = counter_rates(None, {"a": 10}, 100.0)
    assert first.first_run and first.rates == {}
    saved = counter_sample({"a": 10, "b": 50}, 100.0)
    later = counter_rates(saved, {"a": 30, "b": 5}, 110.0)
    assert later.rates == {"a": 2.0}
    assert later.resets == ("b",)
    assert counter_rates(saved, {"a": 30}, 90.0).first_run  # clock went back
    assert counter_rates({"time": "x"}, {"a": 1}, 1.0).first_run


def test_host_paths_resolve_under_root(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "x").write_text("42\n")
    host = Host(tmp_path)
    assert host.read_int("/proc/x") == 42
    assert host.read_optional("/proc/absent") is None
    assert host.listdir("/proc") == ["x"]
    assert host.listdir("/nothing") == []
    assert not host.is_live
    assert Host("/").is_live


def test_host_read_tail(tmp_path: Path) -> None:
    (tmp_path / "log").write_bytes(b"one\ntwo\nthree\n")
    host = Host(tmp_path)
    assert host.read_tail("/log", 6) == b"three\n"
    assert host.read_tail("/log", 1000) == b"one\ntwo\nthree\n"
    assert host.read_tail("/log", 0) == b""
    with pytest.raises(HostError, match="cannot read /absent"):
        host.read_tail("/absent", 10)
    with pytest.raises(HostError, match="cannot read /"):
        host.read_tail("/", 10)


def test_host_commands(tmp_path: Path) -> None:
    host = Host(tmp_path, timeout=5)
    assert host.run([sys.executable, "-c", "print('hi')"]).stdout == "hi\n"
    with pytest.raises(CommandNotFound):
        host.run(["no-such-program-stackwatch"])
    with pytest.raises(CommandFailed, match="exited with status 3: bad"):
        host.run([sys.executable, "-c", "import sys; sys.stderr.write('bad'); sys.exit(3)"])
    assert host.run([sys.executable, "-c", "raise SystemExit(4)"], check=False).returncode == 4
    with pytest.raises(CommandTimeout, match=r"within 0\.2 s"):
        host.run([sys.executable, "-c", "import time; time.sleep(5)"], timeout=0.2)


def test_in_netns_on_a_captured_tree(tmp_path: Path) -> None:
    ns = tmp_path / "run" / "netns" / "qrouter-1" / "proc"
    ns.mkdir(parents=True)
    (ns / "v").write_text("7")
    host = Host(tmp_path)
    assert host.netns_names() == ["qrouter-1"]
    assert host.in_netns("qrouter-1", lambda h: h.read_int("/proc/v")) == 7
