"""Named runs kept as one JSON file each in the results directory."""

from __future__ import annotations

import re

from stackwatch.core.host import Host, HostError
from stackwatch.storage.results import ResultError, Run, run_from_json

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_BYTES = 1 << 20


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"run name {name!r}: letters, digits, '.', '_' and '-' only (64 at most)")
    return name


def save(host: Host, directory: str, run: Run) -> str:
    host.make_dir(directory, 0o755, parents=True)
    path = f"{directory.rstrip('/')}/{check_name(run.name)}.json"
    host.write_atomic(path, run.to_json(), 0o644)
    return path


def load(host: Host, directory: str, name: str) -> Run:
    path = f"{directory.rstrip('/')}/{check_name(name)}.json"
    data = host.read_small(path, MAX_BYTES)
    if data is None:
        raise HostError(f"no stored run {name!r} in {directory}")
    try:
        return run_from_json(data.decode("utf-8", errors="replace"))
    except ResultError as exc:
        raise HostError(f"{path}: {exc}") from None
