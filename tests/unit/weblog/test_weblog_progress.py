"""Progress on the terminal: lines, lines per second and the share of the bytes, only on a
terminal and only once a read has taken a second; erased at the end."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest

from stackwatch.weblog import progress
from stackwatch.weblog.detect import detect_files
from stackwatch.weblog.formats import get_format
from stackwatch.weblog.progress import Progress, on_terminal
from stackwatch.weblog.top import count_by

from .logdata import line

T0 = 1_700_000_000.0


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_first_report_after_a_second_then_erased() -> None:
    out = io.StringIO()
    shown = Progress(50_000_000, out, clock=0.0)
    shown.advance(1000, 1_000_000, now=0.5)
    assert out.getvalue() == ""  # a quick read shows nothing
    shown.advance(1000, 24_000_000, now=2.0)
    assert "2,000 lines read, 1,000 lines/s, 50% of 50 MB" in out.getvalue()
    shown.finish()
    assert out.getvalue().endswith("\r\x1b[K")


def test_unknown_size_shows_lines_only() -> None:
    shown = Progress(None, io.StringIO(), clock=0.0)
    shown.advance(300, 10, now=3.0)
    assert shown.line(3.0) == "300 lines read, 100 lines/s"


@pytest.mark.parametrize("command", ["top", "detect"])
def test_commands_report_on_a_terminal_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    log = tmp_path / "access.log"
    log.write_text("".join(line(T0 + n, referrer="https://a.example/") for n in range(500)))
    monkeypatch.setattr(progress, "DELAY", 0.0)
    monkeypatch.setattr(progress, "EVERY", 0.0)
    fmt = get_format("combined")

    def run() -> None:
        with on_terminal([str(tmp_path / "*.log")]):
            if command == "top":
                count_by([str(log)], fmt, "referrer")
            else:
                detect_files([str(log)], fmt, ["www.example.com"])

    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    run()
    assert "500 lines read" in terminal.getvalue()
    assert f"100% of {log.stat().st_size / 1e6:,.0f} MB" in terminal.getvalue()
    pipe = io.StringIO()
    monkeypatch.setattr("sys.stderr", pipe)
    run()
    assert pipe.getvalue() == ""


def test_gzip_logs_show_lines_without_a_share(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    packed = tmp_path / "access.log.gz"
    packed.write_bytes(gzip.compress(line(T0).encode() * 10))
    monkeypatch.setattr(progress, "DELAY", 0.0)
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    with on_terminal([str(packed)]):
        count_by([str(packed)], get_format("combined"), "ip")
    assert "10 lines read" in terminal.getvalue()
    assert "%" not in terminal.getvalue()
