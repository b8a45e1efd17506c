"""Shared test helpers: the real captures beside the project, free loopback ports, the CLI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# The suite runs on busy 2-core machines (CI, a developer's laptop while other work runs): how fast
# hypothesis draws examples there says nothing about the code, so its timing checks stay off.
settings.register_profile("stackwatch", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("stackwatch")

PROJECT = Path(__file__).resolve().parent.parent
REALDATA = PROJECT.parent / "shared" / "realdata"


@pytest.fixture
def realdata() -> Path:
    """../shared/realdata, or a clean skip where this checkout has no shared/ beside it."""
    if not REALDATA.is_dir():
        pytest.skip(f"real captures not available at {REALDATA}")
    return REALDATA


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_stackwatch(
    *args: str, timeout: float = 120, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a child process, as a user or Nagios would."""
    env = dict(os.environ)
    env.pop("COLUMNS", None)
    env.update(kwargs.pop("env", {}) or {})  # type: ignore[arg-type]
    return subprocess.run(
        [sys.executable, "-m", "stackwatch.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
        **kwargs,  # type: ignore[arg-type]
    )


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update",
        action="store_true",
        default=False,
        help="rewrite the golden outputs (tests/golden/expected) instead of comparing with them",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/integration starts real services: marked so, wherever it is."""
    for item in items:
        if "integration" in Path(str(item.fspath)).relative_to(PROJECT).parts[:2]:
            item.add_marker(pytest.mark.integration)
