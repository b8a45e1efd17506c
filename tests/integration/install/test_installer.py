"""README's first command: scripts/install.sh makes a virtual environment with Debian's python,
links the command, writes an example configuration, and upgrades in place when run again."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import PROJECT
from tests.integration.conftest import INSTALLER, SYSTEM_PYTHON, Installation, run_installer

pytestmark = pytest.mark.integration

STATUS_LINE = re.compile(r"^STACKWATCH (OK|WARNING|CRITICAL|UNKNOWN) - \d+ checks?: ")
EXIT_CODES = {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}


def _status(result: subprocess.CompletedProcess[str]) -> str:
    """The status word of a Nagios answer, after checking that it agrees with the exit code."""
    assert "Traceback" not in result.stderr, result.stderr
    first = result.stdout.splitlines()[0] if result.stdout else ""
    match = STATUS_LINE.match(first)
    assert match, f"no STACKWATCH status line in {result.stdout!r} ({result.stderr!r})"
    assert result.returncode == EXIT_CODES[match.group(1)], result.stdout
    return match.group(1)


def test_the_installed_command_answers_every_check_as_a_nagios_plugin(
    installed: Installation,
) -> None:
    listed = installed.run("checks")
    assert listed.returncode == 0, listed.stderr
    names = [line.split()[0] for line in listed.stdout.splitlines() if line.strip()]
    assert {"conntrack", "links", "tcp-retransmits"} <= set(names)

    every = installed.run(
        "check", "--format", "nagios",
        "--config", str(installed.config), "--state-dir", str(installed.state_dir),
    )  # fmt: skip
    _status(every)
    assert f"{len(names)} checks" in every.stdout.splitlines()[0]
    for name in names:
        assert re.search(rf"^{re.escape(name.upper())} [A-Z]+ - ", every.stdout, re.M), name

    # the checks every Linux host answers: no UNKNOWN from the installation itself
    host = installed.run(
        "check", "conntrack", "links", "tcp-retransmits", "--format", "nagios",
        "--config", str(installed.config), "--state-dir", str(installed.state_dir),
    )  # fmt: skip
    assert _status(host) in {"OK", "WARNING", "CRITICAL"}, host.stdout


def test_the_environment_is_made_with_the_distributions_python_and_readable_by_all(
    installed: Installation,
) -> None:
    assert "making the virtual environment" in installed.first.stdout
    python = installed.prefix / "bin" / "python"
    assert python.resolve() == SYSTEM_PYTHON.resolve()
    assert installed.command.is_symlink()
    assert installed.command.resolve() == (installed.prefix / "bin" / "stackwatch").resolve()
    # plots come with it (weblog draws them with matplotlib)
    plots = subprocess.run(
        [str(python), "-c", "import matplotlib"], capture_output=True, text=True, check=False
    )
    assert plots.returncode == 0, plots.stderr
    for path in [installed.prefix, *installed.prefix.rglob("*")]:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            continue
        need = 0o005 if stat.S_ISDIR(mode) else 0o004
        assert mode & need == need, f"{path} is not readable by other users: {oct(mode)}"
    assert installed.state_dir.is_dir()


def test_the_example_configuration_is_written_once_and_loads(installed: Installation) -> None:
    assert "wrote an example configuration" in installed.first.stdout
    assert stat.S_IMODE(installed.config.stat().st_mode) == 0o644
    example = installed.run("config", "example")
    assert example.returncode == 0, example.stderr
    assert installed.config.read_text().startswith(example.stdout)  # (a later test appends)


def test_running_it_again_replaces_the_package_and_keeps_the_configuration(
    installed: Installation,
) -> None:
    edited = installed.config.read_text() + "\n# edited by the operator\n"
    installed.config.write_text(edited)
    package = _installed_package(installed)
    (package / "__init__.py").write_text('raise SystemExit("a broken earlier version")\n')
    assert installed.run("checks").returncode != 0

    again = installed.install()

    assert again.returncode == 0, f"{again.stdout}\n{again.stderr}"
    assert "upgrading the installation" in again.stdout
    assert "keeping the configuration" in again.stdout
    assert installed.config.read_text() == edited
    assert (package / "__init__.py").read_text() == (
        PROJECT / "src" / "stackwatch" / "__init__.py"
    ).read_text()
    assert installed.run("checks").returncode == 0


def _installed_package(installed: Installation) -> Path:
    found = list(installed.prefix.glob("lib/python3*/site-packages/stackwatch/__init__.py"))
    assert len(found) == 1, found
    return found[0].parent


def test_without_root_it_refuses_to_install_system_wide() -> None:
    if os.geteuid() != 0:
        result = run_installer()
    else:
        # a copy that nobody can read (the checkout may sit in root's home; pytest's tmp_path
        # is private to root)
        with tempfile.TemporaryDirectory(dir="/tmp") as scratch:
            scripts = Path(scratch) / "scripts"
            scripts.mkdir()
            shutil.copy(INSTALLER, scripts / "install.sh")
            for path in (Path(scratch), scripts, scripts / "install.sh"):
                path.chmod(0o755)
            result = subprocess.run(
                ["runuser", "-u", "nobody", "--", "bash", str(scripts / "install.sh")],
                capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
    assert result.returncode == 1
    assert "run as root" in result.stderr
    assert "/opt/stackwatch" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_missing_value_is_a_usage_error() -> None:
    result = run_installer("--prefix")
    assert result.returncode == 2
    assert result.stderr.strip() == "install: --prefix needs a value (see --help)"
