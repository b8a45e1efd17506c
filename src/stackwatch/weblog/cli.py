"""``stackwatch weblog``: growth, top, detect, rules, follow."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from stackwatch.cli_support import DEFAULT_STATE_DIR, fail, load_config_or_exit
from stackwatch.core.config import ConfigError
from stackwatch.weblog.config import WeblogConfig, parse_duration, weblog_config
from stackwatch.weblog.formats import FormatError, LogFormat, get_format
from stackwatch.weblog.reader import LogReadError
from stackwatch.weblog.rules import UnsafeHost

if TYPE_CHECKING:
    from stackwatch.weblog.detect import DetectOptions

app = typer.Typer(
    help="Web log defence: which log grows, which Referer drives it, and blocking it.",
    no_args_is_help=True,
    add_completion=False,
)

USAGE = 2
ConfigOpt = Annotated[str | None, typer.Option("--config", help="TOML configuration")]
FormatOpt = Annotated[
    str | None,
    typer.Option("--log-format", help="common, combined, vhost_combined, nginx or a LogFormat"),
]
OutOpt = Annotated[str, typer.Option("--format", help="text or json")]
PathsArg = Annotated[list[str], typer.Argument(help="log files, globs or - for stdin")]
SiteOpt = Annotated[list[str] | None, typer.Option(help="the site's own host (repeat)")]
WindowOpt = Annotated[float | None, typer.Option(help="seconds judged together")]


def _usage(message: str) -> NoReturn:
    fail(message, USAGE)


def _settings(config_path: str | None) -> WeblogConfig:
    config = load_config_or_exit(config_path, USAGE)
    try:
        return weblog_config(config)
    except ConfigError as exc:
        _usage(str(exc))


def _format(option: str | None, settings: WeblogConfig) -> LogFormat:
    try:
        return get_format(option or settings.format)
    except FormatError as exc:
        _usage(str(exc))


def _duration(value: str, what: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        _usage(f"{what}: {exc}")


def _output(value: str) -> str:
    if value not in ("text", "json"):
        _usage(f"--format must be text or json, not {value!r}")
    return value


def _detection(
    settings: WeblogConfig, site: list[str] | None, window: float | None
) -> tuple[list[str], DetectOptions]:
    """The site's own hosts and the detector options: the command line over [weblog]."""
    sites = list(site or settings.sites)
    if not sites:
        _usage("--site HOST is required (the site's own host name, never flagged)")
    if window is None:
        return sites, settings.detect
    if window < 1 or window > 3600:
        _usage("--window must be between 1 and 3600 seconds")
    return sites, dataclasses.replace(settings.detect, window=window)


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


@app.command()
def growth(
    paths: Annotated[list[str], typer.Argument(help="log files or globs (quote the glob)")],
    interval: Annotated[float, typer.Option(help="seconds between the two samples")] = 5.0,
    limit: Annotated[int, typer.Option(help="rows to show")] = 20,
    output: OutOpt = "text",
) -> None:
    """Which logs grow fastest, in bytes/s and lines/s."""
    from stackwatch.weblog.growth import measure

    _output(output)
    if interval <= 0 or interval > 3600:
        _usage("--interval must be above 0 and at most 3600 seconds")
    rows = measure(paths, interval)
    if not rows:
        _usage("no log file matched")
    if output == "json":
        sys.stdout.write(json.dumps([r.__dict__ for r in rows[:limit]], indent=2) + "\n")
        return
    sys.stdout.write(f"{'bytes/s':>12} {'lines/s':>10} {'size':>14}  log\n")
    for r in rows[:limit]:
        note = " (rotated)" if r.rotated else f" ({r.error})" if r.error else ""
        sys.stdout.write(
            f"{r.bytes_per_s:12.0f} {r.lines_per_s:10.1f} {r.size:14d}  {r.path}{note}\n"
        )


