"""backup-age: is every backup job's newest good backup recent, copied enough, off-site, verified?

Read from the backup catalog (SQLite) through Host, so the check runs where the jobs run and on a
copied catalog alike. The main figure (-w/-c) is the age in hours of the newest good backup.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from stackwatch.backup.config import load_backup_config
from stackwatch.core.host import HostError
from stackwatch.core.ranges import Range, parse_range
from stackwatch.core.registry import Check, CheckContext, NotApplicable
from stackwatch.core.result import Metric, Result, Status, judge_value, worst


@dataclass(frozen=True)
class BackupAgeOptions:
    warning: Range | None = field(default_factory=lambda: parse_range("26"))  # hours
    critical: Range | None = field(default_factory=lambda: parse_range("50"))
    min_copies: int = 2  # backup copies; with the live data that makes the rule's three
    require_offsite: bool = True
    require_verified: bool = True
    verify_max_age: float = 8 * 24.0  # hours
    jobs: list[str] = field(default_factory=list)  # default: every configured job
    catalog: str | None = None  # default: [backup] catalog


@dataclass(frozen=True)
class JobFacts:
    job: str
    last_good_id: str | None
    age_hours: float | None
    copies: int
    offsite: int
    size: int
    total_size: int
    newest_failed: str | None  # error of the newest run, when it failed
    verified_ok: bool | None  # None: never verified
    verified_age_hours: float | None


@dataclass(frozen=True)
class BackupAgeFacts:
    jobs: tuple[JobFacts, ...]
    catalog: str


def read_job(db: sqlite3.Connection, job: str, now: float) -> JobFacts:
    rows = db.execute(
        "SELECT id, started, status, error, size FROM backups WHERE job = ? "
        "ORDER BY started DESC, id DESC",
        (job,),
    ).fetchall()
    good = [r for r in rows if r[2] == "good"]
    settled = [r for r in rows if r[2] in ("good", "failed")]
    newest_failed = None
    if settled and (settled[0][2] == "failed" or settled[0][3]):
        newest_failed = str(settled[0][3] or "failed")
    verification = db.execute(
        "SELECT v.ok, v.at FROM verifications v JOIN backups b ON b.id = v.backup_id "
        "WHERE b.job = ? ORDER BY v.at DESC LIMIT 1",
        (job,),
    ).fetchone()
    verified_ok = None if verification is None else bool(verification[0])
    verified_age = None if verification is None else (now - float(verification[1])) / 3600
    if not good:
        return JobFacts(job, None, None, 0, 0, 0, 0, newest_failed, verified_ok, verified_age)
    last = good[0]
    copies = db.execute(
        "SELECT offsite FROM copies WHERE backup_id = ? AND status = 'good'", (last[0],)
    ).fetchall()
    return JobFacts(
        job=job,
        last_good_id=str(last[0]),
        age_hours=(now - float(last[1])) / 3600,
        copies=len(copies),
        offsite=sum(1 for c in copies if c[0]),
        size=int(last[4]),
        total_size=sum(int(r[4]) for r in good),
        newest_failed=newest_failed,
        verified_ok=verified_ok,
        verified_age_hours=verified_age,
    )


def collect(ctx: CheckContext[BackupAgeOptions]) -> BackupAgeFacts:
    cfg = load_backup_config(ctx.config)
    jobs = ctx.options.jobs or list(cfg.jobs)
    if not jobs:
        raise NotApplicable("no backup job configured ([backup.jobs.NAME])")
    catalog = ctx.options.catalog or cfg.catalog
    path = ctx.host.path(catalog)
    if not path.exists():
        return BackupAgeFacts(
            tuple(JobFacts(j, None, None, 0, 0, 0, 0, None, None, None) for j in jobs), catalog
        )
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            facts = tuple(read_job(db, job, ctx.now) for job in jobs)
        finally:
            db.close()
    except sqlite3.Error as exc:
        # Not a SKIP: an unreadable catalog must not look like "nothing to check".
        raise HostError(f"backup catalog {catalog} unreadable: {exc}") from None
    return BackupAgeFacts(facts, catalog)


def judge(facts: BackupAgeFacts, options: BackupAgeOptions) -> Result:
    statuses: list[Status] = []
    problems: list[str] = []
    details: list[str] = []
    metrics: list[Metric] = []
    for job in facts.jobs:
        labels = {"job": job.job}
        if job.age_hours is None:
            statuses.append(Status.CRITICAL)
            problems.append(f"{job.job}: no good backup")
            details.append(f"job {job.job}: no good backup in {facts.catalog}")
            continue
        age_status = judge_value(job.age_hours, options.warning, options.critical)
        statuses.append(age_status)
        metrics += [
            Metric(
                "age",
                round(job.age_hours, 2),
                "h",
                options.warning,
                options.critical,
                0,
                labels=labels,
            ),
            Metric("copies", job.copies, min=0, labels=labels),
            Metric("offsite_copies", job.offsite, min=0, labels=labels),
            Metric("size", job.size, "B", min=0, labels=labels),
            Metric("total_size", job.total_size, "B", min=0, labels=labels),
        ]
        if age_status != Status.OK:
            problems.append(f"{job.job}: newest good backup {job.age_hours:.1f} h old")
        if job.copies < options.min_copies:
            statuses.append(Status.CRITICAL)
            problems.append(f"{job.job}: {job.copies} copies, {options.min_copies} required")
        if options.require_offsite and job.offsite == 0:
            statuses.append(Status.CRITICAL)
            problems.append(f"{job.job}: no off-site copy")
        if job.newest_failed:
            statuses.append(Status.WARNING)
            problems.append(f"{job.job}: last run failed ({job.newest_failed})")
        if options.require_verified:
            if job.verified_ok is None:
                statuses.append(Status.WARNING)
                problems.append(f"{job.job}: never verified")
            elif not job.verified_ok:
                statuses.append(Status.CRITICAL)
                problems.append(f"{job.job}: last verification failed")
            elif (job.verified_age_hours or 0.0) > options.verify_max_age:
                statuses.append(Status.WARNING)
                problems.append(f"{job.job}: last verification {job.verified_age_hours:.0f} h ago")
        details.append(
            f"job {job.job}: {job.last_good_id}, {job.age_hours:.1f} h old, {job.copies} copies "
            f"({job.offsite} off-site), {job.size} bytes"
        )
    status = worst(statuses)
    if problems:
        summary = "; ".join(problems)
    else:
        summary = (
            f"{len(facts.jobs)} jobs: recent, {options.min_copies}+ copies, off-site, verified"
        )
    hint = None
    if status != Status.OK:
        hint = (
            "run `stackwatch backup status` and `stackwatch backup list`; a failed run says which "
            "destination failed; `stackwatch backup verify` proves the newest backup restores"
        )
    return Result("backup-age", status, summary, tuple(metrics), tuple(details), hint)


CHECK = Check(
    "backup-age",
    "newest good database backup: age, copies, off-site copy, last verification",
    collect,
    judge,
    BackupAgeOptions,
)
