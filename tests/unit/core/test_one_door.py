"""Every file and process goes through the Host (core/host.py): a call that reaches the machine
on its own anywhere else in src/ fails here, unless it is one of the few listed below with the
reason it cannot go through the Host."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).parents[3] / "src" / "stackwatch"

# module -> its functions that touch files or start processes (None: every one of them)
DOORS: dict[str, set[str] | None] = {
    "os": {
        "open",
        "mkdir",
        "makedirs",
        "remove",
        "unlink",
        "rename",
        "replace",
        "symlink",
        "chmod",
        "chown",
        "listdir",
        "scandir",
        "stat",
        "lstat",
        "rmdir",
        "walk",
        "statvfs",
        "truncate",
        "link",
        "mkfifo",
        "system",
        "popen",
        "execv",
        "execvp",
        "spawnv",
    },
    "shutil": {"rmtree", "copy", "copy2", "copyfile", "copytree", "move", "chown"},
    "tempfile": None,
    "subprocess": None,
    "glob": None,
    "multiprocessing": None,
}

# (file under src/stackwatch, call): why it is not the Host's
ALLOWED = {
    ("backup/catalog.py", "os.chmod"): "the sqlite catalog opens its own file; made private",
    ("core/capability.py", "os.listdir"): "capability discovery lists its own package directory",
    ("core/state.py", "os.lstat"): "chooses the state directory before any Host exists",
}


def outside_calls(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        fn = node.func
        if isinstance(fn, ast.Name) and fn.id == "open":
            found.append("open")
        elif isinstance(fn, ast.Attribute) and isinstance(fn.value, ast.Name):
            names = DOORS.get(fn.value.id, set())
            if names is None or fn.attr in names:
                found.append(f"{fn.value.id}.{fn.attr}")
    return found


def test_files_and_processes_go_through_the_host() -> None:
    seen = set()
    for path in sorted(SRC.rglob("*.py")):
        where = path.relative_to(SRC).as_posix()
        if where == "core/host.py":
            continue
        seen |= {(where, call) for call in outside_calls(path)}
    assert sorted(seen - set(ALLOWED)) == []
    assert sorted(set(ALLOWED) - seen) == []  # an exception no longer needed is removed


def test_the_guard_sees_a_call_outside_the_host(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os, subprocess\nopen('x')\nos.unlink('y')\nsubprocess.run(['z'])\nos.getpid()\n"
    )
    assert outside_calls(sample) == ["open", "os.unlink", "subprocess.run"]
