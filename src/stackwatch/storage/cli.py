"""``stackwatch storage baseline|import|compare``: storage measured, stored by name, compared.

Exit codes (core/exits.py): OK (0) done; FAILED (1) fio failed or a run could not be stored or
read; USAGE (2) bad arguments or configuration, a target refused (a device not asked for with
--destroy-device, or one that is mounted or swap), an iozone file without throughput lines.
"""

from __future__ import annotations

import os
import time
from typing import Annotated

import typer

from stackwatch.cli_support import load_settings, usage_error
from stackwatch.core.exits import FAILED, fail
from stackwatch.core.host import Host, HostError
from stackwatch.storage import store, views
from stackwatch.storage.fio import TargetRefused, run_fio
from stackwatch.storage.results import ResultError, Run, parse_iozone
from stackwatch.storage.settings import StorageSettings

app = typer.Typer(
    rich_markup_mode=None,
    help="Storage baselines: fio runs, iozone imports, side by side.",
    no_args_is_help=True,
    add_completion=False,
)

ConfigOption = Annotated[str | None, typer.Option("--config", help="stackwatch TOML file")]
NameOption = Annotated[str, typer.Option("--name", help="the name the run is stored under")]
ResultsOption = Annotated[
    str | None, typer.Option("--results-dir", help="where runs are stored ([storage])")
]


def _settings(config: str | None, results_dir: str | None) -> tuple[StorageSettings, str]:
    _, settings = load_settings(config, "storage")
    assert isinstance(settings, StorageSettings)
    return settings, os.path.abspath(results_dir or settings.results_dir)


def _save(host: Host, directory: str, run: Run) -> None:
    try:
        path = store.save(host, directory, run)
    except HostError as exc:
        fail(str(exc), FAILED)
    typer.echo(f"stored {run.name} in {path}")


def _name(name: str) -> str:
    try:
        return store.check_name(name)
    except ValueError as exc:
        usage_error(str(exc))


@app.command("baseline")
def baseline(
    target: Annotated[str, typer.Argument(help="a directory (files in a scratch dir) or device")],
    name: NameOption,
    jobs: Annotated[int | None, typer.Option(help="processes per test ([storage] jobs)")] = None,
    size: Annotated[str | None, typer.Option(help="file size per process, e.g. 256M")] = None,
    runtime: Annotated[int | None, typer.Option(help="seconds per test at most")] = None,
    destroy_device: Annotated[bool, typer.Option(help="a device target: write over it")] = False,
    results_dir: ResultsOption = None,
    config: ConfigOption = None,
) -> None:
    """Run fio's sequential and random tests on TARGET and store the result as NAME."""
    settings, directory = _settings(config, results_dir)
    host = Host("/")
    target = os.path.abspath(target)
    try:
        run = run_fio(
            host,
            _name(name),
            target,
            jobs=jobs or settings.jobs,
            size=size or settings.size,
            runtime=runtime or settings.runtime,
            ioengine=settings.ioengine,
            allow_device=destroy_device,
        )
    except TargetRefused as exc:
        usage_error(str(exc))
    except HostError as exc:
        fail(f"fio: {exc}", FAILED)
    typer.echo(views.compare_text([run]), nl=False)
    _save(host, directory, run)


@app.command("import")
def import_command(
    path: Annotated[str, typer.Argument(help="iozone output of a throughput run (-t N)")],
    name: NameOption,
    results_dir: ResultsOption = None,
    config: ConfigOption = None,
) -> None:
    """Store iozone's "Children see throughput" figures as NAME."""
    _, directory = _settings(config, results_dir)
    host = Host("/")
    path = os.path.abspath(path)
    try:
        data = host.read_small(path, store.MAX_BYTES * 16)
        if data is None:
            usage_error(f"{path}: no such file")
        processes, throughput = parse_iozone(data.decode("utf-8", errors="replace"))
    except (HostError, ResultError) as exc:
        usage_error(f"{path}: {exc}")
    _save(host, directory, Run(_name(name), "iozone", path, processes, throughput, {}, time.time()))


@app.command("compare")
def compare(
    names: Annotated[list[str], typer.Argument(help="stored runs; ratios are to the first")],
    plot: Annotated[str | None, typer.Option(help="also write a PNG bar chart here")] = None,
    results_dir: ResultsOption = None,
    config: ConfigOption = None,
) -> None:
    """Every test of the runs side by side: MiB/s, ratio to the first run, a bar."""
    _, directory = _settings(config, results_dir)
    host = Host("/")
    try:
        runs = [store.load(host, directory, _name(n)) for n in names]
    except HostError as exc:
        fail(str(exc), FAILED)
    typer.echo(views.compare_text(runs), nl=False)
    if plot:
        try:
            host.write_atomic(os.path.abspath(plot), views.compare_png(runs), 0o644)
        except HostError as exc:
            fail(str(exc), FAILED)
        typer.echo(f"chart written to {plot}")
