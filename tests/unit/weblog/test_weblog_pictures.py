"""detect --plot for people: dates on a log that spans days, a panel zoomed on the flood, blocks
of follow --apply marked, many flooding sites kept readable; detect --html: one self-contained
page in which no log line can add markup."""

from __future__ import annotations

import base64
import calendar
import json
import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from stackwatch.weblog.apply import Blocker, BlockSpan, block_spans
from stackwatch.weblog.detect import Finding, Timeline
from stackwatch.weblog.plot import NAMED, draw_floods
from tests.conftest import run_stackwatch

from .logdata import days_with_floods

START = calendar.timegm((2026, 11, 29, 22, 0, 0))  # the log crosses midnight
BIG = START + 3600  # the big flood (logdata.days_with_floods)


def _flood(host: str, first: int, seconds: int, rate: int) -> Finding:
    finding = Finding(host, first, first + seconds - 1, rate, requests=seconds * rate)
    finding.seconds = [(first + s, rate) for s in range(seconds)]
    finding.hosts = Counter({host: seconds * rate})
    return finding


def _labels(fig: Figure) -> tuple[list[list[str]], list[list[str]]]:
    """Each panel's time tick labels and legend texts, as drawn."""
    fig.canvas.draw()
    ticks = [[t.get_text() for t in ax.get_xticklabels()] for ax in fig.axes]
    legends = [[t.get_text() for t in ax.get_legend().get_texts()] for ax in fig.axes]
    return ticks, legends


def test_a_log_over_days_has_dates_and_a_panel_zoomed_on_the_flood() -> None:
    seconds = list(range(START, START + 30 * 3600, 20))
    timeline = Timeline(seconds, [1] * len(seconds))
    blocks = [BlockSpan("big.example", BIG + 150, BIG + 4000)]
    fig = draw_floods(timeline, [_flood("big.example", BIG, 600, 20)], "site x", blocks)
    try:
        ticks, legends = _labels(fig)
        zoom = fig.axes[1]
        assert "2026-11-30 00:00" in ticks[0]  # whole log: dates, on round hours
        assert all(re.fullmatch(r"\d\d:\d\d:\d\d", t) for t in ticks[1] if t)  # zoom: clock
        assert zoom.get_xlabel() == "time (UTC), 2026-11-29"
        low, high = zoom.get_xlim()
        assert low <= BIG and high >= BIG + 599 and high - low < 1200
        assert "block applied (follow --apply)" in legends[1]
        assert "block lifted" in legends[0]  # lifted outside the zoomed window
        marks = [t.get_text() for t in zoom.texts]
        assert marks == ["blocked big.example"]
    finally:
        plt.close(fig)


def test_many_flooding_sites_top_few_named_the_rest_summed() -> None:
    floods = [_flood(f"site{i}.example", BIG + 100 * i, 60, 10 + i) for i in range(9)]
    timeline = Timeline(list(range(BIG - 60, BIG + 1000)), [30] * 1060)
    fig = draw_floods(timeline, floods, "site x")
    try:
        _, legends = _labels(fig)
        named = [t for t in legends[0] if t.startswith("flood: Referer site")]
        assert named == [f"flood: Referer site site{i}.example" for i in range(8, 8 - NAMED, -1)]
        assert "floods from 4 other sites, summed" in legends[0]
        assert "2026" not in "".join(_labels(fig)[0][0])  # one day: clock times only
    finally:
        plt.close(fig)


def test_the_blocker_remembers_when_each_block_was_applied_and_lifted(tmp_path: Path) -> None:
    blocker = Blocker("apache", str(tmp_path / "rules.conf"), ["true"], None, 60)
    blocker.update(["a.example"], 1000.0)
    blocker.update(["b.example"], 1010.0)
    blocker.update([], 1065.0)  # a.example's ban is over, b.example's not
    assert block_spans(blocker.state()) == [
        BlockSpan("a.example", 1000.0, 1065.0),
        BlockSpan("b.example", 1010.0, None),
    ]
    junk = {"history": [["a.example", "x", None], ["bad host", 1, 2], [1, 2], "x",
                        ["c.example", True, None], ["d.example", 5, 6]]}  # fmt: skip
    assert block_spans(junk) == [BlockSpan("d.example", 5.0, 6.0)]
    assert block_spans({"history": {"a": 1}}) == [] and block_spans(None) == []


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: Counter[str] = Counter()
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        self.attrs.extend(attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_report_is_self_contained_and_no_log_line_adds_markup(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("".join(days_with_floods(START, 3)))
    state = tmp_path / "state"
    state.mkdir()
    history = [["best-free-movies.example", BIG + 150, None]]
    (state / "weblog-follow.json").write_text(json.dumps({"blocks": {"history": history}}))
    report = tmp_path / "report.html"
    result = run_stackwatch("weblog", "detect", str(log), "--site", "www.example.com",
                            "--html", str(report), "--state-dir", str(state))  # fmt: skip
    assert result.returncode == 4, result.stderr
    page = report.read_text()
    tags = _Tags()
    tags.feed(page)
    assert tags.tags["script"] == 0 and "onerror" not in {name for name, _ in tags.attrs}
    assert tags.tags["img"] == 1  # the picture, and no other
    sources = [v for k, v in tags.attrs if k == "src"]
    assert len(sources) == 1 and sources[0] is not None
    assert base64.b64decode(sources[0].removeprefix("data:image/png;base64,"))[:4] == b"\x89PNG"
    assert not re.search(r"""(href|src)=["']?(https?:|//)""", page)  # nothing fetched
    text = "".join(tags.text)
    assert '"><script>alert(1)</script><img src=x onerror=alert(2)>.evil.example' in text
    for heading in ("Floods", "Suggested rules", "Referring sites", "Top Referers",
                    "Top client IPs", "Top paths", "Status codes"):  # fmt: skip
        assert heading in text
    assert "www.best-free-movies.example (" in text
    assert text.count("RewriteCond") == 8  # one rule per site: the big one and seven others
    assert "best-free-movies\\.example" in text


def test_html_needs_files_it_can_read_twice(tmp_path: Path) -> None:
    result = run_stackwatch("weblog", "detect", "-", "--site", "www.example.com",
                            "--html", str(tmp_path / "r.html"))  # fmt: skip
    assert result.returncode == 2 and "--html" in result.stderr
    assert not (tmp_path / "r.html").exists()
