"""Free space against the next backup: how big it will be, and whether each destination holds it.

The size comes from the job's own history: the newest good backup's size plus the mean growth
per run over the last RUNS good ones (a job that grows 1 GB a run needs 1 GB more next time). A
job without a good backup yet has only a guess: the size of its databases on the server times
GUESS_RATIO (a compressed dump is usually well below its data files); a guess warns, it never
refuses. Each local destination (a directory, a mounted volume) must have the forecast plus the
job's ``space_margin`` free; ``backup run`` refuses to start, writing nothing, when one has not
(a backup that fills the disk half way fails anyway, after hours, and takes the space that other
programs needed); ``backup list`` shows the forecast. An off-site (ssh) destination's free space
is measured (``df``) by every ``backup run``, which refuses as for a local one, and recorded in the
catalog: ``backup list`` and the ``backup-age`` check use that figure, with its age, rather than
opening connections of their own (the check runs as the nagios user, without the ssh key).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from stackwatch.backup.catalog import Catalog
from stackwatch.backup.config import SYSTEM_DATABASES, BackupConfig
from stackwatch.backup.dump import Client, sql_string
from stackwatch.backup.views import size
from stackwatch.core.host import Host, HostError
from stackwatch.core.record import dataclass

RUNS = 5  # good backups the growth is measured over
MEASURED_MAX_AGE = 7 * 86400  # an off-site figure older than this is not used
GUESS_RATIO = 0.5


@dataclass(frozen=True)
class Estimate:
    size: int  # bytes the next backup is expected to take
    basis: str  # how it was reached, in an operator's words
    firm: bool  # from the job's own backups (False: a guess from the data size)


@dataclass(frozen=True)
class Room:
    destination: str
    free: int | None  # None: not measured (a volume not mounted, an off-site one not yet)
    need: int  # the estimate plus the job's margin
    measured_at: float | None = None  # an off-site figure: when a run measured it (None: now)

    @property
    def fits(self) -> bool | None:
        return None if self.free is None else self.free >= self.need


def from_history(sizes: Sequence[int]) -> Estimate | None:
    """The next size from the good backups' sizes, newest first (None: there are none)."""
    recent = [s for s in sizes[:RUNS] if s > 0]
    if not recent:
        return None
    growth = max(0, (recent[0] - recent[-1]) // (len(recent) - 1)) if len(recent) > 1 else 0
    basis = f"newest {size(recent[0])}"
    if len(recent) > 1:
        basis += f", growing {size(growth)} a run over the last {len(recent)}"
    return Estimate(recent[0] + growth, basis, True)


def from_data(data_bytes: int) -> Estimate:
    return Estimate(
        int(data_bytes * GUESS_RATIO),
        f"a guess: no backup yet, {GUESS_RATIO:g} x the {size(data_bytes)} of data",
        False,
    )


def history(catalog: Catalog, job: str) -> Estimate | None:
    return from_history([b.size for b in catalog.backups(job=job, status="good")])


def data_size(client: Client, databases: str | Sequence[str]) -> int:
    """Bytes of data and indexes of the job's databases on the server."""
    if isinstance(databases, str):
        excluded = ", ".join(sql_string(d) for d in SYSTEM_DATABASES)
        where = f"TABLE_SCHEMA NOT IN ({excluded})"
    else:
        where = f"TABLE_SCHEMA IN ({', '.join(sql_string(d) for d in databases)})"
    rows = client.query(
        f"SELECT IFNULL(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema.TABLES "
        f"WHERE {where}"
    )
    return int(str(rows[0][0])) if rows and rows[0] and _is_count(str(rows[0][0])) else 0


def _is_count(text: str) -> bool:
    return text.isascii() and text.isdigit()


def rooms(
    host: Host,
    cfg: BackupConfig,
    job: str,
    estimate: Estimate,
    offsite: Mapping[str, tuple[float, int]] | None = None,
) -> list[Room]:
    """Each destination of the job against the estimate plus the margin; off-site ones from
    ``offsite`` (destination -> when measured, free bytes), where a figure is there."""
    need = int(estimate.size * (1 + cfg.jobs[job].space_margin))
    found = []
    for name in cfg.jobs[job].destinations:
        dest = cfg.destinations[name]
        if dest.kind == "ssh":
            at, free = (offsite or {}).get(name, (None, None))
            found.append(Room(name, free, need, at))
            continue
        free = None
        if dest.kind == "directory" or (dest.kind == "volume" and host.is_mount(dest.path)):
            free = free_at(host, Path(dest.path))
        found.append(Room(name, free, need))
    return found


def measure_offsite(
    host: Host, cfg: BackupConfig, job: str, now: float
) -> tuple[dict[str, tuple[float, int]], list[str]]:
    """The free space of each ssh destination of the job, measured now (``df`` over ssh), and
    a note for each one that could not be measured."""
    from stackwatch.backup.destinations import DestinationError, SshBackend

    measured, notes = {}, []
    for name in cfg.jobs[job].destinations:
        dest = cfg.destinations[name]
        if dest.kind != "ssh":
            continue
        try:
            measured[name] = (now, SshBackend(name, dest, host).free_bytes())
        except DestinationError as exc:
            notes.append(f"free space of {name} not measured: {exc}")
    return measured, notes


def recent(measured: Mapping[str, tuple[float, int]], now: float) -> dict[str, tuple[float, int]]:
    """The recorded off-site figures young enough to judge by."""
    return {k: v for k, v in measured.items() if now - v[0] <= MEASURED_MAX_AGE}


def free_at(host: Host, path: Path) -> int | None:
    """Free bytes where ``path`` is or will be made (its nearest existing parent)."""
    while not host.exists(str(path)) and path != path.parent:
        path = path.parent
    try:
        return host.free_bytes(path)
    except HostError:
        return None


def refusal(estimate: Estimate, found: Sequence[Room]) -> str | None:
    """Why the run must not start (a firm estimate that a destination cannot hold), or None."""
    short = [r for r in found if r.fits is False]
    if not short or not estimate.firm:
        return None
    return "not started, nothing written: " + "; ".join(_short_line(r, estimate) for r in short)


def warnings(estimate: Estimate, found: Sequence[Room]) -> list[str]:
    """A guess that a destination may not hold the backup: said, not refused."""
    if estimate.firm:
        return []
    return [f"WARNING: {_short_line(r, estimate)}" for r in found if r.fits is False]


def _short_line(room: Room, estimate: Estimate) -> str:
    return (
        f"destination {room.destination} has {size(room.free or 0)} free, the next backup needs "
        f"about {size(room.need)} ({estimate.basis}, with the margin)"
    )


def forecast_lines(estimate: Estimate | None, found: Sequence[Room]) -> list[str]:
    """What ``backup list`` shows under a job."""
    if estimate is None:
        return ["  next backup: no size known yet (no good backup)"]
    lines = [f"  next backup: about {size(estimate.size)} ({estimate.basis})"]
    for r in found:
        if r.free is None:
            lines.append(f"    {r.destination}: free space not measured")
        else:
            verdict = "fits" if r.fits else "WILL NOT FIT"
            lines.append(f"    {r.destination}: {size(r.free)} free{_when(r)}, {verdict}")
    return lines


def _when(room: Room) -> str:
    if room.measured_at is None:
        return ""
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(room.measured_at))
    return f" (measured over ssh at {stamp})"


