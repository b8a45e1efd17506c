"""What ``nova recover`` prints: the plan and the outcome as text for a person or JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from stackwatch.core.record import asdict
from stackwatch.nova.recover import Outcome, Plan
from stackwatch.render.safe import printable


def _flavor(step: Any) -> str:
    flavor = step.server.flavor
    if flavor is None:
        return "?"
    size = f"{flavor.vcpus} vCPU, {flavor.ram_mb} MiB, {flavor.disk_gb} GiB"
    return f"{printable(flavor.name) or '-'} ({size})"


def plan_text(plan: Plan) -> str:
    service = plan.service
    state = (
        "no service"
        if service is None
        else (f"{service.state}, {service.status}{', forced down' if service.forced_down else ''}")
    )
    mode = "restart in place" if plan.in_place else "evacuate"
    count = len(plan.steps)
    lines = [f"host {printable(plan.host)}: nova-compute {state}; {count} instance(s); mode {mode}"]
    for step in plan.steps:
        server = step.server
        volumes = ", ".join(server.volumes) or "no volumes"
        lines.append(
            f"  {printable(server.name) or '-'} {server.id} {server.status}"
            f"{'/' + server.task_state if server.task_state else ''} {_flavor(step)} {volumes}"
            f" -> {step.action}: {step.why}"
        )
    for capacity in plan.capacity:
        free = ", ".join(f"{k} {v:g}" for k, v in sorted(capacity.free.items()))
        lines.append(f"  target {printable(capacity.host)}: free {free}")
    lines += [f"  note: {n}" for n in plan.notes]
    if plan.refusal:
        lines.append(f"REFUSED: {printable(plan.refusal)}")
    elif not plan.actions:
        lines.append("nothing to do")
    return "\n".join(lines) + "\n"


def plan_json(plan: Plan) -> str:
    data = {
        "host": plan.host,
        "mode": "in-place" if plan.in_place else "evacuate",
        "service": asdict(plan.service) if plan.service else None,
        "steps": [
            {"server": asdict(s.server), "action": s.action, "why": s.why} for s in plan.steps
        ],
        "capacity": [asdict(c) for c in plan.capacity],
        "refusal": plan.refusal,
        "notes": list(plan.notes),
    }
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def outcome_text(outcomes: Sequence[Outcome], report_path: str | None) -> str:
    lines = []
    for o in outcomes:
        verdict = "recovered" if o.ok else "FAILED"
        where = f" on {printable(o.host)}" if o.host else ""
        detail = f": {printable(o.detail)}" if o.detail else ""
        took = f"({o.status}{where}, {o.seconds:.1f} s)"
        lines.append(f"{printable(o.name) or '-'} {o.id} {o.action} {verdict} {took}{detail}")
    if not outcomes:
        lines.append("nothing to do")
    if report_path:
        lines.append(f"report: {report_path}")
    return "\n".join(lines) + "\n"
