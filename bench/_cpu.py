"""Measuring the CPU time (user + system) of child commands, for the side-by-side benchmarks."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
from collections.abc import Sequence


def child_cpu_seconds(argv: Sequence[str], env: dict[str, str] | None = None) -> float:
    """CPU seconds one run of ``argv`` used (its children included)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def median_cpu_ms(argv: Sequence[str], runs: int, env: dict[str, str] | None = None) -> float:
    child_cpu_seconds(argv, env)  # warm the page cache
    return 1000 * statistics.median(child_cpu_seconds(argv, env) for _ in range(runs))


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def instructions(argv: Sequence[str], env: dict[str, str] | None = None) -> int | None:
    """Instructions one run of ``argv`` executes, counted by valgrind (callgrind): unlike CPU time
    the same on a busy machine as on an idle one. None where valgrind is not installed."""
    import re
    import shutil

    if shutil.which("valgrind") is None:
        return None
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        check=False,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    return int(found.group(1)) if found else None
