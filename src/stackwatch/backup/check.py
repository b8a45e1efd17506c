"""backup-age: is every backup job's newest good backup recent, copied enough, off-site, verified,
and not much smaller than the one before it (sizewatch.py)?

Read from the backup catalog (SQLite) through Host, so the check runs where the jobs run and on a
copied catalog alike. The main figure (-w/-c) is the age in hours of the newest good backup.
"""

from __future__ import annotations

from stackwatch.backup.catalog import Catalog, CatalogError, JobSummary
from stackwatch.backup.config import BackupConfig
from stackwatch.backup.forecast import Filling, fillings, history, recent, rooms
from stackwatch.backup.sizewatch import compare_with_previous, warning
from stackwatch.backup.views import size
from stackwatch.core.findings import Findings
from stackwatch.core.host import HostError
from stackwatch.core.ranges import Range, parse_range
from stackwatch.core.record import dataclass, field
from stackwatch.core.registry import Check, CheckContext, NotApplicable
from stackwatch.core.result import Metric, Result, Status, judge_value

SPACE_HINT = (
    "free space on the destination, or lower the retention there (keep_*); "
    "`stackwatch backup list` shows the forecast per destination"
)
HINT = (
    "run `stackwatch backup status` and `stackwatch backup list`; a failed run says which "
    "destination failed; `stackwatch backup verify` proves the newest backup restores"
)


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
    fill_warning_days: float = 7.0  # warn when a destination fills within this many days


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
    shrunk: str | None = None  # what shrank since the backup before (sizewatch.py)
    space: tuple[Filling, ...] = ()  # destinations against the next backup (forecast.py)

    @classmethod
    def nothing(cls, job: str) -> JobFacts:
        """A job without any backup in the catalog."""
        return cls(job, None, None, 0, 0, 0, 0, None, None, None)


@dataclass(frozen=True)
class BackupAgeFacts:
    jobs: tuple[JobFacts, ...]
    catalog: str


def job_facts(
    summary: JobSummary,
    now: float,
    shrunk: str | None = None,
    space: tuple[Filling, ...] = (),
) -> JobFacts:
    """The check's view of a job's summary (Catalog.job_summary, which `backup status` shows)."""
    newest, verification = summary.newest_good, summary.last_verification
    return JobFacts(
        job=summary.job,
        last_good_id=None if newest is None else newest.id,
        age_hours=None if newest is None else (now - newest.started) / 3600,
        copies=len(summary.copies),
        offsite=summary.offsite_copies,
        size=0 if newest is None else newest.size,
        total_size=summary.total_size,
        newest_failed=summary.newest_failed,
        verified_ok=None if verification is None else verification.ok,
        verified_age_hours=None if verification is None else (now - verification.at) / 3600,
        shrunk=shrunk,
        space=space,
    )


def collect(ctx: CheckContext[BackupAgeOptions]) -> BackupAgeFacts:
    settings: BackupConfig = ctx.settings
    jobs = ctx.options.jobs or list(settings.jobs)
    if not jobs:
        raise NotApplicable("no backup job configured ([backup.jobs.NAME])")
    catalog = ctx.options.catalog or settings.catalog
    if not ctx.host.exists(catalog):
        return BackupAgeFacts(tuple(JobFacts.nothing(j) for j in jobs), catalog)
    try:
        reader = Catalog(ctx.host.path(catalog), readonly=True)
        try:
            facts = tuple(
                job_facts(
                    summary,
                    ctx.now,
                    _shrunk(reader, settings, summary),
                    _space(ctx, reader, settings, summary.job),
                )
                for summary in (reader.job_summary(job) for job in jobs)
            )
        finally:
            reader.close()
    except CatalogError as exc:
        # Not a SKIP: an unreadable catalog must not look like "nothing to check".
        raise HostError(f"backup catalog {catalog} unreadable: {exc}") from None
    return BackupAgeFacts(facts, catalog)


def _space(
    ctx: CheckContext[BackupAgeOptions], reader: Catalog, settings: BackupConfig, job: str
) -> tuple[Filling, ...]:
    """The job's local destinations against its next backup (none before a first good one)."""
    estimate = history(reader, job) if job in settings.jobs else None
    if estimate is None:
        return ()
    good = reader.backups(job=job, status="good")
    found = rooms(ctx.host, settings, job, estimate, recent(reader.space_measured(), ctx.now))
    return tuple(fillings(found, [(b.started, b.size) for b in good], len(good)))


def _shrunk(reader: Catalog, settings: BackupConfig, summary: JobSummary) -> str | None:
    """What shrank between the job's newest good backup and the good one before it."""
    job = settings.jobs.get(summary.job)
    if summary.newest_good is None or job is None:
        return None
    previous, shrunk = compare_with_previous(reader, summary.newest_good, job.shrink_warning)
    return warning(previous, shrunk) if previous is not None and shrunk else None