@app.command()
def top(
    paths: PathsArg,
    by: Annotated[str, typer.Option(help="referrer, site, ip, path, status, agent, vhost")],
    since: Annotated[str | None, typer.Option(help="only the last DURATION (10m, 1h)")] = None,
    limit: Annotated[int, typer.Option(help="rows to show")] = 20,
    log_format: FormatOpt = None,
    config: ConfigOpt = None,
    output: OutOpt = "text",
) -> None:
    """Requests counted by one field, with shares."""
    from stackwatch.weblog.top import KEYS, count_by

    _output(output)
    if by not in KEYS:
        _usage(f"--by must be one of {', '.join(KEYS)}")
    if limit < 1:
        _usage("--limit must be at least 1")
    settings = _settings(config)
    fmt = _format(log_format, settings)
    start = time.time() - _duration(since, "--since") if since else None
    try:
        result = count_by(paths, fmt, by, since=start, limit=limit)
    except (LogReadError, FormatError) as exc:
        fail(str(exc), USAGE)
    if output == "json":
        doc = {
            "by": by,
            "total": result.total,
            "lines": result.stats.lines,
            "skipped": result.stats.skipped,
            "rows": [{"key": k, "count": n} for k, n in result.rows],
        }
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    total = result.total or 1
    out = [f"{'count':>10} {'share':>7}  {by}"]
    for key, count in result.rows:
        out.append(f"{count:10d} {100.0 * count / total:6.2f}%  {key}")
    out.append(f"{result.total} requests, {result.stats.skipped} unreadable lines skipped")
    sys.stdout.write("\n".join(out) + "\n")


@app.command()
def detect(
    paths: PathsArg,
    site: SiteOpt = None,
    window: WindowOpt = None,
    plot: Annotated[str | None, typer.Option(help="draw requests/s to this PNG")] = None,
    log_format: FormatOpt = None,
    config: ConfigOpt = None,
    output: OutOpt = "text",
) -> None:
    """Find Referer floods; exit 1 when one was found, 0 when none, 2 on errors."""
    from stackwatch.weblog.detect import Timeline, detect_files

    _output(output)
    settings = _settings(config)
    sites, options = _detection(settings, site, window)
    fmt = _format(log_format, settings)
    timeline = Timeline([], []) if plot else None
    try:
        findings, stats = detect_files(paths, fmt, sites, options, timeline)
    except (LogReadError, FormatError) as exc:
        fail(str(exc), USAGE)
    if plot and timeline is not None:
        from stackwatch.weblog.plot import plot_floods

        try:
            plot_floods(plot, timeline, findings, f"requests per second, site {sites[0]}")
        except (OSError, ValueError) as exc:
            fail(f"cannot write plot {plot}: {exc}", 1)
    if output == "json":
        doc = {
            "lines": stats.lines,
            "skipped": stats.skipped,
            "late": stats.late,
            "findings": [f.as_dict() for f in findings],
        }
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        out = []
        for f in findings:
            d = f.as_dict()
            out.append(
                f"FLOOD Referer host {f.host}: {f.requests} requests, peak {d['peak_rate']} req/s, "
                f"{f.ips} client IPs, {_when(f.first_seen)} .. {_when(f.last_seen)} UTC"
            )
            for path, n in f.paths.most_common(3):
                out.append(f"    {n:8d}  {path}")
        if not findings:
            out.append("no Referer flood found")
        out.append(f"{stats.lines} lines read, {stats.skipped} unreadable lines skipped")
        if stats.late:
            out.append(
                f"{stats.late} requests logged a --window or more late "
                "(counted in its oldest second)"
            )
        if findings:
            hosts = " ".join(f"--referrer-host {h}" for h in sorted({f.host for f in findings}))
            out.append(f"block with: stackwatch weblog rules {hosts} --format apache")
        sys.stdout.write("\n".join(out) + "\n")
    raise typer.Exit(1 if findings else 0)


@app.command()
def rules(
    referrer_host: Annotated[list[str], typer.Option("--referrer-host", help="host to block")],
    server: Annotated[str, typer.Option("--format", help="apache or nginx")] = "apache",
    out: Annotated[str | None, typer.Option(help="write the rules to FILE (atomically)")] = None,
) -> None:
    """Block rules refusing requests whose Referer is on these hosts (and subdomains)."""
    from stackwatch.core.files import write_atomic
    from stackwatch.weblog.rules import NGINX_SERVER_SNIPPET, render_rules

    if server not in ("apache", "nginx"):
        _usage("--format must be apache or nginx")
    try:
        text = render_rules(referrer_host, server)
    except UnsafeHost as exc:
        _usage(f"refused: {exc}")
    if out is None:
        sys.stdout.write(text)
        if server == "nginx":
            sys.stdout.write(f"# server block:\n{NGINX_SERVER_SNIPPET}\n")
        return
    try:
        write_atomic(out, text, 0o644)
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}", 1)
    if server == "nginx":
        sys.stderr.write(f"include {out} in the http block; in each server block: "
                         f"{NGINX_SERVER_SNIPPET}\n")  # fmt: skip


