"""Requests per second over time with the floods marked, as a PNG (matplotlib, Agg backend).

Imported only for ``detect --plot`` and ``--html``: matplotlib takes a while to import. The image
is drawn in memory; the command writes it through the Host. Two panels when there is a flood:
the whole log (rates averaged over bins, at most MAX_POINTS of them, so that a log of several days
stays a line and not a smear), and the biggest flood's window second by second. The NAMED sites
that sent most flood requests get a line each, the others one summed line; blocks that ``follow
--apply`` put in place (read from its state) are marked where they began and ended. The time axis
carries dates when the log spans more than one day.

Labels carry Referer hosts from the logs and the site name from the user: ``label()`` makes them
plain text, since matplotlib reads text between two ``$`` as math and fails on math it cannot
parse."""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

import matplotlib

from stackwatch.core.record import dataclass

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MultipleLocator

from stackwatch.render.safe import printable
from stackwatch.weblog.apply import BlockSpan
from stackwatch.weblog.detect import Finding, Timeline

NAMED = 5  # flooding sites drawn one by one; the others are summed into one line
MAX_POINTS = 2000  # bins across a panel at most
MARKS = 8  # block marks labelled in a panel at most (each is drawn)
# Seconds between time ticks: the first that gives at most TICKS ticks (multiples of an hour or a
# day fall on the hour or at midnight UTC, since epoch time starts at midnight).
STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
         86400, 172800, 604800)  # fmt: skip
TICKS = 8
COLOURS = ("#c0392b", "#d35400", "#8e44ad", "#16a085", "#2c3e50")
OTHERS = "#7f8c8d"


def label(text: str) -> str:
    """Text shown as it is: no control characters, every ``$`` escaped (no math text)."""
    return printable(text).replace("$", r"\$")


@dataclass(frozen=True)
class _Series:
    """What is drawn: the site's requests per second, and the flood requests per second of the
    NAMED biggest flooding sites and of all the others together."""

    totals: dict[int, int]
    named: list[tuple[str, dict[int, int]]]
    others: dict[int, int]
    other_sites: int


def _series(timeline: Timeline, findings: Sequence[Finding]) -> _Series:
    by_site: dict[str, Counter[int]] = defaultdict(Counter)
    for finding in findings:
        by_site[finding.host].update(dict(finding.seconds))
    ranked = sorted(by_site, key=lambda h: (-sum(by_site[h].values()), h))
    others: Counter[int] = Counter()
    for host in ranked[NAMED:]:
        others.update(by_site[host])
    named = [(h, dict(by_site[h])) for h in ranked[:NAMED]]
    totals = dict(zip(timeline.seconds, timeline.totals, strict=False))
    return _Series(totals, named, dict(others), len(ranked[NAMED:]))


