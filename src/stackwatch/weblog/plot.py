"""Requests per second over time with the floods marked, as a PNG (matplotlib, Agg backend).

Imported only for ``detect --plot``: matplotlib takes a while to import. The image is drawn in
memory; the command writes it through the Host. Labels carry Referer hosts from the logs and the
site name from the user: ``label()`` makes them plain text, since matplotlib reads text between
two ``$`` as math and fails on math it cannot parse."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter, MaxNLocator

from stackwatch.render.safe import printable
from stackwatch.weblog.detect import Finding, Timeline


def label(text: str) -> str:
    """Text shown as it is: no control characters, every ``$`` escaped (no math text)."""
    return printable(text).replace("$", r"\$")


def plot_floods(timeline: Timeline, findings: list[Finding], title: str) -> bytes:
    """The site's requests per second and each flood's own rate, the flood spans shaded, as
    the bytes of a PNG image."""
    fig, ax = plt.subplots(figsize=(11, 4.5), dpi=100)
    try:
        # x is epoch seconds as floats, labelled as UTC clock times by the formatter below.
        times = [float(s) for s in timeline.seconds]
        ax.plot(times, timeline.totals, color="#4a6fa5", linewidth=0.8, label="all requests/s")
        colours = ["#c0392b", "#d35400", "#8e44ad", "#16a085"]
        for i, finding in enumerate(findings[:8]):
            colour = colours[i % len(colours)]
            ax.axvspan(
                finding.first_seen,
                max(finding.last_seen, finding.first_seen + 1),
                color=colour,
                alpha=0.15,
            )
            if finding.seconds:
                ax.plot(
                    [float(s) for s, _ in finding.seconds],
                    [n for _, n in finding.seconds],
                    color=colour,
                    linewidth=1.0,
                    label=label(f"flood: Referer {finding.host}"),
                )
        ax.set_title(label(title))
        ax.set_ylabel("requests per second")
        ax.set_xlabel("time (UTC)")
        ax.xaxis.set_major_locator(MaxNLocator(nbins=8, steps=[1, 2, 3, 6, 10]))
        ax.xaxis.set_major_formatter(FuncFormatter(_clock))
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", fontsize="small")
        fig.autofmt_xdate()
        fig.tight_layout()
        image = io.BytesIO()
        fig.savefig(image, format="png")
        return image.getvalue()
    finally:
        plt.close(fig)


def _clock(x: float, _pos: int | None = None) -> str:
    """An epoch-seconds tick as a UTC clock time."""
    try:
        return datetime.fromtimestamp(x, UTC).strftime("%H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return ""
