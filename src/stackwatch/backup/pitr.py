"""Point-in-time recovery to a GTID, and what each archived binary log covers.

``restore --to-gtid 0-1-57[,5-7-3]`` restores the newest good backup whose recorded GTID state
(``@@gtid_binlog_pos`` at its consistent point) is not past the target in any domain named, then
replays the archived logs from the backup's binary log position up to and including the target:
``mariadb-binlog --start-position=POS --stop-position=GTID-LIST`` (MariaDB 10.8 and later take a
GTID list there; an integer start with a GTID stop is accepted, checked on 10.11). Each GTID is
inclusive and mariadb-binlog leaves out every event of a domain the list does not name, so a
domain written to in the logs replayed must be named, or the restore is refused (nothing of it
would come back). mariadb-binlog only warns when a stop GTID is never reached: the logs fetched
are read here first (binlog_file.py), and a target they do not hold is refused before the server
sees a byte.

The same reading, done as each log is archived, puts its GTID and time ranges in the catalog
(``binlog_ranges``), which ``backup binlogs`` shows.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from stackwatch.backup.binlog_file import (
    BinlogFormatError,
    BinlogRange,
    Gtid,
    gtid_text,
    parse_gtid_list,
    read_range,
)
from stackwatch.backup.binlogs import BinlogError
from stackwatch.backup.catalog import Backup, BinlogSpan, Catalog
from stackwatch.core.host import Host, HostError


class GtidUsage(BinlogError):
    """The GTID asked for cannot be used (not a GTID, a domain left out): a usage error."""


def read_log(host: Host, path: Path) -> BinlogRange:
    """What the log at ``path`` covers; BinlogError when it cannot be read."""
    try:
        with host.open_binary(path) as stream:
            return read_range(stream, path.name)
    except BinlogFormatError as exc:
        raise BinlogError(str(exc)) from None
    except (HostError, OSError) as exc:
        raise BinlogError(f"reading {path.name}: {exc}") from None


def log_span(host: Host, path: Path) -> BinlogSpan | None:
    """The catalog's record of a log, None when it cannot be read (encrypted, damaged)."""
    try:
        found = read_log(host, path)
    except BinlogError:
        return None
    if found.encrypted:
        return None
    before, after = gtid_text(found.gtid_before), gtid_text(found.gtid_after)
    return BinlogSpan(path.name, before, after, found.first_time, found.last_time, found.complete)


def describe_span(span: BinlogSpan) -> str:
    """One line for ``backup binlogs``: the GTID state before and after the log, its times."""
    before = span.gtid_before or "empty"
    gtids = f"GTID state {before} -> {span.gtid_after}"
    if span.gtid_after == span.gtid_before:
        gtids = f"GTID state {before} (no transaction)"
    times = "no event time"
    if span.first_time is not None and span.last_time is not None:
        times = f"{_local(span.first_time)} to {_local(span.last_time)}"
    cut = "" if span.complete else " (cut short)"
    return f"{span.name}: {gtids}; {times}{cut}"


def span_lines(catalog: Catalog, job: str, names: Sequence[str]) -> list[str]:
    """What each of the logs ``names`` covers, as the catalog says."""
    spans = catalog.binlog_ranges(job)
    return [describe_span(spans[n]) if n in spans else f"{n}: ranges unknown" for n in names]


