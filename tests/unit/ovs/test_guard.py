"""ovs kmod guard on fixture trees (/boot with a Debian grub.cfg, /lib/modules read by the real
modinfo, grubenv changed by the real grub-editenv): the plan printed, --apply changing the boot
entry so that the ovs-kmod check turns OK on the tree, --undo putting the old entry back."""

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
from stackwatch.core.result import Result, Status
from stackwatch.core.state import StateStore
from stackwatch.ovs.guard import GuardFacts, entry_for, parse_grub_cfg, plan_guard, undo_steps
from tests.conftest import run_stackwatch

sys.path.insert(0, str(Path(__file__).parent))
from test_kmod import NEXT, RUNNING, make_tree

pytestmark = pytest.mark.skipif(
    not (shutil.which("modinfo") and shutil.which("depmod") and shutil.which("grub-editenv")),
    reason="needs kmod and grub-editenv (grub-common)",
)

GRUB_CFG = Path(__file__).resolve().parents[2] / "fixtures" / "ovs" / "boot" / "grub.cfg"
UUID = "5b1e6a1c-2f0e-4c55-9a43-0c1f3e0d7a11"
RUNNING_ENTRY = f"gnulinux-advanced-{UUID}>gnulinux-{RUNNING}-advanced-{UUID}"


def boot_tree(root: Path, grub_default: str | None = "saved", **tree: object) -> Path:
    """A fixture tree whose pending kernel NEXT lacks the module, with GRUB's files."""
    make_tree(root, kernels=(RUNNING, NEXT), **tree)  # type: ignore[arg-type]
    (root / "boot/grub").mkdir()
    shutil.copy(GRUB_CFG, root / "boot/grub/grub.cfg")
    subprocess.run(["grub-editenv", str(root / "boot/grub/grubenv"), "create"], check=True)
    if grub_default is not None:
        (root / "etc/default").mkdir(parents=True)
        (root / "etc/default/grub").write_text(f"GRUB_DEFAULT={grub_default}\nGRUB_TIMEOUT=5\n")
    return root