def _binned(
    points: dict[int, int], start: int, end: int, width: int, fill: bool
) -> tuple[list[float], list[float]]:
    """Mean requests per second in bins of ``width`` seconds over [start, end]; empty bins are
    0 when ``fill`` (the site's total), left out otherwise (a flood that has stopped)."""
    sums: Counter[int] = Counter()
    for second, count in points.items():
        if start <= second <= end:
            sums[(second - start) // width] += count
    keys = range((end - start) // width + 1) if fill else sorted(sums)
    return [float(start + k * width) for k in keys], [sums[k] / width for k in keys]


def _window(findings: Sequence[Finding]) -> tuple[int, int] | None:
    """The biggest flood's time span with some time on either side, or None."""
    if not findings:
        return None
    biggest = max(findings, key=lambda f: (f.requests, -f.first_seen))
    pad = max(30.0, 0.25 * (biggest.last_seen - biggest.first_seen))
    return int(biggest.first_seen - pad), int(biggest.last_seen + pad) + 1


def plot_floods(
    timeline: Timeline,
    findings: Sequence[Finding],
    title: str,
    blocks: Sequence[BlockSpan] = (),
) -> bytes:
    """The picture of ``draw_floods`` as the bytes of a PNG image."""
    fig = draw_floods(timeline, findings, title, blocks)
    try:
        image = io.BytesIO()
        fig.savefig(image, format="png")
        return image.getvalue()
    finally:
        plt.close(fig)


def draw_floods(
    timeline: Timeline,
    findings: Sequence[Finding],
    title: str,
    blocks: Sequence[BlockSpan] = (),
) -> Figure:
    """The site's requests per second and each flood's own rate, the flood spans shaded, the
    blocks marked: the whole log, and under it the biggest flood's window (the caller closes
    the figure: ``plt.close``)."""
    series = _series(timeline, findings)
    zoom = _window(findings)
    fig, axes = plt.subplots(2 if zoom else 1, 1, figsize=(13, 8.5 if zoom else 4.5), dpi=100,
                             squeeze=False)  # fmt: skip
    try:
        _panel(axes[0][0], series, findings, blocks, _span(timeline, findings))
        axes[0][0].set_title(label(title))
        if zoom is not None:
            _panel(axes[1][0], series, findings, blocks, zoom)
            axes[1][0].set_title(label(f"zoom on the biggest flood: {_flood_name(findings)}"))
        fig.tight_layout()
    except BaseException:
        plt.close(fig)
        raise
    return fig


def _flood_name(findings: Sequence[Finding]) -> str:
    biggest = max(findings, key=lambda f: (f.requests, -f.first_seen))
    return f"Referer site {biggest.host}"


def _span(timeline: Timeline, findings: Sequence[Finding]) -> tuple[int, int]:
    """The first and last second of the log (or of the floods, with no timeline)."""
    seconds = list(timeline.seconds[:1]) + list(timeline.seconds[-1:])
    seconds += [int(f.first_seen) for f in findings] + [int(f.last_seen) for f in findings]
    return (min(seconds), max(seconds)) if seconds else (0, 1)


def _panel(
    ax: Axes,
    series: _Series,
    findings: Sequence[Finding],
    blocks: Sequence[BlockSpan],
    span: tuple[int, int],
) -> None:
    """One panel over ``span``: the lines, the flood spans shaded, the block marks, the axes."""
    start, end = span
    width = max(1, -(-(end - start + 1) // MAX_POINTS))
    xs, ys = _binned(series.totals, start, end, width, fill=True)
    ax.plot(xs, ys, color="#4a6fa5", linewidth=0.8, label="all requests/s")
    for i, (host, points) in enumerate(series.named):
        fx, fy = _binned(points, start, end, width, fill=False)
        ax.plot(fx, fy, color=COLOURS[i], linewidth=1.0, label=label(f"flood: Referer site {host}"))
    if series.others:
        fx, fy = _binned(series.others, start, end, width, fill=False)
        ax.plot(fx, fy, color=OTHERS, linewidth=1.0,
                label=f"floods from {series.other_sites} other sites, summed")  # fmt: skip
    colour = {host: COLOURS[i] for i, (host, _) in enumerate(series.named)}
    for finding in findings:
        right = max(finding.last_seen, finding.first_seen + width)
        if finding.first_seen <= end and right >= start:
            ax.axvspan(finding.first_seen, right, color=colour.get(finding.host, OTHERS),
                       alpha=0.12)  # fmt: skip
    _marks(ax, blocks, start, end, named=width == 1)
    _axes(ax, start, end, width)


def _marks(ax: Axes, blocks: Sequence[BlockSpan], start: int, end: int, named: bool) -> None:
    """A dashed line where each block went in place (named in a panel of seconds), a dotted one
    where it was lifted."""
    shown = [b for b in blocks if start <= b.applied <= end]
    for i, block in enumerate(shown):
        ax.axvline(block.applied, color="black", linewidth=1.0, linestyle="--",
                   label="block applied (follow --apply)" if i == 0 else None)  # fmt: skip
        if named and i < MARKS:
            ax.annotate(label(f"blocked {block.host}"), (block.applied, 1.0), rotation=90,
                        xycoords=("data", "axes fraction"), va="top", ha="right",
                        fontsize="x-small")  # fmt: skip
    lifted = [b.lifted for b in blocks if b.lifted is not None and start <= b.lifted <= end]
    for i, when in enumerate(lifted):
        ax.axvline(when, color="black", linewidth=0.8, linestyle=":",
                   label="block lifted" if i == 0 else None)  # fmt: skip


def _axes(ax: Axes, start: int, end: int, width: int) -> None:
    days = _day(start) != _day(end)
    ax.set_xlim(start, max(end, start + 1))
    ax.set_ylim(bottom=0)
    per = "requests per second" if width == 1 else f"requests per second ({width} s means)"
    ax.set_ylabel(per)
    ax.set_xlabel("time (UTC)" if days else f"time (UTC), {_day(start)}")
    ax.xaxis.set_major_locator(MultipleLocator(_step(end - start)))
    ax.xaxis.set_major_formatter(FuncFormatter(_dated if days else _clock))
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize="small")
    for tick in ax.get_xticklabels():
        tick.set_rotation(20)
        tick.set_horizontalalignment("right")


def _step(seconds: int) -> int:
    """Seconds between ticks: a round step giving at most TICKS ticks."""
    for step in STEPS:
        if seconds / step <= TICKS:
            return step
    return STEPS[-1] * -(-seconds // (STEPS[-1] * TICKS))


def _day(x: float) -> str:
    try:
        return datetime.fromtimestamp(x, UTC).strftime("%Y-%m-%d")
    except (OverflowError, OSError, ValueError):
        return ""


def _clock(x: float, _pos: int | None = None) -> str:
    """An epoch-seconds tick as a UTC clock time."""
    try:
        return datetime.fromtimestamp(x, UTC).strftime("%H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return ""


def _dated(x: float, _pos: int | None = None) -> str:
    """An epoch-seconds tick as a UTC date and time, for logs that span days."""
    try:
        return datetime.fromtimestamp(x, UTC).strftime("%Y-%m-%d %H:%M")
    except (OverflowError, OSError, ValueError):
        return ""
