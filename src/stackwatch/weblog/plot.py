"""Requests per second over time with the floods marked, as a PNG (matplotlib, Agg backend).

Imported only for ``detect --plot``: matplotlib takes a while to import."""

from __future__ import annotations

from datetime import UTC, datetime

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt

from stackwatch.weblog.detect import Finding, Timeline


def plot_floods(path: str, timeline: Timeline, findings: list[Finding], title: str) -> None:
    """Draw the site's requests per second and each flood's own rate, the flood spans shaded."""
    fig, ax = plt.subplots(figsize=(11, 4.5), dpi=100)
    try:
        times = [datetime.fromtimestamp(s, UTC) for s in timeline.seconds]
        ax.plot(times, timeline.totals, color="#4a6fa5", linewidth=0.8, label="all requests/s")
        colours = ["#c0392b", "#d35400", "#8e44ad", "#16a085"]
        for i, finding in enumerate(findings[:8]):
            colour = colours[i % len(colours)]
            ax.axvspan(
                datetime.fromtimestamp(finding.first_seen, UTC),
                datetime.fromtimestamp(max(finding.last_seen, finding.first_seen + 1), UTC),
                color=colour,
                alpha=0.15,
            )
            if finding.seconds:
                ax.plot(
                    [datetime.fromtimestamp(s, UTC) for s, _ in finding.seconds],
                    [n for _, n in finding.seconds],
                    color=colour,
                    linewidth=1.0,
                    label=f"flood: Referer {finding.host}",
                )
        ax.set_title(title)
        ax.set_ylabel("requests per second")
        ax.set_xlabel("time (UTC)")
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", fontsize="small")
        fig.autofmt_xdate()
        fig.tight_layout()
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
