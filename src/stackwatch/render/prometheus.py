"""The Prometheus text exposition format, and the atomic textfile for node_exporter.

``stackwatch_check_status{check="conntrack"} 2`` for every check, and one gauge per metric:
``stackwatch_conntrack_entries 60000`` (labels of the metric kept as labels).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from pathlib import Path

from stackwatch.core.host import write_atomic
from stackwatch.core.result import Result
from stackwatch.render.safe import prometheus_label_value

_INVALID = re.compile(r"[^a-zA-Z0-9_]")
_UNIT_SUFFIX = {"%": "_percent", "s": "_seconds", "B": "_bytes", "/s": "_per_second"}


def metric_name(*parts: str) -> str:
    name = "_".join(_INVALID.sub("_", p).strip("_") for p in parts if p)
    name = re.sub(r"_+", "_", name)
    return name if not name[:1].isdigit() else f"_{name}"


def _escape(value: str) -> str:
    return prometheus_label_value(value)


def _value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if value != int(value) else str(int(value))


def _labels(pairs: dict[str, str]) -> str:
    if not pairs:
        return ""
    inner = ",".join(f'{metric_name(k)}="{_escape(v)}"' for k, v in pairs.items())
    return "{" + inner + "}"


def render_prometheus(results: Sequence[Result]) -> str:
    lines = [
        "# HELP stackwatch_check_status Status of each check: "
        "0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.",
        "# TYPE stackwatch_check_status gauge",
    ]
    # every check has a status, a skipped one OK (0): "absent" would read as "not scraped";
    # stackwatch_check_skipped says which do not apply
    lines += [
        f'stackwatch_check_status{{check="{_escape(r.check)}"}} {int(r.status)}' for r in results
    ]
    lines += [
        "# HELP stackwatch_check_skipped 1 where a check does not apply to this host.",
        "# TYPE stackwatch_check_skipped gauge",
    ]
    lines += [
        f'stackwatch_check_skipped{{check="{_escape(r.check)}"}} {int(r.skipped)}' for r in results
    ]
    families: dict[str, list[str]] = {}
    for result in results:
        for metric in result.metrics:
            name = metric_name("stackwatch", result.check, metric.name)
            suffix = _UNIT_SUFFIX.get(metric.unit, "")
            if suffix and not name.endswith(suffix):
                name += suffix
            sample = f"{name}{_labels(dict(metric.labels))} {_value(metric.value)}"
            families.setdefault(name, []).append(sample)
    for name, samples in families.items():
        lines.append(f"# TYPE {name} gauge")
        lines.extend(dict.fromkeys(samples))
    return "\n".join(lines) + "\n"


def write_textfile(directory: str | os.PathLike[str], text: str, name: str = "stackwatch") -> Path:
    """Write ``NAME.prom`` atomically, as node_exporter's textfile collector requires."""
    path = Path(directory) / f"{name}.prom"
    write_atomic(path, text, 0o644)
    return path
