"""Alerts over time as a PNG (matplotlib, Agg backend): every alert per hour, and the chattiest
services each on its own line. Imported only for ``alerts --plot``: matplotlib is slow to import.

Labels come from the log: ``$`` would start matplotlib's mathtext (an unbalanced one makes
savefig fail), so it is escaped, and control characters are shown as escapes.
"""

from __future__ import annotations

from datetime import UTC, datetime

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter, MaxNLocator

from stackwatch.nagios.alerts import AlertReport
from stackwatch.render.safe import printable

MAX_LABEL = 60


def plot_alerts(path: str, report: AlertReport, title: str) -> None:
    """Two panels on one time axis: every alert per hour, then the chattiest services (their
    counts are too small to read beside the total)."""
    fig, (total, top) = plt.subplots(2, 1, figsize=(11, 6.5), dpi=100, sharex=True)
    try:
        if report.timeline:
            total.plot(
                [float(t) for t, _ in report.timeline],
                [n for _, n in report.timeline],
                color="#4a6fa5",
                linewidth=1.0,
                label="all alerts per hour",
            )
            total.legend(loc="upper left", fontsize="small")
        colours = ["#c0392b", "#d35400", "#8e44ad", "#16a085", "#2c3e50"]
        for i, ((host, service), series) in enumerate(report.service_timelines.items()):
            top.plot(
                [float(t) for t, _ in series],
                [n for _, n in series],
                color=colours[i % len(colours)],
                linewidth=0.9,
                label=safe_label(f"{host} / {service}"),
            )
        if report.service_timelines:
            top.legend(loc="upper left", fontsize="small")
        total.set_title(safe_label(title))
        total.set_ylabel("alerts per hour")
        top.set_ylabel("chattiest services")
        top.set_xlabel("time (UTC)")
        top.xaxis.set_major_locator(MaxNLocator(nbins=8))
        top.xaxis.set_major_formatter(FuncFormatter(_clock))
        for ax in (total, top):
            ax.grid(True, alpha=0.3)
        fig.autofmt_xdate()
        fig.tight_layout()
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)


def safe_label(text: str) -> str:
    """A label matplotlib draws as written: no mathtext, no control characters, not too long."""
    shown = printable(text)
    if len(shown) > MAX_LABEL:
        shown = shown[: MAX_LABEL - 1] + "…"
    return shown.replace("$", r"\$")


def _clock(x: float, _pos: int | None = None) -> str:
    try:
        return datetime.fromtimestamp(x, UTC).strftime("%m-%d %H:%M")
    except (OverflowError, OSError, ValueError):
        return ""