def judge(facts: BackupAgeFacts, options: BackupAgeOptions) -> Result:
    findings = Findings()
    for job in facts.jobs:
        if job.age_hours is None:
            findings.problem(Status.CRITICAL, f"{job.job}: no good backup", HINT)
            findings.details.append(f"job {job.job}: no good backup in {facts.catalog}")
            continue
        _judge_age(job, job.age_hours, options, findings)
        _judge_copies(job, options, findings)
        if job.newest_failed:
            findings.problem(
                Status.WARNING, f"{job.job}: last run failed ({job.newest_failed})", HINT
            )
        if options.require_verified:
            _judge_verification(job, options, findings)
        if job.shrunk:
            findings.problem(Status.WARNING, f"{job.job}: newest backup {job.shrunk}", HINT)
        for filling in job.space:
            _judge_space(job.job, filling, options, findings)
        findings.details.append(
            f"job {job.job}: {job.last_good_id}, {job.age_hours:.1f} h old, {job.copies} copies "
            f"({job.offsite} off-site), {job.size} bytes"
        )
    all_well = f"{len(facts.jobs)} jobs: recent, {options.min_copies}+ copies, off-site, verified"
    return findings.result("backup-age", all_well)


def _judge_age(job: JobFacts, age: float, options: BackupAgeOptions, findings: Findings) -> None:
    labels = {"job": job.job}
    findings.metrics += [
        Metric("age", round(age, 2), "h", options.warning, options.critical, 0, labels=labels),
        Metric("copies", job.copies, min=0, labels=labels),
        Metric("offsite_copies", job.offsite, min=0, labels=labels),
        Metric("size", job.size, "B", min=0, labels=labels),
        Metric("total_size", job.total_size, "B", min=0, labels=labels),
    ]
    status = judge_value(age, options.warning, options.critical)
    if status != Status.OK:
        findings.problem(status, f"{job.job}: newest good backup {age:.1f} h old", HINT)


def _judge_copies(job: JobFacts, options: BackupAgeOptions, findings: Findings) -> None:
    if job.copies < options.min_copies:
        text = f"{job.job}: {job.copies} copies, {options.min_copies} required"
        findings.problem(Status.CRITICAL, text, HINT)
    if options.require_offsite and job.offsite == 0:
        findings.problem(Status.CRITICAL, f"{job.job}: no off-site copy", HINT)


def _judge_verification(job: JobFacts, options: BackupAgeOptions, findings: Findings) -> None:
    if job.verified_ok is None:
        findings.problem(Status.WARNING, f"{job.job}: never verified", HINT)
    elif not job.verified_ok:
        findings.problem(Status.CRITICAL, f"{job.job}: last verification failed", HINT)
    elif (job.verified_age_hours or 0.0) > options.verify_max_age:
        text = f"{job.job}: last verification {job.verified_age_hours:.0f} h ago"
        findings.problem(Status.WARNING, text, HINT)


def _judge_space(job: str, filling: Filling, options: BackupAgeOptions, findings: Findings) -> None:
    labels = {"job": job, "destination": filling.destination}
    days = filling.days_left
    findings.metrics.append(Metric("destination_free", filling.free, "B", min=0, labels=labels))
    if days is not None:
        findings.metrics.append(Metric("destination_days_left", round(days, 1), labels=labels))
    where = f"{job}: destination {filling.destination}"
    if days == 0:
        text = (
            f"{where} has {size(filling.free)} free, the next backup needs about "
            f"{size(filling.need)}: it will be refused"
        )
        findings.problem(Status.CRITICAL, text, SPACE_HINT)
    elif days is not None and days <= options.fill_warning_days:
        text = f"{where} fills in about {days:.1f} days at the current growth"
        findings.problem(Status.WARNING, text, SPACE_HINT)
    findings.details.append(_space_line(where, filling, days))


def _space_line(where: str, filling: Filling, days: float | None) -> str:
    outlook = (
        "not growing"
        if days is None
        else f"{size(filling.growth_per_day)} a day more ({filling.kept} kept), full for the "
        f"next backup in about {days:.1f} days"
    )
    need = size(filling.need)
    free = size(filling.free)
    if filling.measured_at is not None:
        free += f" (measured over ssh by the run of {_clock(filling.measured_at)})"
    return f"{where}: {free} free, next backup about {need}; {outlook}"


def _clock(at: float) -> str:
    import time

    return time.strftime("%Y-%m-%d %H:%M", time.localtime(at))


CHECK = Check(
    "backup-age",
    "newest good database backup: age, copies, off-site copy, last verification",
    collect,
    judge,
    BackupAgeOptions,
)
