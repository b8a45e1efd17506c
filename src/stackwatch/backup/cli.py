"""``stackwatch backup``: run, list, verify, restore, prune, status.

Exit codes (core/exits.py): OK (0) success; FAILED (1) a backup, copy, verification or restore
failed or was refused (a database that holds tables, without --replace); USAGE (2) a
configuration or usage error (a database not in the backup, --as with several); BUSY (75)
the job is already running (EX_TEMPFAIL: try again later). What `list`, `status` and `prune`
print is made in views.py.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from typing import Annotated

import typer

from stackwatch.backup import views
from stackwatch.backup.catalog import Catalog, CatalogError
from stackwatch.backup.config import BackupConfig
from stackwatch.backup.lock import LockBusy
from stackwatch.cli_support import fail, load_settings, usage_error
from stackwatch.core.exits import BUSY, FAILED, OK
from stackwatch.core.host import Host
from stackwatch.render.safe import printable

app = typer.Typer(
    rich_markup_mode=None,
    help="MySQL/MariaDB backups that can be trusted: dump, copy, verify, retain.",
    no_args_is_help=True,
    add_completion=False,
)

ConfigOption = Annotated[str | None, typer.Option("--config", help="stackwatch TOML file")]
FormatOption = Annotated[str, typer.Option("--format", help="text or json")]


def _config(path: str | None) -> BackupConfig:
    config, settings = load_settings(path, "backup")
    if not settings.jobs:
        usage_error(f"{config.where('backup', 'jobs')}: no backup job configured")
    assert isinstance(settings, BackupConfig)
    return settings


def _jobs(cfg: BackupConfig, job: str | None) -> list[str]:
    if job is None:
        return list(cfg.jobs)
    if job not in cfg.jobs:
        usage_error(f"unknown job {job!r}; configured: {', '.join(cfg.jobs)}")
    return [job]


def _format(value: str) -> str:
    if value not in ("text", "json"):
        usage_error(f"--format must be text or json, not {value!r}")
    return value


def _catalog(cfg: BackupConfig) -> Catalog:
    try:
        return Catalog(cfg.catalog)
    except CatalogError as exc:
        fail(str(exc), FAILED)


def _echo(lines: Iterable[str]) -> None:
    for line in lines:
        typer.echo(line)


def _echo_report(report: str) -> None:
    """A run's or a verification's report: server messages in it shown printable."""
    _echo(printable(line) for line in report.splitlines())


@app.command()
def run(
    job: Annotated[str | None, typer.Argument(help="job to run (default: every job)")] = None,
    config: ConfigOption = None,
) -> None:
    """Dump, compress, checksum, copy to every destination, record, apply retention, notify."""
    cfg = _config(config)
    host = Host()
    failed = False
    for name in _jobs(cfg, job):
        failed |= not _run_job(cfg, name, host)
    raise typer.Exit(FAILED if failed else OK)


def _run_job(cfg: BackupConfig, name: str, host: Host) -> bool:
    """Run one job (verified too when the job asks: part of the run, its mail and its
    status); True when all went well."""
    from stackwatch.backup.job import run_job

    try:
        outcome = run_job(cfg, name, host=host)
    except LockBusy as exc:
        fail(str(exc), BUSY)
    _echo_report(outcome.report())
    return outcome.ok


@app.command("list")
def list_backups(
    job: Annotated[str | None, typer.Argument(help="only this job")] = None,
    config: ConfigOption = None,
    output: FormatOption = "text",
) -> None:
    """Backups per job, with their copies per destination."""
    cfg = _config(config)
    fmt = _format(output)
    catalog = _catalog(cfg)
    try:
        listing = {name: catalog.entries(name) for name in _jobs(cfg, job)}
        restores = {name: catalog.restores(name) for name in listing}
    except CatalogError as exc:
        fail(str(exc), FAILED)
    finally:
        catalog.close()
    if fmt == "json":
        typer.echo(views.list_json(listing, restores))
        return
    for name, entries in listing.items():
        _echo(views.list_lines(name, entries, restores[name]))
        _echo(_forecast_lines(cfg, name))


def _forecast_lines(cfg: BackupConfig, job: str) -> list[str]:
    """The next backup's size against each destination's free space (forecast.py)."""
    from stackwatch.backup import forecast

    catalog = _catalog(cfg)
    try:
        estimate = forecast.history(catalog, job)
        offsite = forecast.recent(catalog.space_measured(), time.time())
    finally:
        catalog.close()
    found = [] if estimate is None else forecast.rooms(Host(), cfg, job, estimate, offsite)
    return [printable(line) for line in forecast.forecast_lines(estimate, found)]


@app.command()
def verify(
    backup_id: Annotated[
        str | None, typer.Argument(help="backup to verify (default: newest good of each job)")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Restore into a throwaway server; check every table, compare rows and checksums."""
    from stackwatch.backup.verify import verify_backup

    cfg = _config(config)
    host = Host()
    catalog = _catalog(cfg)
    try:
        ids, failed = _to_verify(cfg, catalog, backup_id)
        for one in ids:
            outcome = verify_backup(cfg, catalog, one, host, _progress_writer())
            _echo_report(outcome.report())
            typer.echo(f"verify took {outcome.seconds:.1f} s")
            failed |= not outcome.ok
    except CatalogError as exc:
        fail(str(exc), FAILED)
    finally:
        catalog.close()
    raise typer.Exit(FAILED if failed else OK)


