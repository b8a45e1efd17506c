"""The answer to a scrape: the checks' results in the exposition format (the same renderer as
``stackwatch check --format prometheus``), and what the service knows about each run.

    stackwatch_check_success{check="disk-smart"} 1       # 0: UNKNOWN (failed, timed out, none yet)
    stackwatch_check_duration_seconds{check="disk-smart"} 2.31
    stackwatch_check_last_run_timestamp_seconds{check="disk-smart"} 1.7e9
    stackwatch_check_stale{check="disk-smart"} 0            # 1: an earlier run's result
    stackwatch_build_info{version="0.1.0",python="3.11.2"} 1
"""

from __future__ import annotations

import platform
from collections.abc import Sequence

from stackwatch import __version__
from stackwatch.render import render
from stackwatch.render.safe import prometheus_label_value
from stackwatch.serve.runner import Served

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_FAMILIES = (
    (
        "stackwatch_check_success",
        "1 where the check came to a judgement; 0 where it is UNKNOWN (it failed, timed out or "
        "has no result yet).",
    ),
    ("stackwatch_check_duration_seconds", "Seconds the check's last finished run took."),
    (
        "stackwatch_check_last_run_timestamp_seconds",
        "When the check's last finished run ended, in seconds since the epoch.",
    ),
    (
        "stackwatch_check_stale",
        "1 where the result is an earlier run's: the current run had not finished in time.",
    ),
)


def metrics_text(served: Sequence[Served]) -> str:
    """The whole answer to a scrape."""
    lines = [render([s.result for s in served], "prometheus").rstrip("\n")]
    for name, help_text in _FAMILIES:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
        for item in served:
            value = _value_of(name, item)
            if value is not None:
                check = prometheus_label_value(item.result.check)
                lines.append(f'{name}{{check="{check}"}} {_number(value)}')
    lines += [
        "# HELP stackwatch_build_info The stackwatch version and the Python that runs it.",
        "# TYPE stackwatch_build_info gauge",
        f'stackwatch_build_info{{version="{__version__}",python="{platform.python_version()}"}} 1',
    ]
    return "\n".join(lines) + "\n"


def _value_of(family: str, served: Served) -> float | None:
    if family == "stackwatch_check_success":
        return float(served.success)
    if family == "stackwatch_check_duration_seconds":
        return None if served.duration is None else round(served.duration, 6)
    if family == "stackwatch_check_last_run_timestamp_seconds":
        return served.finished_at
    return float(served.stale)


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)