def grubenv(root: Path) -> dict[str, str]:
    listed = subprocess.run(
        ["grub-editenv", str(root / "boot/grub/grubenv"), "list"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(line.split("=", 1) for line in listed.splitlines() if "=" in line)


def kmod_check(root: Path) -> Result:
    config = Config(None, {"checks": {"ovs-kmod": {"datapath": "system"}}})
    return run_check(get_check("ovs-kmod"), Host(root), config, StateStore(str(root / "st")))


def guard(root: Path, state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_stackwatch(
        "ovs", "kmod", "guard", "--root", str(root), "--state-dir", str(state), *args
    )


# grub.cfg ------------------------------------------------------------------------------------


def test_grub_cfg_entries_are_named_as_grub_names_them() -> None:
    entries = parse_grub_cfg(GRUB_CFG.read_text())
    names = [e.name for e in entries]
    assert names[0] == f"gnulinux-simple-{UUID}"
    assert RUNNING_ENTRY in names
    assert names[-1] == "uefi-firmware"
    chosen = entry_for(entries, RUNNING)
    assert chosen is not None and chosen.name == RUNNING_ENTRY  # not its recovery entry
    # the top entry follows the newest kernel; the guard names the one that stays put
    newest = entry_for(entries, NEXT)
    assert newest is not None and newest.name.endswith(f"gnulinux-{NEXT}-advanced-{UUID}")


def test_grub_cfg_without_ids_is_named_by_titles() -> None:
    text = (
        "submenu 'Advanced' {\n menuentry 'Linux 6.1' {\n  linux /vmlinuz-6.1 ro\n }\n}\n"
        "menuentry 'broken { quote' {\n}\n"
    )
    entries = parse_grub_cfg(text)
    assert entries[0].name == "Advanced>Linux 6.1" and entries[0].kernel == "6.1"


@given(st.text())
def test_grub_cfg_parser_takes_any_text(text: str) -> None:
    for entry in parse_grub_cfg(text):
        assert isinstance(entry.name, str)


# the plan, pure ---------------------------------------------------------------------------------


def facts(**changed: object) -> GuardFacts:
    base: dict[str, object] = dict(
        running=RUNNING,
        kernels=(RUNNING, NEXT),
        with_module=(RUNNING,),
        next_kernel=NEXT,
        next_source="newest installed kernel",
        entries=tuple(parse_grub_cfg(GRUB_CFG.read_text())),
        grubenv={},
        grub_default="saved",
        grubenv_path="/boot/grub/grubenv",
    )
    base.update(changed)
    return GuardFacts(**base)  # type: ignore[arg-type]


def test_offered_module_package_is_preferred_to_an_older_kernel() -> None:
    plan = plan_guard(facts(offered_package=f"linux-modules-extra-{NEXT}"))
    assert plan.steps == [
        (
            f"install linux-modules-extra-{NEXT}",
            ["apt-get", "install", "-y", f"linux-modules-extra-{NEXT}"],
        )
    ]
    assert undo_steps({"package": f"linux-modules-extra-{NEXT}"}) == [
        ["apt-get", "remove", "-y", f"linux-modules-extra-{NEXT}"]
    ]


def test_no_kernel_with_the_module_cannot_be_guarded() -> None:
    plan = plan_guard(facts(with_module=()))
    assert not plan.possible and "no installed kernel has it" in plan.summary


def test_kernel_without_a_grub_entry_asks_for_update_grub() -> None:
    plan = plan_guard(facts(entries=()))
    assert not plan.possible and "update-grub" in plan.summary


# the command on fixture trees -------------------------------------------------------------------


def test_plan_is_printed_and_nothing_changes_without_apply(tmp_path: Path) -> None:
    root = boot_tree(tmp_path / "t")
    done = guard(root, tmp_path / "state")
    assert done.returncode == 4, done.stderr
    assert f"kernel {NEXT} boots next" in done.stdout and f"boot {RUNNING} instead" in done.stdout
    editenv = f"$ grub-editenv {root}/boot/grub/grubenv set 'saved_entry={RUNNING_ENTRY}'"
    assert editenv in done.stdout
    assert "--apply" in done.stdout
    assert grubenv(root) == {}
    assert kmod_check(root).status == Status.CRITICAL


def test_apply_makes_the_check_ok_and_undo_restores(tmp_path: Path) -> None:
    root = boot_tree(tmp_path / "t")
    subprocess.run(
        ["grub-editenv", str(root / "boot/grub/grubenv"), "set", "saved_entry=custom"], check=True
    )
    assert kmod_check(root).status == Status.CRITICAL
    done = guard(root, tmp_path / "state", "--apply")
    assert done.returncode == 0, done.stderr
    # the plan first, then what ran
    assert done.stdout.index("$ grub-editenv") < done.stdout.index("ran grub-editenv")
    assert grubenv(root)["saved_entry"] == RUNNING_ENTRY
    after = kmod_check(root)
    assert after.status == Status.OK, after
    assert any(f"next boot: {RUNNING} (boot loader default)" in d for d in after.details)
    again = guard(root, tmp_path / "state")
    assert again.returncode == 0 and "nothing to do" in again.stdout

    undone = guard(root, tmp_path / "state", "--undo")
    assert undone.returncode == 0, undone.stderr
    assert grubenv(root)["saved_entry"] == "custom"
    assert kmod_check(root).status == Status.CRITICAL
    guard(root, tmp_path / "state", "--apply")
    elsewhere = guard(boot_tree(tmp_path / "other"), tmp_path / "state", "--undo")
    assert elsewhere.returncode == 1 and "the saved setting is for" in elsewhere.stderr
    assert guard(root, tmp_path / "state", "--undo").returncode == 0
    twice = guard(root, tmp_path / "state", "--undo")
    assert twice.returncode == 1 and "nothing to undo" in twice.stderr


def test_grub_default_not_saved_changes_the_next_boot_only(tmp_path: Path) -> None:
    root = boot_tree(tmp_path / "t", grub_default="0")
    done = guard(root, tmp_path / "state", "--apply")
    assert done.returncode == 0, done.stderr
    assert "GRUB_DEFAULT=0" in done.stdout and "next boot only" in done.stdout
    assert grubenv(root) == {"next_entry": RUNNING_ENTRY}
    assert kmod_check(root).status == Status.OK
    guard(root, tmp_path / "state", "--undo")
    assert grubenv(root) == {}


def test_once_uses_next_entry(tmp_path: Path) -> None:
    root = boot_tree(tmp_path / "t")
    done = guard(root, tmp_path / "state", "--apply", "--once")
    assert done.returncode == 0, done.stderr
    assert grubenv(root) == {"next_entry": RUNNING_ENTRY}


def test_nothing_to_do_when_the_next_kernel_has_the_module(tmp_path: Path) -> None:
    root = boot_tree(tmp_path / "t", on_disk={RUNNING: "A1", NEXT: "B2"})
    done = guard(root, tmp_path / "state", "--apply")
    assert done.returncode == 0 and "nothing to do" in done.stdout
    assert grubenv(root) == {}


def test_no_kernel_with_module_fails_with_one_line(tmp_path: Path) -> None:
    root = boot_tree(tmp_path / "t", on_disk={})
    done = guard(root, tmp_path / "state", "--apply")
    assert done.returncode == 1
    assert "cannot guard" in done.stdout and "Traceback" not in done.stderr
    assert grubenv(root) == {}


def test_usage_errors(tmp_path: Path) -> None:
    root = boot_tree(tmp_path / "t")
    both = guard(root, tmp_path / "state", "--apply", "--undo")
    assert both.returncode == 2 and "choose one" in both.stderr
    nowhere = guard(tmp_path / "absent", tmp_path / "state")
    assert nowhere.returncode == 2 and "no /boot there" in nowhere.stderr


def test_missing_grub_editenv_is_one_line_and_saves_for_undo(tmp_path: Path) -> None:
    root = boot_tree(tmp_path / "t")
    bin_dir = tmp_path / "bin"  # modinfo, but no grub-editenv
    bin_dir.mkdir()
    (bin_dir / "modinfo").symlink_to(str(shutil.which("modinfo")))
    done = run_stackwatch(
        "ovs",
        "kmod",
        "guard",
        "--root",
        str(root),
        "--state-dir",
        str(tmp_path / "s"),
        "--apply",
        env={"PATH": str(bin_dir)},
    )
    assert done.returncode == 1
    assert done.stderr.startswith("stackwatch: grub-editenv ") and done.stderr.count("\n") == 1
    assert grubenv(root) == {}
