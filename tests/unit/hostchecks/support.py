"""Helpers of the host-check tests: fixture trees in a temporary root, one check run at a time."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from stackwatch.core import record
from stackwatch.core.config import Config
from stackwatch.core.engine import run_check
from stackwatch.core.host import Host
from stackwatch.core.registry import CheckContext, CheckState, NotApplicable, get_check
from stackwatch.core.result import Result
from stackwatch.core.state import StateStore

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "hostchecks"


def copy_tree(source: Path, target: Path) -> Path:
    """Copy a captured tree, keeping symlinks. The node_exporter capture stores some of /sys's
    symlinks as small files holding the link target (class/net/eth0, class/hwmon/hwmonN); those
    are turned back into the symlinks a real /sys has."""
    shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
    for directory, _, files in os.walk(target):
        if "/class/" not in directory + "/":
            continue
        for name in files:
            path = Path(directory, name)
            if path.is_symlink() or path.stat().st_size > 300:
                continue
            text = path.read_text(errors="replace").strip()
            if text.startswith("../") and "\n" not in text:
                path.unlink()
                path.symlink_to(text.rstrip("/"))
    return target


def write(root: Path, path: str, text: str | bytes) -> None:
    file = root / path.lstrip("/")
    file.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        file.write_bytes(text)
    else:
        file.write_text(text)


def collect(name: str, root: Path | str, state_dir: Path, now: float = 1_000_000.0) -> Any:
    """The facts one check collects, with its default options."""
    check = get_check(name)
    cfg = Config(None, {})
    options = cfg.check_options(name, check.options)
    context = CheckContext(
        Host(root), options, CheckState(StateStore(state_dir), name), cfg, now=now
    )
    return check.collect(context)


def run(
    name: str,
    root: Path | str,
    state_dir: Path,
    now: float = 1_000_000.0,
    config: dict[str, Any] | None = None,
    path_env: str | None = None,
    **option_changes: Any,
) -> Result:
    """Collect and judge one check at time ``now``, as ``stackwatch check NAME`` does."""
    check = get_check(name)
    cfg = Config(None, {"checks": {name: config}} if config else {})
    options = cfg.check_options(name, check.options)
    if option_changes:
        options = record.replace(options, **option_changes)
    host = Host(root, path_env=path_env)
    context = CheckContext(host, options, CheckState(StateStore(state_dir), name), cfg, now=now)
    try:
        facts = check.collect(context)
    except NotApplicable as exc:
        return Result.skip(name, str(exc))
    return check.judge(facts, options)


def run_engine(
    name: str,
    root: Path | str,
    state_dir: Path,
    config: dict[str, Any] | None = None,
    path_env: str | None = None,
) -> Result:
    """One check through the engine, as ``stackwatch check NAME`` runs it: a failure inside the
    check becomes UNKNOWN with its reason, non-finite figures are refused."""
    cfg = Config(None, {"checks": {name: config}} if config else {})
    return run_check(get_check(name), Host(root, path_env=path_env), cfg, StateStore(state_dir))