@app.command()
def follow(
    paths: Annotated[
        list[str] | None, typer.Argument(help="log files (default [weblog] logs)")
    ] = None,
    site: SiteOpt = None,
    apply: Annotated[str | None, typer.Option(help="apache:PATH or nginx:PATH")] = None,
    reload_command: Annotated[str | None, typer.Option(help="command that reloads")] = None,
    validate_command: Annotated[str | None, typer.Option(help="config test command")] = None,
    ban_time: Annotated[str | None, typer.Option(help="how long a block lasts (1h)")] = None,
    window: WindowOpt = None,
    state_dir: Annotated[str, typer.Option(help="offsets and blocks")] = DEFAULT_STATE_DIR,
    duration: Annotated[str | None, typer.Option(help="stop after DURATION")] = None,
    interval: Annotated[float, typer.Option(help="seconds between polls")] = 0.5,
    from_start: Annotated[bool, typer.Option(help="read new files from the start")] = False,
    prime: Annotated[
        str, typer.Option(help="history read at start to warm the baselines (0: none)")
    ] = "10m",
    prime_mb: Annotated[int, typer.Option(help="at most this many MB of that history")] = 64,
    rescan: Annotated[float, typer.Option(help="seconds between glob re-expansions")] = 10.0,
    log_format: FormatOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Detect Referer floods live, and with --apply keep them blocked."""
    from stackwatch.core.host import Host
    from stackwatch.core.state import StateStore
    from stackwatch.weblog.apply import (
        DEFAULT_RELOAD,
        DEFAULT_VALIDATE,
        Blocker,
        parse_target,
        split_command,
    )
    from stackwatch.weblog.live import follow as run_follow
    from stackwatch.weblog.reader import expand

    settings = _settings(config)
    files = [p for p in expand(paths or settings.logs) if p != "-"]
    if not files:
        _usage("name the logs to follow (or set [weblog] logs)")
    sites, options = _detection(settings, site, window)
    if interval <= 0 or interval > 60:
        _usage("--interval must be above 0 and at most 60 seconds")
    if rescan < 1 or rescan > 3600:
        _usage("--rescan must be between 1 and 3600 seconds")
    if prime_mb < 1 or prime_mb > 100_000:
        _usage("--prime-mb must be between 1 and 100000")
    prime_seconds = _duration(prime, "--prime")
    fmt = _format(log_format, settings)
    blocker = None
    target = apply or settings.apply
    if target:
        try:
            server, path = parse_target(target)
            validate = split_command(validate_command or settings.validate_command
                                     or DEFAULT_VALIDATE[server])  # fmt: skip
            reload_text = reload_command or settings.reload_command or DEFAULT_RELOAD[server]
            reload = split_command(reload_text)
        except ValueError as exc:
            _usage(str(exc))
        ban = _duration(ban_time or settings.ban_time, "--ban-time")
        if ban <= 0:
            _usage("--ban-time must be above 0")
        if not Path(path).parent.is_dir():
            _usage(f"--apply: directory of {path} does not exist")
        blocker = Blocker(server, path, validate, reload, ban, Host())
    limit = _duration(duration, "--duration") if duration else None
    store = StateStore(state_dir)

    def report(line: str) -> None:
        sys.stdout.write(f"{_when(time.time())} {line}\n")
        sys.stdout.flush()

    stats = run_follow(files, fmt, sites, options, store, blocker, duration=limit,
                       interval=interval, from_start=from_start, report=report,
                       patterns=paths or settings.logs, rescan=rescan,
                       prime_seconds=prime_seconds, prime_bytes=prime_mb << 20)  # fmt: skip
    for warning in store.warnings:
        sys.stderr.write(f"stackwatch: warning: {warning}\n")
    report(f"stopped: {stats.lines} lines read, {stats.skipped} unreadable, "
           f"{len(stats.floods)} flooding Referer hosts seen")  # fmt: skip
