"""JSON: the overall status and every check with its metrics, details and hint."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from stackwatch.core.result import Metric, Result, overall_status


def _finite(value: float | None) -> float | None:
    if value is None or math.isnan(value) or math.isinf(value):
        return None
    return value


def metric_dict(metric: Metric) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": metric.name,
        "value": _finite(metric.value),
        "unit": metric.unit,
        "warn": None if metric.warn is None else str(metric.warn),
        "crit": None if metric.crit is None else str(metric.crit),
        "min": _finite(metric.min),
        "max": _finite(metric.max),
    }
    if metric.labels:
        data["labels"] = dict(metric.labels)
    return data


def result_dict(result: Result) -> dict[str, Any]:
    return {
        "name": result.check,
        "status": result.status_text,
        "code": int(result.status),
        "summary": result.summary,
        "metrics": [metric_dict(m) for m in result.metrics],
        "details": list(result.details),
        "hint": result.hint,
    }


def render_json(results: Sequence[Result]) -> str:
    status = overall_status(results)
    document = {
        "status": status.name,
        "code": int(status),
        "checks": [result_dict(r) for r in results],
    }
    return json.dumps(document, indent=2) + "\n"
