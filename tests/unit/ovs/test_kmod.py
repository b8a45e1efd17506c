"""ovs-kmod on fixture trees of /sys/module, /lib/modules and /boot, read by the real modinfo,
with the bridges' datapaths from a fake OVSDB server (the automatic datapath asks OVSDB)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stackwatch.core.config import Config
from stackwatch.core.engine import run_check
from stackwatch.core.host import Host
from stackwatch.core.registry import get_check
from stackwatch.core.result import Status
from stackwatch.core.state import StateStore
from stackwatch.ovs.kmod import (
    KmodOptions,
    match_entry,
    parse_datapaths,
    parse_grub_default,
    parse_modinfo,
    version_key,
)
from stackwatch.ovs.ovsdb import OvsdbError

sys.path.insert(0, str(Path(__file__).parent))
from fakeovsdb import FakeOvsdb
from kofile import install_module

pytestmark = pytest.mark.skipif(
    not (shutil.which("modinfo") and shutil.which("depmod")), reason="needs kmod"
)

RUNNING = "6.1.0-18-amd64"
NEXT = "6.1.0-21-amd64"
SRC = "4F1C0E9A6B2D3C8E7A5B901"


def make_tree(
    root: Path,
    *,
    loaded: str | None = SRC,
    on_disk: dict[str, str] | None = None,
    kernels: tuple[str, ...] = (RUNNING,),
    vswitchd: bool = True,
) -> Path:
    (root / "proc/sys/kernel").mkdir(parents=True)
    (root / "proc/sys/kernel/osrelease").write_text(RUNNING + "\n")
    if loaded is not None:
        (root / "sys/module/openvswitch").mkdir(parents=True)
        (root / "sys/module/openvswitch/srcversion").write_text(loaded + "\n")
    (root / "boot").mkdir()
    for kernel in kernels:
        (root / "boot" / f"vmlinuz-{kernel}").write_bytes(b"kernel")
        (root / "lib/modules" / kernel).mkdir(parents=True, exist_ok=True)
    for kernel, srcversion in (on_disk if on_disk is not None else {RUNNING: SRC}).items():
        install_module(root, kernel, srcversion)
    for kernel in kernels:
        subprocess.run(["depmod", "-b", str(root), kernel], check=True, capture_output=True)
    if vswitchd:
        (root / "usr/sbin").mkdir(parents=True)
        (root / "usr/sbin/ovs-vswitchd").write_bytes(b"")
    return root


def bridges(*datapaths: tuple[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Bridge rows of (name, datapath_type), as OVSDB sends them."""
    rows = [
        {"_uuid": ["uuid", f"00000000-0000-0000-0000-{i:012d}"], "name": n, "datapath_type": d}
        for i, (n, d) in enumerate(datapaths)
    ]
    return {"Bridge": rows}


@pytest.fixture(scope="module")
def kernel_bridge() -> Iterator[FakeOvsdb]:
    """OVSDB with one bridge on the kernel datapath: the module is needed."""
    with FakeOvsdb(bridges(("br-int", ""))) as server:
        yield server


@pytest.fixture(scope="module")
def netdev_bridges() -> Iterator[FakeOvsdb]:
    with FakeOvsdb(bridges(("br-int", "netdev"), ("br-ex", "netdev"))) as server:
        yield server


def run(
    root: Path,
    options: dict[str, object] | None = None,
    tmp: Path | None = None,
    db: str = "unix:/nonexistent/db.sock",
):  # type: ignore[no-untyped-def]
    config = Config(None, {"checks": {"ovs-kmod": options or {}}, "ovs": {"db": db}})
    store = StateStore(str((tmp or root) / "state"))
    return run_check(get_check("ovs-kmod"), Host(root), config, store)


def test_matching_module_is_ok(tmp_path: Path, kernel_bridge: FakeOvsdb) -> None:
    result = run(make_tree(tmp_path / "t"), db=kernel_bridge.db)
    assert result.status == Status.OK, result
    assert "matches the module on disk" in result.summary


def test_mismatching_srcversion_is_warning(tmp_path: Path, kernel_bridge: FakeOvsdb) -> None:
    root = make_tree(tmp_path / "t", on_disk={RUNNING: "0000000000000000000000A"})
    result = run(root, db=kernel_bridge.db)
    assert result.status == Status.WARNING
    assert SRC in result.summary and "0000000000000000000000A" in result.summary
    assert result.hint and "restart" in result.hint


