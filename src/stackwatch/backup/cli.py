"""``stackwatch backup``: run, list, verify, prune, status.

Exit codes: 0 success, 1 a backup, copy or verification failed, 2 a configuration or usage error,
75 the job is already running (EX_TEMPFAIL: try again later).
"""

from __future__ import annotations

import time
from typing import Annotated

import typer

from stackwatch.backup.catalog import Catalog, CatalogError
from stackwatch.backup.config import BackupConfig, load_backup_config
from stackwatch.backup.lock import LockBusy
from stackwatch.cli_support import fail, load_config_or_exit
from stackwatch.core.config import ConfigError

app = typer.Typer(
    help="MySQL/MariaDB backups that can be trusted: dump, copy, verify, retain.",
    no_args_is_help=True,
    add_completion=False,
)

ConfigOption = Annotated[str | None, typer.Option("--config", help="stackwatch TOML file")]
CONFIG_ERROR = 2
BUSY = 75


def _config(path: str | None) -> BackupConfig:
    config = load_config_or_exit(path, CONFIG_ERROR)
    try:
        cfg = load_backup_config(config)
    except ConfigError as exc:
        fail(str(exc), CONFIG_ERROR)
    if not cfg.jobs:
        fail(f"{config.where('backup', 'jobs')}: no backup job configured", CONFIG_ERROR)
    return cfg


def _jobs(cfg: BackupConfig, job: str | None) -> list[str]:
    if job is None:
        return list(cfg.jobs)
    if job not in cfg.jobs:
        fail(f"unknown job {job!r}; configured: {', '.join(cfg.jobs)}", CONFIG_ERROR)
    return [job]


def _catalog(cfg: BackupConfig, readonly: bool = False) -> Catalog:
    try:
        return Catalog(cfg.catalog, readonly=readonly)
    except CatalogError as exc:
        fail(str(exc), 1)


def _when(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else "-"


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


@app.command()
def run(
    job: Annotated[str | None, typer.Argument(help="job to run (default: every job)")] = None,
    config: ConfigOption = None,
) -> None:
    """Dump, compress, checksum, copy to every destination, record, apply retention, notify."""
    from stackwatch.backup.job import run_job
    from stackwatch.backup.verify import verify_backup

    cfg = _config(config)
    failed = False
    for name in _jobs(cfg, job):
        try:
            outcome = run_job(cfg, name)
        except LockBusy as exc:
            fail(str(exc), BUSY)
        except (CatalogError, OSError) as exc:
            fail(f"job {name}: {exc}", 1)
        typer.echo(outcome.report())
        failed |= not outcome.ok
        if outcome.ok and outcome.backup_id and cfg.jobs[name].verify_after_run:
            catalog = _catalog(cfg)
            try:
                result = verify_backup(cfg, catalog, outcome.backup_id)
            finally:
                catalog.close()
            typer.echo(result.report())
            failed |= not result.ok
    raise typer.Exit(1 if failed else 0)


@app.command("list")
def list_backups(
    job: Annotated[str | None, typer.Argument(help="only this job")] = None,
    config: ConfigOption = None,
) -> None:
    """Backups per job, with their copies per destination."""
    cfg = _config(config)
    catalog = _catalog(cfg)
    try:
        for name in _jobs(cfg, job):
            typer.echo(f"job {name}")
            backups = catalog.backups(job=name)
            if not backups:
                typer.echo("  no backups")
            for b in backups:
                copies = ", ".join(
                    f"{c.destination}{'(off-site)' if c.offsite else ''}={c.status}"
                    for c in catalog.copies(b.id)
                )
                line = f"  {b.id}  {_when(b.started)}  {b.status:<8} {_size(b.size):>10}  {copies}"
                if b.lock_seconds is not None:
                    line += f"  lock {b.lock_seconds:.3f} s"
                if b.error:
                    line += f"  [{b.error}]"
                typer.echo(line)
    finally:
        catalog.close()


@app.command()
def verify(
    backup_id: Annotated[
        str | None, typer.Argument(help="backup to verify (default: newest good of each job)")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Restore into a scratch database; compare every table's rows and checksum with dump time."""
    from stackwatch.backup.verify import verify_backup

    cfg = _config(config)
    catalog = _catalog(cfg)
    failed = False
    try:
        if backup_id is not None:
            ids = [backup_id]
        else:
            ids = []
            for name in cfg.jobs:
                good = catalog.backups(job=name, status="good")
                if good:
                    ids.append(good[0].id)
                else:
                    typer.echo(f"job {name}: no good backup to verify")
                    failed = True
        for one in ids:
            try:
                outcome = verify_backup(cfg, catalog, one)
            except CatalogError as exc:
                fail(str(exc), 1)
            typer.echo(outcome.report())
            typer.echo(f"verify took {outcome.seconds:.1f} s")
            failed |= not outcome.ok
    finally:
        catalog.close()
    raise typer.Exit(1 if failed else 0)


@app.command()
def prune(
    job: Annotated[str | None, typer.Argument(help="only this job")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="say what would go")] = False,
    config: ConfigOption = None,
) -> None:
    """Apply retention alone (restic forget rules, decided from the catalog)."""
    from stackwatch.backup.job import prune as prune_job

    cfg = _config(config)
    failed = False
    for name in _jobs(cfg, job):
        try:
            forgotten, kept, errors = prune_job(cfg, name, dry_run)
        except LockBusy as exc:
            fail(str(exc), BUSY)
        except CatalogError as exc:
            fail(str(exc), 1)
        verb = "would delete" if dry_run else "deleted"
        typer.echo(f"job {name}: {verb} {len(forgotten)}, keep {len(kept)}")
        for k in kept:
            typer.echo(f"  keep   {k}")
        for f in forgotten:
            typer.echo(f"  {verb} {f}")
        for e in errors:
            typer.echo(f"  error: {e}")
        failed |= bool(errors)
    raise typer.Exit(1 if failed else 0)


@app.command()
def status(config: ConfigOption = None) -> None:
    """Freshness, size and copies of each job's newest good backup."""
    cfg = _config(config)
    catalog = _catalog(cfg)
    now = time.time()
    try:
        for name in cfg.jobs:
            good = catalog.backups(job=name, status="good")
            total = sum(b.size for b in good)
            if not good:
                typer.echo(f"{name}: no good backup")
                continue
            last = good[0]
            copies = [c for c in catalog.copies(last.id) if c.status == "good"]
            offsite = sum(1 for c in copies if c.offsite)
            ver = catalog.last_verification(job=name)
            verified = (
                "never verified"
                if ver is None
                else f"last verify {'ok' if ver.ok else 'FAILED'} {_when(ver.at)}"
            )
            lock = (
                "" if last.lock_seconds is None else f", writers locked {last.lock_seconds:.3f} s"
            )
            typer.echo(
                f"{name}: newest {last.id} {(now - last.started) / 3600:.1f} h old, "
                f"{len(copies)} copies ({offsite} off-site), {_size(last.size)}{lock}; "
                f"{len(good)} backups kept, {_size(total)} in all; {verified}"
            )
    finally:
        catalog.close()
