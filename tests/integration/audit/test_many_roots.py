"""audit over a thousand container roots, a tenth of them hostile (links out of the root, FIFOs,
device nodes, directories in the file's place, unreadable files): every root gets its line, none
stops the others, no host file is read, and the command finishes in seconds."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from tests.conftest import run_stackwatch

pytestmark = pytest.mark.integration

ROOTS = 1000
CONF = "etc/csf/csf.conf"


def _hostile(conf: Path, kind: int, secret: Path) -> str:
    """Make the container's csf.conf hostile; the problem `audit get` must report."""
    if kind == 0:
        conf.symlink_to(secret)  # absolute: resolved inside the container, where it is absent
        return "file missing"
    if kind == 1:
        conf.symlink_to("../../../../../" + secret.name)  # climbs: stops at the container root
        return "file missing"
    if kind == 2:
        os.mkfifo(conf)
        return "not a regular file"
    if kind == 3:
        conf.mkdir()
        return "not a regular file"
    conf.write_text('LF_INTEGRITY = "0"\n' + "#" * 2_000_000)  # beyond max_bytes
    return "larger than"


def test_thousand_roots_one_line_each(tmp_path: Path) -> None:
    secret = tmp_path / "host-secret.conf"
    secret.write_text('LF_INTEGRITY = "host"\n')
    base = tmp_path / "private"
    expected: dict[str, str] = {}
    for number in range(ROOTS):
        conf = base / str(100 + number) / CONF
        conf.parent.mkdir(parents=True)
        if number % 10 == 9:
            expected[conf.parents[2].name] = _hostile(conf, (number // 10) % 5, secret)
        else:
            conf.write_text(f'LF_INTEGRITY = "{number % 3}"\n')
    start = time.monotonic()
    done = run_stackwatch(
        "audit", "get", "LF_INTEGRITY", "--roots", f"{base}/*", "--file", CONF, "--format", "json"
    )
    elapsed = time.monotonic() - start
    assert done.returncode == 0, done.stderr
    rows = {Path(r["container"]).name: r for r in json.loads(done.stdout)}
    assert len(rows) == ROOTS
    assert all(r["values"]["LF_INTEGRITY"] != "host" for r in rows.values())
    for name, problem in expected.items():
        assert problem in (rows[name]["problem"] or ""), (name, rows[name])
    good = [r for n, r in rows.items() if n not in expected]
    assert all(r["problem"] is None for r in good)
    assert elapsed < 20, f"{ROOTS} roots took {elapsed:.1f} s"