def _to_verify(
    cfg: BackupConfig, catalog: Catalog, backup_id: str | None
) -> tuple[list[str], bool]:
    """The backups to verify (the one named, else each job's newest good one), and whether a
    job has none."""
    if backup_id is not None:
        return [backup_id], False
    ids, missing = [], False
    for name in cfg.jobs:
        newest = catalog.job_summary(name).newest_good
        if newest is None:
            typer.echo(printable(f"job {name}: no good backup to verify"))
            missing = True
        else:
            ids.append(newest.id)
    return ids, missing


@app.command()
def restore(
    backup_id: Annotated[
        str | None, typer.Argument(help="backup to restore (default: the job's newest good)")
    ] = None,
    job: Annotated[str | None, typer.Option("--job", help="whose newest good backup")] = None,
    database: Annotated[
        list[str] | None, typer.Option("--database", help="only this database (repeatable)")
    ] = None,
    as_name: Annotated[
        str | None, typer.Option("--as", help="restore the one database under this new name")
    ] = None,
    source: Annotated[
        str | None, typer.Option("--from", help="take the copy on this destination")
    ] = None,
    with_users: Annotated[bool, typer.Option("--with-users", help="users and grants too")] = False,
    replace: Annotated[
        bool, typer.Option("--replace", help="drop and restore databases that hold tables")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="check and say, change nothing")
    ] = False,
    to_time: Annotated[
        str | None,
        typer.Option("--to-time", help="replay archived binary logs up to this ISO 8601 time"),
    ] = None,
    to_gtid: Annotated[
        str | None,
        typer.Option("--to-gtid", help="replay them up to and including this GTID (list)"),
    ] = None,
    no_binlog: Annotated[
        bool,
        typer.Option("--no-binlog", help="keep the restore out of the binary log (no replica)"),
    ] = False,
    datadir: Annotated[
        str | None,
        typer.Option("--datadir", help="a physical backup: into this empty data directory"),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Restore databases from a backup whose copy matches its SHA-256 (several at once)."""
    from stackwatch.backup.restore import (
        RestoreError,
        RestoreRequest,
        RestoreUsage,
        restore_backup,
    )

    cfg = _config(config)
    request = RestoreRequest(
        backup_id,
        job,
        tuple(database or ()),
        as_name,
        source,
        with_users,
        replace,
        dry_run,
        binlog=not no_binlog,
        to_time=to_time,
        datadir=datadir,
        to_gtid=to_gtid,
    )
    progress = _progress_writer()
    try:
        outcome = restore_backup(cfg, request, Host(), progress)
    except RestoreUsage as exc:
        usage_error(str(exc))
    except RestoreError as exc:
        fail(printable(str(exc)), FAILED)
    except LockBusy as exc:
        fail(str(exc), BUSY)
    _echo_report(outcome.report())
    raise typer.Exit(OK if outcome.ok else FAILED)


def _progress_writer() -> Callable[[str], None] | None:
    """Progress goes to stderr only when it is a terminal (a cron mail gets the report alone)."""
    if not sys.stderr.isatty():
        return None

    def write(text: str) -> None:
        sys.stderr.write(text)
        sys.stderr.flush()

    return write


@app.command()
def binlogs(
    job: Annotated[str | None, typer.Argument(help="only this job")] = None,
    stream: Annotated[
        bool,
        typer.Option("--stream", help="copy them as written, archive each as it closes (runs on)"),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Flush the binary log and archive every closed one (jobs with point_in_time = true)."""
    from stackwatch.backup.binlogs import BinlogError, archive

    cfg = _config(config)
    names = [n for n in _jobs(cfg, job) if cfg.jobs[n].point_in_time]
    if not names:
        usage_error("no job with point_in_time = true")
    if stream:
        _stream(cfg, names)
    catalog = _catalog(cfg)
    failed = False
    try:
        for name in names:
            failed |= not _archive_one(cfg, name, catalog, archive, BinlogError)
    finally:
        catalog.close()
    raise typer.Exit(FAILED if failed else OK)


def _archive_one(
    cfg: BackupConfig,
    name: str,
    catalog: Catalog,
    archive: Callable[[BackupConfig, str, Host, Catalog], list[str]],
    error: type[Exception],
) -> bool:
    from stackwatch.backup.lock import job_lock

    try:
        with job_lock(cfg.lock_dir, name):
            done = archive(cfg, name, Host(), catalog)
    except LockBusy as exc:
        fail(str(exc), BUSY)
    except (error, CatalogError, OSError) as exc:
        typer.echo(printable(f"job {name}: binary logs FAILED: {exc}"))
        return False
    typer.echo(printable(f"job {name}: archived {len(done)} binary logs {' '.join(done)}"))
    from stackwatch.backup.pitr import span_lines

    _echo(printable(f"  {line}") for line in span_lines(catalog, name, done))
    return True


def _stream(cfg: BackupConfig, names: list[str]) -> None:
    """``binlogs --stream``: one job, until SIGTERM or Ctrl-C (exit 0) or the copy ends (1)."""
    import signal

    from stackwatch.backup.binlog_stream import stream
    from stackwatch.backup.binlogs import BinlogError

    if len(names) != 1:
        usage_error(f"--stream follows one job: name it ({', '.join(names)})")
    asked: list[int] = []
    signal.signal(signal.SIGTERM, lambda number, _frame: asked.append(number))
    catalog = _catalog(cfg)
    try:
        stream(cfg, names[0], Host(), catalog, lambda: bool(asked), _say)
    except KeyboardInterrupt:
        raise typer.Exit(OK) from None
    except (BinlogError, CatalogError, OSError) as exc:
        fail(printable(f"job {names[0]}: binary log stream FAILED: {exc}"), FAILED)
    finally:
        catalog.close()
    raise typer.Exit(OK)


def _say(line: str) -> None:
    typer.echo(printable(line))


@app.command()
def prune(
    job: Annotated[str | None, typer.Argument(help="only this job")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="say what would go")] = False,
    config: ConfigOption = None,
) -> None:
    """Apply retention alone (restic forget rules, decided from the catalog)."""
    from stackwatch.backup.job import prune as prune_job

    cfg = _config(config)
    host = Host()
    failed = False
    for name in _jobs(cfg, job):
        try:
            forgotten, kept, errors = prune_job(cfg, name, dry_run, host)
        except LockBusy as exc:
            fail(str(exc), BUSY)
        except CatalogError as exc:
            fail(str(exc), FAILED)
        _echo(views.prune_lines(name, forgotten, kept, errors, dry_run))
        failed |= bool(errors)
    raise typer.Exit(FAILED if failed else OK)


@app.command()
def status(config: ConfigOption = None, output: FormatOption = "text") -> None:
    """Freshness, size and copies of each job's newest good backup (the facts the backup-age
    check judges)."""
    cfg = _config(config)
    fmt = _format(output)
    catalog = _catalog(cfg)
    try:
        summaries = [catalog.job_summary(name) for name in cfg.jobs]
    except CatalogError as exc:
        fail(str(exc), FAILED)
    finally:
        catalog.close()
    now = time.time()
    if fmt == "json":
        typer.echo(views.status_json(summaries, now))
    else:
        _echo(views.status_lines(summaries, now))
