"""Typer-free quick commands (CAPABILITY.quick_commands): the plain command lines they read
themselves, everything else left to Typer, and the same output either way."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackwatch import cli
from stackwatch.cli_support import plain_command_line
from stackwatch.nagios import alertscmd

OPTIONS = {"--format": "output", "--limit": "limit"}


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["a.log", "--format", "json"], (["a.log"], {"output": "json"})),
        (["--format=json", "a", "b"], (["a", "b"], {"output": "json"})),
        (["--", "-x.log"], (["-x.log"], {})),
        (["-"], (["-"], {})),
        (["--help"], None),
        (["a", "--format"], None),  # no value
        (["a", "--format", "x", "--format", "y"], None),  # twice
        (["--follow", "a"], None),  # unknown: a flag
        (["--format", "json"], None),  # no path
        ([], None),
    ],
)
def test_plain_command_lines(argv: list[str], expected: object) -> None:
    assert plain_command_line(argv, OPTIONS) == expected


LOG = "\n".join(
    [
        "[1700000000] SERVICE ALERT: h1;Load;CRITICAL;HARD;1;x",
        "[1700000300] SERVICE ALERT: h1;Load;OK;HARD;1;x",
        "[1700000400] HOST ALERT: h2;DOWN;SOFT;1;x",
        "",
    ]
)


@pytest.mark.parametrize(
    "options", [["--format", "json"], ["--format=text", "--limit", "1"], ["--jobs", "1"]]
)
def test_nagios_alerts_quick_and_through_typer_print_the_same(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    options: list[str],
) -> None:
    log = tmp_path / "nagios.log"
    log.write_text(LOG)
    args = ["nagios", "alerts", str(log), *options]
    ran: list[object] = []
    quick = alertscmd.quick
    monkeypatch.setattr(alertscmd, "quick", lambda argv: ran.append(quick(argv)) or ran[-1])
    assert cli.main(args) == 0
    quickly = capsys.readouterr().out
    assert ran == [0]  # the quick command ran it
    monkeypatch.setattr(alertscmd, "quick", lambda argv: None)
    with pytest.raises(SystemExit) as done:
        cli.main(args)
    assert done.value.code in (0, None)
    assert capsys.readouterr().out == quickly
    assert "h1" in quickly


def test_a_limit_that_is_not_a_number_is_left_to_typer(tmp_path: Path) -> None:
    assert alertscmd.quick([str(tmp_path), "--limit", "x"]) is None
    assert alertscmd.quick([str(tmp_path), "--jobs", "²"]) is None
    assert alertscmd.quick([str(tmp_path), "--limit", "9" * 5000]) is None  # past int()'s limit
