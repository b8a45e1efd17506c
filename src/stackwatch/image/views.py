"""What ``image import`` and ``image check`` print: text for a person, JSON for a script."""

from __future__ import annotations

import json
from typing import Any

from stackwatch.image.check import Verdict
from stackwatch.image.importer import ImportReport
from stackwatch.image.plan import GIB
from stackwatch.render.safe import printable


def import_text(report: ImportReport) -> str:
    request = report.request
    lines = [
        f"{printable(request.path)}: {report.kind}"
        + (", manifest checked" if report.manifest_checked else "")
    ]
    for plan in report.plans:
        info = plan.info
        sub = f" ({info.subformat})" if info.subformat else ""
        action = f"convert to {plan.target_format}" if plan.converts else f"keep {info.format}"
        lines.append(
            f"  {printable(plan.image_name)}: {info.format}{sub}, "
            f"{info.virtual_size / GIB:.2f} GiB virtual; {action}"
        )
        for key, value in sorted(plan.properties.items()):
            lines.append(f"    {printable(key)}={printable(value)}")
    if request.dry_run:
        lines.append("dry run: nothing converted or uploaded")
    for done, compared in zip(
        report.uploaded, report.compared or (False,) * len(report.uploaded), strict=False
    ):
        proof = "conversion compared identical, " if compared else ""
        lines.append(
            f"{printable(done.name)}: image {done.id} active ({done.method}); "
            f"{proof}{done.hash_algo} verified"
        )
    return "\n".join(lines)


def import_json(report: ImportReport) -> str:
    data: dict[str, Any] = {
        "file": report.request.path,
        "kind": report.kind,
        "manifest_checked": report.manifest_checked,
        "dry_run": report.request.dry_run,
        "disks": [
            {
                "image": p.image_name,
                "format": p.info.format,
                "subformat": p.info.subformat,
                "virtual_size": p.info.virtual_size,
                "target_format": p.target_format,
                "properties": p.properties,
            }
            for p in report.plans
        ],
        "uploaded": [
            {
                "id": u.id,
                "name": u.name,
                "method": u.method,
                "hash_algo": u.hash_algo,
                "hash_value": u.hash_value,
                "size": u.size,
            }
            for u in report.uploaded
        ],
    }
    return json.dumps(data, indent=2, sort_keys=True)


def check_text(verdict: Verdict, path: str) -> str:
    image = verdict.image
    head = f"{printable(image.name)} ({image.id}) vs {printable(path)}: "
    if verdict.same:
        return head + f"same ({image.hash_algo}, {verdict.local_size} bytes)"
    return head + "DIFFERENT\n" + "\n".join(f"  {printable(p)}" for p in verdict.problems)


def check_json(verdict: Verdict, path: str) -> str:
    image = verdict.image
    return json.dumps(
        {
            "image": {
                "id": image.id,
                "name": image.name,
                "status": image.status,
                "size": image.size,
                "hash_algo": image.hash_algo,
            },
            "file": path,
            "local_size": verdict.local_size,
            "same": verdict.same,
            "problems": list(verdict.problems),
        },
        indent=2,
        sort_keys=True,
    )