def test_pending_kernel_without_module_is_critical(
    tmp_path: Path, kernel_bridge: FakeOvsdb
) -> None:
    root = make_tree(tmp_path / "t", kernels=(RUNNING, NEXT))
    result = run(root, db=kernel_bridge.db)
    assert result.status == Status.CRITICAL
    assert f"next kernel {NEXT} has no openvswitch module" in result.summary
    assert result.hint is not None
    assert "lose its network at the next reboot" in result.hint
    assert "grub-set-default" in result.hint and f"linux-image-{NEXT}" in result.hint
    assert any("newest installed kernel" in d for d in result.details)


def test_pending_kernel_with_module_is_ok(tmp_path: Path, kernel_bridge: FakeOvsdb) -> None:
    root = make_tree(tmp_path / "t", kernels=(RUNNING, NEXT), on_disk={RUNNING: SRC, NEXT: "X1"})
    result = run(root, db=kernel_bridge.db)
    assert result.status == Status.OK, result
    assert f"next kernel {NEXT} has one" in result.summary


def test_boot_loader_default_wins_over_newest(tmp_path: Path, kernel_bridge: FakeOvsdb) -> None:
    # the newest kernel lacks the module, but GRUB is pinned to the running one
    root = make_tree(tmp_path / "t", kernels=(RUNNING, NEXT))
    (root / "boot/grub").mkdir()
    (root / "boot/grub/grubenv").write_text(
        "# GRUB Environment Block\nsaved_entry=gnulinux-advanced-1234>gnulinux-"
        f"{RUNNING}-advanced-1234\n" + "#" * 900
    )
    (root / "etc/default").mkdir(parents=True)
    (root / "etc/default/grub").write_text("GRUB_DEFAULT=saved\nGRUB_TIMEOUT=5\n")
    result = run(root, db=kernel_bridge.db)
    assert result.status == Status.OK, result
    assert any("boot loader default" in d for d in result.details)


def test_userspace_datapath_without_module_is_ok(tmp_path: Path, netdev_bridges: FakeOvsdb) -> None:
    root = make_tree(tmp_path / "t", loaded=None, on_disk={}, kernels=(RUNNING, NEXT))
    result = run(root, db=netdev_bridges.db)
    assert result.status == Status.OK
    assert "userspace datapath" in result.summary
    strict = run(root, {"datapath": "system"}, tmp_path)
    assert strict.status == Status.CRITICAL


def test_loaded_module_missing_on_disk_is_warning(tmp_path: Path, kernel_bridge: FakeOvsdb) -> None:
    result = run(make_tree(tmp_path / "t", on_disk={}), db=kernel_bridge.db)
    assert result.status == Status.WARNING
    assert "no module file on disk" in result.summary


def test_no_open_vswitch_at_all_is_skipped(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "t", loaded=None, on_disk={}, vswitchd=False)
    result = run(root)
    assert result.skipped


def test_parsers() -> None:
    info = parse_modinfo("filename:  /lib/x.ko\nsrcversion:   ABC\nvermagic: 6.1 SMP\n")
    assert info is not None and info.srcversion == "ABC" and info.filename == "/lib/x.ko"
    assert parse_modinfo("") is None
    assert sorted(["6.10.0", "6.9.0", "6.1.0-21", "6.1.0-3"], key=version_key) == [
        "6.1.0-3",
        "6.1.0-21",
        "6.9.0",
        "6.10.0",
    ]
    assert parse_grub_default("saved_entry=x\n", "GRUB_DEFAULT=0\n") is None
    assert parse_grub_default(None, 'GRUB_DEFAULT="Debian, with Linux 6.1.0-3"') == (
        "Debian, with Linux 6.1.0-3"
    )
    assert match_entry("Linux 6.1.0-21-amd64", ["6.1.0-2", "6.1.0-21-amd64"]) == "6.1.0-21-amd64"
    assert KmodOptions().datapath == "auto"


@given(st.text(max_size=400))
def test_parse_modinfo_never_crashes(text: str) -> None:
    info = parse_modinfo(text)
    assert info is None or info.filename


@given(st.text(max_size=200), st.text(max_size=200))
def test_parse_grub_never_crashes(env: str, default: str) -> None:
    parse_grub_default(env, default)


# The automatic datapath: decided by the bridges' datapath_type in OVSDB --------------------------


def test_kernel_bridges_without_any_module_are_critical(
    tmp_path: Path, kernel_bridge: FakeOvsdb
) -> None:
    # the case the automatic datapath used to call OK ("userspace datapath needs none")
    root = make_tree(tmp_path / "t", loaded=None, on_disk={})
    result = run(root, db=kernel_bridge.db)
    assert result.status == Status.CRITICAL
    assert result.summary == (
        "openvswitch module not loaded (and none on disk) but bridges br-int use the kernel "
        "datapath"
    )
    assert "bridges on the kernel datapath: br-int" in result.details
    assert result.hint is not None and f"linux-modules-extra-{RUNNING}" in result.hint


