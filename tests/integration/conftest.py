"""The installation every set-up test shares: scripts/install.sh run once per session with Debian's
own python into a scratch prefix that the unprivileged nagios user can reach (under /tmp, 0755),
as README's first command does into /opt/stackwatch. It needs PyPI (pip's cache makes reruns
quick)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PROJECT

INSTALLER = PROJECT / "scripts" / "install.sh"
SYSTEM_PYTHON = Path("/usr/bin/python3")


@dataclass(frozen=True)
class Installation:
    """Where the installer put everything, and what it said the first time."""

    root: Path
    first: subprocess.CompletedProcess[str]

    @property
    def prefix(self) -> Path:
        return self.root / "opt" / "stackwatch"

    @property
    def bin_dir(self) -> Path:
        return self.root / "bin"

    @property
    def config_dir(self) -> Path:
        return self.root / "etc" / "stackwatch"

    @property
    def state_dir(self) -> Path:
        return self.root / "var" / "lib" / "stackwatch"

    @property
    def command(self) -> Path:
        """The link the installer made, as /usr/local/bin/stackwatch."""
        return self.bin_dir / "stackwatch"

    @property
    def config(self) -> Path:
        return self.config_dir / "stackwatch.toml"

    def install(self) -> subprocess.CompletedProcess[str]:
        """Run the installer (again) with these directories."""
        return run_installer(
            "--python", str(SYSTEM_PYTHON),
            "--prefix", str(self.prefix),
            "--bin-dir", str(self.bin_dir),
            "--config-dir", str(self.config_dir),
            "--state-dir", str(self.state_dir),
        )  # fmt: skip

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The installed command, as an operator types it."""
        return subprocess.run(
            [str(self.command), *args],
            capture_output=True, text=True, timeout=120, check=False, env=operator_environment(),
        )  # fmt: skip


def operator_environment() -> dict[str, str]:
    """This environment without what points python at the checkout (as in an operator's shell:
    the installed command must run on what was installed, not on the source beside it)."""
    return {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSAFEPATH"}
    }


def run_installer(*args: str, user: str | None = None) -> subprocess.CompletedProcess[str]:
    """scripts/install.sh with these arguments (as another user where one is named)."""
    command = ["bash", str(INSTALLER), *args]
    if user is not None:
        command = ["runuser", "-u", user, "--", *command]
    return subprocess.run(
        command,
        capture_output=True, text=True, timeout=900, check=False, env=operator_environment(),
    )  # fmt: skip


@pytest.fixture(scope="session")
def installed() -> Iterator[Installation]:
    """stackwatch installed from this checkout into a scratch prefix, once per session."""
    if not SYSTEM_PYTHON.exists():
        pytest.skip(f"{SYSTEM_PYTHON} (the distribution's python) is not installed")
    # not pytest's tmp_path: /tmp/pytest-of-root is 0700, and nagios must reach the installation
    root = Path(tempfile.mkdtemp(prefix="stackwatch-install-", dir="/tmp"))
    try:
        os.chmod(root, 0o755)
        installation = Installation(root, subprocess.CompletedProcess([], 0))
        first = installation.install()
        assert first.returncode == 0, f"installer failed:\n{first.stdout}\n{first.stderr}"
        yield Installation(root, first)
    finally:
        shutil.rmtree(root, ignore_errors=True)
