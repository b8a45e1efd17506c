"""Facts: one file read in every container root, and the values of the asked keys in it.

A container's files belong to the container: each is opened inside its root
(``Host.read_in_root``: symbolic links resolve inside the root, devices and FIFOs are never
read), and whatever goes wrong in one container is that container's problem, never the audit's.
"""

from __future__ import annotations

from collections.abc import Sequence

from stackwatch.audit.formats import FormatError, format_for, value_of
from stackwatch.core.host import Host, HostError
from stackwatch.core.record import dataclass


@dataclass(frozen=True)
class ContainerValues:
    container: str  # the root, a machine path such as /vz/private/101
    values: tuple[str | None, ...]  # one per key asked; None where the key is missing
    problem: str | None = None  # file missing, unreadable, not parseable: values are all None


def read_container(
    host: Host, root: str, file: str, keys: Sequence[str], fmt: str, max_bytes: int
) -> ContainerValues:
    missing = (None,) * len(keys)
    try:
        data = host.read_in_root(root, file, max_bytes)
    except HostError as exc:
        return ContainerValues(root, missing, f"unreadable: {exc}")
    if data is None:
        return ContainerValues(root, missing, "file missing")
    text = data.decode("utf-8", errors="replace")
    try:
        values = tuple(value_of(text, key, fmt) for key in keys)
    except FormatError as exc:
        return ContainerValues(root, missing, str(exc))
    absent = [key for key, value in zip(keys, values, strict=True) if value is None]
    problem = f"key missing: {', '.join(absent)}" if absent else None
    return ContainerValues(root, values, problem)


def read_all(
    host: Host,
    roots: str,
    file: str,
    keys: Sequence[str],
    declared: str = "auto",
    max_bytes: int = 1 << 20,
) -> list[ContainerValues]:
    """Every root the glob matches that is a directory, in order, each read on its own."""
    fmt = format_for(file, declared)
    return [
        read_container(host, root, file, keys, fmt, max_bytes)
        for root in host.glob(roots)
        if host.is_dir(root)
    ]