def _local(seconds: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def short_of(host: Host, logs: Sequence[Path], moment: float) -> str | None:
    """A line when the archived logs end before ``moment`` (the changes after their last event
    are not in the archive: a restore to ``moment`` stops there), else None."""
    if not logs:
        return None
    last = read_log(host, logs[-1]).last_time
    if last is None or last >= moment:
        return None
    return f"the archived binary logs end at {_local(last)}: nothing after it can be replayed"


# --to-gtid ------------------------------------------------------------------------------------


def parse_target(text: str) -> dict[int, Gtid]:
    """``--to-gtid``'s value: one GTID or a list, one per domain."""
    try:
        target = parse_gtid_list(text, "--to-gtid")
    except ValueError as exc:
        raise GtidUsage(str(exc)) from None
    if not target:
        raise GtidUsage("--to-gtid: no GTID given (domain-server-sequence, 0-1-42)")
    return target


def backup_state(backup: Backup) -> dict[int, Gtid]:
    """The GTID state recorded at the backup's consistent point."""
    try:
        position = json.loads(backup.position or "{}")
        text = position.get("gtid") if isinstance(position, dict) else None
        if isinstance(text, str):
            return parse_gtid_list(text)
    except ValueError:
        pass
    raise BinlogError(f"backup {backup.id} has no GTID position recorded (binary log off?)")


def not_past(state: Mapping[int, Gtid], target: Mapping[int, Gtid]) -> bool:
    """True when ``state`` is not beyond ``target`` in any domain ``target`` names."""
    return all(state[d].seq <= g.seq for d, g in target.items() if d in state)


def backup_before_gtid(catalog: Catalog, job: str, target: Mapping[int, Gtid]) -> Backup:
    """The newest good backup taken before the target (its state not past it)."""
    for b in catalog.backups(job=job, status="good"):
        try:
            if not_past(backup_state(b), target):
                return b
        except BinlogError:
            continue
    raise BinlogError(f"job {job}: no good backup with a GTID position before {gtid_text(target)}")


def logs_to_replay(
    backup: Backup, logs: Sequence[tuple[Path, BinlogRange]], target: Mapping[int, Gtid]
) -> list[Path]:
    """The fetched logs (from the backup's file on, in order) up to the last one holding a
    target GTID; BinlogError when the archive does not hold one, GtidUsage when a domain
    written to in those logs after the backup is not named."""
    state = backup_state(backup)
    if not not_past(state, target):  # a backup named by its ID holds changes past the target
        raise BinlogError(
            f"backup {backup.id} is past {gtid_text(target)} (its GTID state: {gtid_text(state)}):"
            " restore an older backup"
        )
    last = 0
    for domain, gtid in target.items():
        if (state[domain].seq if domain in state else 0) >= gtid.seq:
            continue  # in the backup already (or seq 0): nothing of this domain to replay
        holder = next((i for i, (_, r) in enumerate(logs) if r.holds(gtid)), None)
        if holder is None:
            reach = _reach(logs, domain)
            raise BinlogError(
                f"GTID {gtid} is not in the archived binary logs ({reach}): "
                f"run `stackwatch backup binlogs {backup.job}` first, or choose an earlier GTID"
            )
        last = max(last, holder)
    _check_domains(state, [r for _, r in logs[: last + 1]], target)
    return [path for path, _ in logs[: last + 1]]


def _check_domains(
    state: Mapping[int, Gtid], ranges: Sequence[BinlogRange], target: Mapping[int, Gtid]
) -> None:
    left_out = {}
    for r in ranges:
        for domain, gtid in r.gtid_after.items():
            moved = domain not in state or gtid.seq > state[domain].seq
            if moved and domain not in target:
                left_out[domain] = gtid
    if left_out:
        named = ", ".join(f"domain {d} (up to {g})" for d, g in sorted(left_out.items()))
        raise GtidUsage(
            f"--to-gtid: the binary logs after the backup also hold {named}: name a GTID for "
            "each domain (mariadb-binlog replays nothing of a domain left out)"
        )


def _reach(logs: Sequence[tuple[Path, BinlogRange]], domain: int) -> str:
    ends = [r.gtid_after[domain] for _, r in logs if domain in r.gtid_after]
    return f"they reach {ends[-1]}" if ends else f"they hold nothing of domain {domain}"


def stop_options(target: Mapping[int, Gtid]) -> list[str]:
    """mariadb-binlog's stop at the target, inclusive."""
    return [f"--stop-position={gtid_text(target)}"]
