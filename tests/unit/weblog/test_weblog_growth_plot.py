"""growth: the fastest-growing log first; detect --plot: a real PNG with the flood drawn."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from stackwatch.weblog.growth import measure
from tests.conftest import run_stackwatch

from .logdata import iframe_flood, normal_traffic

T0 = 1_700_000_000.0


def test_growth_sorts_by_bytes_per_second_and_counts_lines(tmp_path: Path) -> None:
    quiet, busy, rotated = (tmp_path / f"{n}-access.log" for n in ("quiet", "busy", "rotated"))
    for path in (quiet, busy, rotated):
        path.write_text("old line\n" * 100)

    def during(seconds: float) -> None:  # what happens while growth waits
        with open(busy, "a") as out:
            out.write("x" * 99 + "\n" * 1 + ("y" * 49 + "\n") * 200)
        with open(quiet, "a") as out:
            out.write("one more\n")
        os.rename(rotated, f"{rotated}.1")
        rotated.write_text("new\n" * 3)

    rows = measure([str(tmp_path / "*-access.log")], 1.0, sleep=during)
    assert [Path(r.path).name for r in rows] == [
        "busy-access.log",
        "rotated-access.log",
        "quiet-access.log",
    ]
    busy_row, rotated_row, quiet_row = rows
    assert busy_row.lines_per_s > 0 and rotated_row.rotated and not quiet_row.rotated
    # The sleep is replaced, so the elapsed time is tiny: compare the line counts' proportions.
    assert busy_row.lines_per_s / quiet_row.lines_per_s == pytest.approx(201)


def test_growth_cli_json(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_text("x\n")
    result = run_stackwatch("weblog", "growth", str(tmp_path / "*.log"), "--interval", "0.2",
                            "--format", "json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["path"].endswith("a.log")


def test_detect_plot_writes_a_png(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    lines = normal_traffic(T0, 300) + iframe_flood(T0 + 120, 60)
    log.write_text("".join(sorted(lines, key=lambda x: x.split("[")[1][:20])))
    png = tmp_path / "flood.png"
    result = run_stackwatch(
        "weblog", "detect", str(log), "--site", "www.example.com", "--plot", str(png)
    )
    assert result.returncode == 4, result.stderr  # FOUND: a flood
    assert "FLOOD Referer host seo-spam.example.net" in result.stdout
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