@dataclass(frozen=True)
class Filling:
    """One destination's outlook for the ``backup-age`` check."""

    destination: str
    free: int
    need: int  # the next backup with the margin
    growth_per_day: float  # bytes a day the job's kept backups add here (0: not growing)
    kept: int  # good backups of the job kept now
    measured_at: float | None = None  # off-site: when a run measured the free space

    @property
    def days_left(self) -> float | None:
        """Days until the destination cannot take the next backup at the current growth; None
        where it does not grow (0 when it already cannot)."""
        room = self.free - self.need
        if room <= 0:
            return 0.0
        return room / self.growth_per_day if self.growth_per_day > 0 else None


def growth_per_day(backups: Sequence[tuple[float, int]]) -> float:
    """Bytes a day one backup of the job grows, from (started, size) of its good backups, newest
    first, over the last RUNS (0 where it shrinks or there is no span to measure)."""
    recent = [(t, s) for t, s in backups[:RUNS] if s > 0]
    if len(recent) < 2:
        return 0.0
    (newest_at, newest), (oldest_at, oldest) = recent[0], recent[-1]
    days = (newest_at - oldest_at) / 86400
    return max(0.0, (newest - oldest) / days) if days > 0 else 0.0


def fillings(
    found: Sequence[Room], backups: Sequence[tuple[float, int]], kept: int
) -> list[Filling]:
    """Each measured destination: every kept backup grows, so the space used grows ``kept``
    times as fast as one backup does."""
    per_day = growth_per_day(backups) * max(1, kept)
    return [
        Filling(r.destination, r.free, r.need, per_day, kept, r.measured_at)
        for r in found
        if r.free is not None
    ]
