"""``storage compare``: every test side by side, ratios to the first run, bars; a PNG chart."""

from __future__ import annotations

import io
from collections.abc import Sequence

from stackwatch.render.safe import printable
from stackwatch.storage.results import FIO_TESTS, Run

BAR = 24  # characters of the longest bar


def tests_of(runs: Sequence[Run]) -> list[str]:
    """The profile's tests first, in its order, then any other test (iozone's) by name."""
    known = [name for name, _, _ in FIO_TESTS]
    others = sorted({t for r in runs for t in r.throughput} - set(known))
    return [t for t in known if any(t in r.throughput for r in runs)] + others


def _mib(kib: float) -> str:
    return f"{kib / 1024:.1f}"


def compare_text(runs: Sequence[Run]) -> str:
    names = [printable(r.name) for r in runs]
    lines = ["MiB/s per test; ratio to " + names[0]]
    for test in tests_of(runs):
        values = [r.throughput.get(test) for r in runs]
        top = max((v for v in values if v is not None), default=0.0) or 1.0
        lines.append(f"{test}")
        for name, value in zip(names, values, strict=True):
            if value is None:
                lines.append(f"  {name:<16} {'-':>10}")
                continue
            base = values[0]
            ratio = f"{value / base:6.2f}x" if base else "      -"
            bar = "#" * max(1, round(BAR * value / top)) if value else ""
            lines.append(f"  {name:<16} {_mib(value):>10} {ratio}  {bar}")
    return "\n".join(lines) + "\n"


def compare_png(runs: Sequence[Run]) -> bytes:
    """A grouped bar chart of every test, one colour per run (matplotlib, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tests = tests_of(runs)
    figure, axes = plt.subplots(figsize=(max(6, 1.6 * len(tests)), 4))
    width = 0.8 / len(runs)
    for index, run in enumerate(runs):
        xs = [t + index * width for t in range(len(tests))]
        ys = [run.throughput.get(test, 0.0) / 1024 for test in tests]
        axes.bar(xs, ys, width, label=run.name)
    axes.set_xticks([t + 0.4 - width / 2 for t in range(len(tests))], tests)
    axes.set_ylabel("MiB/s")
    axes.legend()
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    plt.close(figure)
    return out.getvalue()
