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
    assert "FLOOD Referer site seo-spam.example" in result.stdout
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


HOSTILE_HOSTS = [
    "x$^{$.example.net",  # math text matplotlib cannot parse
    "a$\\frac{$b.example.net",
    "$$.example.net",
    "x\x1b[31m$.example.net",  # an escape sequence (bytes a log carries as \x1b)
    "x`id`$(id);'\".example.net",
]


@pytest.mark.parametrize("host", HOSTILE_HOSTS)
def test_a_plot_label_from_the_logs_never_fails_the_report(tmp_path: Path, host: str) -> None:
    from stackwatch.weblog.detect import Finding, Timeline
    from stackwatch.weblog.plot import plot_floods

    finding = Finding(host, T0, T0 + 10, 40.0, seconds=[(int(T0) + i, 40) for i in range(10)])
    png = plot_floods(Timeline([int(T0) + i for i in range(10)], [50] * 10), [finding], host)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_detect_reports_a_flood_from_a_hostile_referer_and_draws_it(tmp_path: Path) -> None:
    host = "x$^{$`id`.example.net"
    log = tmp_path / "access.log"
    lines = normal_traffic(T0, 300) + iframe_flood(T0 + 120, 60, host=host)
    log.write_text("".join(sorted(lines, key=lambda x: x.split("[")[1][:20])))
    png = tmp_path / "flood.png"
    result = run_stackwatch(
        "weblog", "detect", str(log), "--site", "www.example.com", "--plot", str(png)
    )
    assert result.returncode == 4, result.stderr
    assert f"FLOOD Referer site {host}" in result.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_plot_that_cannot_be_written_does_not_hide_the_report(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    lines = normal_traffic(T0, 300) + iframe_flood(T0 + 120, 60)
    log.write_text("".join(sorted(lines, key=lambda x: x.split("[")[1][:20])))
    result = run_stackwatch("weblog", "detect", str(log), "--site", "www.example.com",
                            "--plot", str(tmp_path / "no" / "dir" / "flood.png"))  # fmt: skip
    assert result.returncode == 1
    assert "FLOOD Referer site seo-spam.example" in result.stdout
    assert "cannot write plot" in result.stderr and "Traceback" not in result.stderr
