"""storage baseline with the real fio on a small, bounded file set in a temporary directory;
the check compares two stored runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tests.conftest import run_stackwatch

pytestmark = pytest.mark.integration


@pytest.fixture
def fio() -> None:
    if shutil.which("fio") is None:
        pytest.skip("needs fio (scripts/install-test-deps.sh)")


def test_baseline_runs_fio_and_leaves_no_files(fio: None, tmp_path: Path) -> None:
    target, results = tmp_path / "target", tmp_path / "runs"
    target.mkdir()
    done = run_stackwatch(
        "storage",
        "baseline",
        str(target),
        "--name",
        "tmp-a",
        "--jobs",
        "2",
        "--size",
        "2M",
        "--runtime",
        "2",
        "--results-dir",
        str(results),
    )
    assert done.returncode == 0, done.stderr
    assert [line for line in done.stdout.splitlines() if not line.startswith(" ")] == [
        "MiB/s per test; ratio to tmp-a",
        "seq-write",
        "seq-read",
        "rand-read",
        "rand-write",
        f"stored tmp-a in {results}/tmp-a.json",
    ]
    stored = json.loads((results / "tmp-a.json").read_text())
    assert stored["source"] == "fio" and stored["jobs"] == 2
    assert set(stored["throughput"]) == {"seq-write", "seq-read", "rand-read", "rand-write"}
    assert all(v > 0 for v in stored["throughput"].values())
    assert list(target.iterdir()) == []  # fio's files and the scratch directory are gone


def test_check_compares_today_with_the_baseline(fio: None, tmp_path: Path) -> None:
    results = tmp_path / "runs"
    results.mkdir()
    base = {
        "name": "base",
        "source": "fio",
        "target": "/srv",
        "jobs": 2,
        "when": 0.0,
        "iops": {},
        "throughput": {"seq-write": 1e12},
    }
    (results / "base.json").write_text(json.dumps(base))
    target = tmp_path / "t"
    target.mkdir()
    run_stackwatch(
        "storage",
        "baseline",
        str(target),
        "--name",
        "today",
        "--jobs",
        "1",
        "--size",
        "1M",
        "--runtime",
        "1",
        "--results-dir",
        str(results),
    )
    config = tmp_path / "stackwatch.toml"
    config.write_text(
        f'[storage]\nresults_dir = "{results}"\nbaseline = "base"\ncurrent = "today"\n'
    )
    done = run_stackwatch(
        "check", "storage-baseline", "--config", str(config), "--format", "nagios"
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout.startswith("STORAGE-BASELINE CRITICAL - seq-write at 0% of base")
