"""What `backup list`, `backup status` and `backup prune` show: the catalog's facts as text lines
(for a person at a terminal) or JSON (for a script).

The facts come from the catalog (``Catalog.entries``, ``Catalog.job_summary``: the summary the
``backup-age`` check judges, so status and check agree). Text made of names and errors from the
catalog (job names, server messages) is made printable: a terminal never receives control
characters from data.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence

from stackwatch.backup.catalog import (
    Backup,
    BackupEntry,
    Copy,
    JobSummary,
    Restore,
    Verification,
)
from stackwatch.render.safe import printable


def when(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else "-"


def size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


# backup list ---------------------------------------------------------------------------------


def list_lines(
    job: str, entries: Sequence[BackupEntry], restores: Sequence[Restore] = ()
) -> list[str]:
    """One job: a heading, then one line per backup with its copies per destination, then one
    line per restore."""
    lines = [f"job {job}"]
    if not entries:
        lines.append("  no backups")
    lines += [_entry_line(entry) for entry in entries]
    lines += [_restore_line(r) for r in restores]
    return [printable(line) for line in lines]


def _restore_line(r: Restore) -> str:
    line = f"  restore {when(r.started)}  {r.status:<8} {r.backup_id} from {r.source}: {r.targets}"
    if r.status == "failed" and r.details:
        line += f"  [{r.details}]"
    return line


def _entry_line(entry: BackupEntry) -> str:
    b = entry.backup
    copies = ", ".join(
        f"{c.destination}{'(off-site)' if c.offsite else ''}={c.status}" for c in entry.copies
    )
    line = f"  {b.id}  {when(b.started)}  {b.status:<8} {size(b.size):>10}  {copies}"
    if b.lock_seconds is not None:
        line += f"  lock {b.lock_seconds:.3f} s"
    if b.error:
        line += f"  [{b.error}]"
    return line


def list_json(
    listing: Mapping[str, Sequence[BackupEntry]],
    restores: Mapping[str, Sequence[Restore]] | None = None,
) -> str:
    jobs = [
        {
            "job": job,
            "backups": [_backup_json(e.backup, e.copies) for e in entries],
            "restores": [_restore_json(r) for r in (restores or {}).get(job, ())],
        }
        for job, entries in listing.items()
    ]
    return json.dumps({"jobs": jobs}, indent=2)


def _restore_json(r: Restore) -> dict[str, object]:
    return {
        "backup": r.backup_id,
        "started": r.started,
        "finished": r.finished,
        "status": r.status,
        "source": r.source,
        "targets": r.targets,
        "details": r.details,
    }


def _backup_json(b: Backup, copies: Sequence[Copy]) -> dict[str, object]:
    return {
        "id": b.id,
        "started": b.started,
        "finished": b.finished,
        "status": b.status,
        "error": b.error,
        "size": b.size,
        "lock_seconds": b.lock_seconds,
        "copies": [_copy_json(c) for c in copies],
    }


def _copy_json(c: Copy) -> dict[str, object]:
    return {
        "destination": c.destination,
        "offsite": c.offsite,
        "status": c.status,
        "error": c.error,
        "at": c.at,
    }


# backup status -------------------------------------------------------------------------------


def status_lines(summaries: Sequence[JobSummary], now: float) -> list[str]:
    """A line per job: its newest good backup's age, copies and size, what is kept, and the
    last verification; under it, what a recovery would take as far as it was measured."""
    lines = []
    for summary in summaries:
        lines.append(printable(_status_line(summary, now)))
        recovery = _recovery_line(summary)
        if recovery:
            lines.append(printable(f"  recovery: {recovery}"))
    return lines


def _recovery_line(summary: JobSummary) -> str:
    """How long getting the data back took when it was last done: the last verify (a whole
    restore into a throwaway server, then checked) and the last real restore; and what a
    point-in-time restore would replay on top of the newest backup."""
    parts = []
    verification = summary.last_verification
    if verification is not None and verification.ok and verification.seconds is not None:
        parts.append(
            f"the last verify restored and checked {verification.backup_id} in "
            f"{verification.seconds:.1f} s ({when(verification.at)})"
        )
    restore = summary.last_restore
    if restore is not None and restore.finished is not None:
        parts.append(
            f"the last restore ({restore.backup_id} into {restore.targets}) took "
            f"{restore.finished - restore.started:.1f} s ({when(restore.started)})"
        )
    tail = summary.logs_after
    if tail is not None:
        upto = "" if tail.last_time is None else f", up to {when(tail.last_time)}"
        parts.append(
            f"{tail.count} binary logs ({size(tail.size)}) archived after the newest backup"
            f" to replay{upto}"
        )
    return "; ".join(parts)


def _status_line(summary: JobSummary, now: float) -> str:
    last = summary.newest_good
    if last is None:
        return f"{summary.job}: no good backup"
    lock = "" if last.lock_seconds is None else f", writers locked {last.lock_seconds:.3f} s"
    return (
        f"{summary.job}: newest {last.id} {(now - last.started) / 3600:.1f} h old, "
        f"{len(summary.copies)} copies ({summary.offsite_copies} off-site), "
        f"{size(last.size)}{lock}; {summary.good_count} backups kept, "
        f"{size(summary.total_size)} in all; {_verified(summary.last_verification)}"
    )


def _verified(verification: Verification | None) -> str:
    if verification is None:
        return "never verified"
    return f"last verify {'ok' if verification.ok else 'FAILED'} {when(verification.at)}"


def status_json(summaries: Sequence[JobSummary], now: float) -> str:
    return json.dumps({"jobs": [_summary_json(s, now) for s in summaries]}, indent=2)


def _summary_json(summary: JobSummary, now: float) -> dict[str, object]:
    last, verification = summary.newest_good, summary.last_verification
    return {
        "job": summary.job,
        "newest_good": None
        if last is None
        else {**_backup_json(last, summary.copies), "age_hours": (now - last.started) / 3600},
        "copies": len(summary.copies),
        "offsite_copies": summary.offsite_copies,
        "backups_kept": summary.good_count,
        "total_size": summary.total_size,
        "newest_failed": summary.newest_failed,
        "last_verification": None
        if verification is None
        else {
            "backup": verification.backup_id,
            "ok": verification.ok,
            "at": verification.at,
            "seconds": verification.seconds,
        },
        "last_restore": _timed_restore_json(summary.last_restore),
        "binlogs_after_newest": None
        if summary.logs_after is None
        else {
            "count": summary.logs_after.count,
            "size": summary.logs_after.size,
            "last_time": summary.logs_after.last_time,
        },
    }


def _timed_restore_json(restore: Restore | None) -> dict[str, object] | None:
    if restore is None or restore.finished is None:
        return None
    return {**_restore_json(restore), "seconds": restore.finished - restore.started}


# backup prune --------------------------------------------------------------------------------


def prune_lines(
    job: str, forgotten: Sequence[str], kept: Sequence[str], errors: Sequence[str], dry_run: bool
) -> list[str]:
    verb = "would delete" if dry_run else "deleted"
    lines = [f"job {job}: {verb} {len(forgotten)}, keep {len(kept)}"]
    lines += [f"  keep   {k}" for k in kept]
    lines += [f"  {verb} {f}" for f in forgotten]
    lines += [f"  error: {e}" for e in errors]
    return [printable(line) for line in lines]
