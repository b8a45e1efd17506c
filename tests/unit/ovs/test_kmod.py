"""ovs-kmod on fixture trees of /sys/module, /lib/modules and /boot, read by the real modinfo."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
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
    parse_grub_default,
    parse_modinfo,
    version_key,
)

sys.path.insert(0, str(Path(__file__).parent))
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


def run(root: Path, options: dict[str, object] | None = None, tmp: Path | None = None):  # type: ignore[no-untyped-def]
    config = Config(None, {"checks": {"ovs-kmod": options or {}}})
    store = StateStore(str((tmp or root) / "state"))
    return run_check(get_check("ovs-kmod"), Host(root), config, store)


def test_matching_module_is_ok(tmp_path: Path) -> None:
    result = run(make_tree(tmp_path / "t"))
    assert result.status == Status.OK, result
    assert "matches the module on disk" in result.summary


def test_mismatching_srcversion_is_warning(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "t", on_disk={RUNNING: "0000000000000000000000A"})
    result = run(root)
    assert result.status == Status.WARNING
    assert SRC in result.summary and "0000000000000000000000A" in result.summary
    assert result.hint and "restart" in result.hint


def test_pending_kernel_without_module_is_critical(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "t", kernels=(RUNNING, NEXT))
    result = run(root)
    assert result.status == Status.CRITICAL
    assert f"next kernel {NEXT} has no openvswitch module" in result.summary
    assert result.hint is not None
    assert "lose its network at the next reboot" in result.hint
    assert "grub-set-default" in result.hint and f"linux-image-{NEXT}" in result.hint
    assert any("newest installed kernel" in d for d in result.details)


def test_pending_kernel_with_module_is_ok(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "t", kernels=(RUNNING, NEXT), on_disk={RUNNING: SRC, NEXT: "X1"})
    result = run(root)
    assert result.status == Status.OK, result
    assert f"next kernel {NEXT} has one" in result.summary


def test_boot_loader_default_wins_over_newest(tmp_path: Path) -> None:
    # the newest kernel lacks the module, but GRUB is pinned to the running one
    root = make_tree(tmp_path / "t", kernels=(RUNNING, NEXT))
    (root / "boot/grub").mkdir()
    (root / "boot/grub/grubenv").write_text(
        "# GRUB Environment Block\nsaved_entry=gnulinux-advanced-1234>gnulinux-"
        f"{RUNNING}-advanced-1234\n" + "#" * 900
    )
    (root / "etc/default").mkdir(parents=True)
    (root / "etc/default/grub").write_text("GRUB_DEFAULT=saved\nGRUB_TIMEOUT=5\n")
    result = run(root)
    assert result.status == Status.OK, result
    assert any("boot loader default" in d for d in result.details)


def test_userspace_datapath_without_module_is_ok(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "t", loaded=None, on_disk={}, kernels=(RUNNING, NEXT))
    result = run(root)
    assert result.status == Status.OK
    assert "userspace datapath" in result.summary
    strict = run(root, {"datapath": "system"}, tmp_path)
    assert strict.status == Status.CRITICAL


def test_loaded_module_missing_on_disk_is_warning(tmp_path: Path) -> None:
    result = run(make_tree(tmp_path / "t", on_disk={}))
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
