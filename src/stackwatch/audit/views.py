"""What ``audit get`` and ``audit expect`` print: a table per container, or JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stackwatch.audit.read import ContainerValues
from stackwatch.render.safe import printable

MISSING = "-"


def table(rows: Sequence[ContainerValues], keys: Sequence[str]) -> str:
    """container, one column per key, problem; names and values made safe for a terminal."""
    header = ["container", *keys, "problem"]
    body = [
        [
            printable(r.container),
            *(printable(v) if v is not None else MISSING for v in r.values),
            printable(r.problem or ""),
        ]
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in [header, *body]
    ]
    return "\n".join(lines) + "\n"


def rows_json(rows: Sequence[ContainerValues], keys: Sequence[str]) -> list[dict[str, Any]]:
    return [
        {
            "container": r.container,
            "values": dict(zip(keys, r.values, strict=True)),
            "problem": r.problem,
        }
        for r in rows
    ]


def drift_text(
    rows: Sequence[ContainerValues],
    differing: Sequence[tuple[ContainerValues, list[str]]],
    wanted: Sequence[tuple[str, str]],
) -> str:
    want = ", ".join(f"{k}={v}" for k, v in wanted)
    lines = [f"{len(rows) - len(differing)} of {len(rows)} containers have {want}"]
    for row, diff in differing:
        why = f" ({row.problem})" if row.problem else ""
        lines.append(f"  {printable(row.container)}: {printable(', '.join(diff))}{printable(why)}")
    return "\n".join(lines) + "\n"


def drift_json(
    rows: Sequence[ContainerValues], differing: Sequence[tuple[ContainerValues, list[str]]]
) -> dict[str, Any]:
    return {
        "containers": len(rows),
        "differing": [
            {"container": r.container, "differences": d, "problem": r.problem} for r, d in differing
        ],
    }
