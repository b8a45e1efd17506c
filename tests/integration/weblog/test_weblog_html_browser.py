"""detect --html opened in a real browser (Debian's chromium, headless): the page renders, the
picture inside it is drawn, the tables and rules are there, and the hostile Referer in the log
stays text (no element of its making in the DOM the browser built)."""

from __future__ import annotations

import calendar
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from tests.conftest import run_stackwatch
from tests.unit.weblog.logdata import days_with_floods

START = calendar.timegm((2026, 11, 29, 22, 0, 0))
PLOT_LINE = np.array([0x4A, 0x6F, 0xA5]) / 255  # plot.py's "all requests/s" line


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    browser = shutil.which("chromium")
    if browser is None:
        pytest.fail("chromium is not installed: run scripts/install-test-deps.sh")
    argv = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            f"--user-data-dir={profile}", "--no-first-run", *args]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("html")
    log = root / "access.log"
    log.write_text("".join(days_with_floods(START, 30, spread=20)))
    page = root / "report.html"
    result = run_stackwatch("weblog", "detect", str(log), "--site", "www.example.com",
                            "--html", str(page))  # fmt: skip
    assert result.returncode == 4, result.stderr
    return page


def test_the_report_renders_with_its_picture(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    _chromium(tmp_path / "profile", "--window-size=1300,2600", f"--screenshot={shot}",
              report.as_uri())  # fmt: skip
    pixels = imread(str(shot))[:, :, :3]
    assert pixels.shape[:2] == (2600, 1300)
    assert pixels.std() > 0.05, "the screenshot is blank"
    # The embedded picture was decoded and drawn: its blue line is on the screen.
    line = np.all(np.abs(pixels - PLOT_LINE) < 0.06, axis=2).sum()
    assert line > 500, line


def test_the_dom_has_the_report_and_nothing_from_the_log_as_markup(
    report: Path, tmp_path: Path
) -> None:
    dom = _chromium(tmp_path / "profile", "--dump-dom", report.as_uri()).stdout
    elements = re.findall(r"<([a-z0-9]+)([^>]*)>", dom)
    assert "script" not in {tag for tag, _ in elements}
    assert not [attrs for _, attrs in elements if "onerror" in attrs]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in dom
    expected = ["8 Referer flood(s) found.", "best-free-movies.example", "Suggested rules"]
    expected += ["Referring sites", "Top client IPs", "Status codes", "/forum/search.php"]
    for text in expected:
        assert text in dom, text
    images = [attrs for tag, attrs in elements if tag == "img"]
    assert len(images) == 1 and 'src="data:image/png;base64,' in images[0]