def test_kernel_bridges_with_the_module_on_disk_only_are_critical(
    tmp_path: Path, kernel_bridge: FakeOvsdb
) -> None:
    result = run(make_tree(tmp_path / "t", loaded=None), db=kernel_bridge.db)
    assert result.status == Status.CRITICAL
    assert "not loaded but bridges br-int use the kernel datapath" in result.summary
    assert result.hint == "modprobe openvswitch; check dmesg for why it did not load"


def test_netdev_bridges_make_the_module_irrelevant(
    tmp_path: Path, netdev_bridges: FakeOvsdb
) -> None:
    # loaded, differing from the disk and missing for the next kernel: none of it matters
    root = make_tree(
        tmp_path / "t", on_disk={RUNNING: "0000000000000000000000A"}, kernels=(RUNNING, NEXT)
    )
    result = run(root, db=netdev_bridges.db)
    assert result.status == Status.OK
    assert result.summary == (
        "2 bridges, all on the userspace datapath: the openvswitch module does not matter"
    )
    assert "bridges on the userspace datapath: br-ex, br-int" in result.details


def test_no_bridges_need_no_module(tmp_path: Path) -> None:
    with FakeOvsdb({"Bridge": []}) as server:
        result = run(make_tree(tmp_path / "t", loaded=None, on_disk={}), db=server.db)
    assert result.status == Status.OK
    assert result.summary == "no bridges: the openvswitch module is not in use"


def test_ovsdb_unreachable_is_unknown_not_a_guess(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "t", kernels=(RUNNING, NEXT))
    result = run(root, db=f"unix:{tmp_path}/absent.sock")
    assert result.status == Status.UNKNOWN
    assert result.summary.startswith("cannot tell whether the bridges use the kernel datapath: ")
    assert "absent.sock does not exist" in result.summary
    # what would be wrong with the kernel datapath is still said
    assert (
        f"were the kernel datapath in use: CRITICAL next kernel {NEXT} has no openvswitch "
        "module; loaded openvswitch matches the module on disk" in result.details
    )
    assert result.hint is not None and 'datapath = "system" or "netdev"' in result.hint
    # naming the datapath decides without OVSDB
    assert run(root, {"datapath": "system"}, tmp_path).status == Status.CRITICAL


@pytest.fixture(scope="module")
def bare_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """No module loaded, none on disk, ovs-vswitchd installed."""
    return make_tree(tmp_path_factory.mktemp("bare") / "t", loaded=None, on_disk={})


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOvsdb]:
    with FakeOvsdb() as fake:
        yield fake


DATAPATH_TYPES = st.sampled_from(["", "system", "netdev", "dpdk", "dummy", "System", " system"])


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.tuples(st.text(max_size=20), DATAPATH_TYPES), max_size=8))
def test_any_kernel_bridge_without_module_is_critical(
    bare_tree: Path, server: FakeOvsdb, datapaths: list[tuple[str, str]]
) -> None:
    server.tables = bridges(*datapaths)
    result = run(bare_tree, db=server.db, tmp=bare_tree.parent)
    kernel = sorted(n for n, d in datapaths if d in ("", "system"))
    if kernel:
        assert result.status == Status.CRITICAL, result
        assert f"bridges {', '.join(kernel[:5])}" in result.summary
    else:
        assert result.status == Status.OK, result


OVSDB_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["_uuid", "name", "datapath_type"]), OVSDB_VALUES, max_size=3
        ),
        max_size=4,
    )
    | OVSDB_VALUES
)
def test_lying_bridge_rows_are_unknown_with_the_reason(
    bare_tree: Path, server: FakeOvsdb, rows: Any
) -> None:
    server.tables = {"Bridge": [{"name": "br0", "datapath_type": ""}]}
    server.results = [{"rows": rows}]
    result = run(bare_tree, db=server.db, tmp=bare_tree.parent)
    server.results = None
    assert "internal error" not in result.summary
    assert result.status in (Status.UNKNOWN, Status.CRITICAL, Status.OK)
    if result.status == Status.UNKNOWN:
        assert "cannot tell whether the bridges use the kernel datapath: " in result.summary
        assert "malformed OVSDB reply" in result.summary


def test_parse_datapaths() -> None:
    use = parse_datapaths([{"name": "b", "datapath_type": "netdev"}, {"name": "a"}])
    assert (use.kernel, use.userspace) == (("a",), ("b",))  # no column: a server from before netdev
    with pytest.raises(
        OvsdbError, match=r"Bridge row 1: name: expected a string, got \['set', \[\]\]"
    ):
        parse_datapaths([{"name": ["set", []], "datapath_type": ""}])
