"""What a storage run measured, from fio JSON or iozone throughput-mode text, and its storage.

Throughput is kept in KiB/s per test. The tests are named as operators compare them:
``seq-write``, ``seq-read``, ``rand-read``, ``rand-write`` (fio's profile and iozone's initial
writers, readers, random readers, random writers), plus iozone's other tests by their own names
(``rewriters``, ``re-readers``, ...).
"""

from __future__ import annotations

import json
import re
from typing import Any

from stackwatch.core.record import asdict, dataclass, field

FIO_TESTS = (  # name, rw, block size
    ("seq-write", "write", "1M"),
    ("seq-read", "read", "1M"),
    ("rand-read", "randread", "4k"),
    ("rand-write", "randwrite", "4k"),
)
IOZONE_NAMES = {
    "initial writers": "seq-write",
    "readers": "seq-read",
    "random readers": "rand-read",
    "random writers": "rand-write",
}
_UNITS = {"kb": 1.0, "mb": 1024.0, "gb": 1024.0 * 1024.0}


class ResultError(ValueError):
    """Output that is not a run's result: one line saying why."""


@dataclass(frozen=True)
class Run:
    name: str
    source: str  # "fio" or "iozone"
    target: str  # what was measured (a directory, a device, a file imported)
    jobs: int
    throughput: dict[str, float]  # test -> KiB/s
    iops: dict[str, float] = field(default_factory=dict)
    when: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"


def run_from_json(text: str) -> Run:
    try:
        data = json.loads(text)
        return Run(
            str(data["name"]),
            str(data["source"]),
            str(data["target"]),
            int(data["jobs"]),
            {str(k): float(v) for k, v in data["throughput"].items()},
            {str(k): float(v) for k, v in data.get("iops", {}).items()},
            float(data["when"]),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ResultError(f"not a stored run: {exc}") from None


def _fio_job(job: Any) -> tuple[str, float, float]:
    if not isinstance(job, dict) or not isinstance(job.get("jobname"), str):
        raise ResultError("fio: a job without a name")
    total_bw = total_iops = 0.0
    for side in ("read", "write"):
        part = job.get(side, {})
        if not isinstance(part, dict):
            raise ResultError(f"fio: job {job['jobname']}: {side} is not an object")
        bw, iops = part.get("bw", 0), part.get("iops", 0)
        if not isinstance(bw, int | float) or not isinstance(iops, int | float):
            raise ResultError(f"fio: job {job['jobname']}: bw/iops are not numbers")
        total_bw += float(bw)
        total_iops += float(iops)
    return job["jobname"], total_bw, total_iops


def parse_fio_json(text: str) -> tuple[dict[str, float], dict[str, float]]:
    """Throughput (KiB/s) and IOPS per job name of ``fio --output-format=json
    --group_reporting`` (one entry per test)."""
    start = text.find("{")  # fio may print notes before the JSON
    try:
        data = json.loads(text[start:] if start >= 0 else text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ResultError(f"fio: not JSON ({exc})") from None
    jobs = data.get("jobs") if isinstance(data, dict) else None
    if not isinstance(jobs, list) or not jobs:
        raise ResultError("fio: no jobs in the output")
    throughput: dict[str, float] = {}
    iops: dict[str, float] = {}
    for job in jobs:
        name, bw, ops = _fio_job(job)
        throughput[name] = bw
        iops[name] = ops
    return throughput, iops


_IOZONE = re.compile(
    r"Children see throughput for\s+(\d+)\s+([A-Za-z -]+?)\s*=\s*([0-9.]+)\s*([kKmMgG][bB])/sec"
)


def parse_iozone(text: str) -> tuple[int, dict[str, float]]:
    """The children's throughput per test of iozone's throughput mode (``-t N``), in KiB/s,
    and the number of processes."""
    throughput: dict[str, float] = {}
    processes = 0
    for match in _IOZONE.finditer(text):
        processes = int(match[1])
        test = match[2].strip().lower()
        try:
            value = float(match[3]) * _UNITS[match[4].lower()]
        except ValueError:
            continue
        throughput[IOZONE_NAMES.get(test, test)] = value
    if not throughput:
        raise ResultError("iozone: no 'Children see throughput for' lines (run with -t N)")
    return processes, throughput
