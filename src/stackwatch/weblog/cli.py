"""``stackwatch weblog``: growth, top, detect, rules, follow.

Each command reads its options (the command line over ``[weblog]``), calls the function that
gathers the facts, and prints them through views.py. Paths the user gives are made absolute here
("-" stays stdin), since the Host reads absolute machine paths. Exit codes come from
core/exits.py: usage and configuration errors 2, a flood found by ``detect`` 4, failures 1.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING, Annotated

import typer

from stackwatch.cli_support import DEFAULT_STATE_DIR, fail, usage_error
from stackwatch.core import record
from stackwatch.core.exits import FAILED, FOUND, OK
from stackwatch.core.host import Host, HostError
from stackwatch.render.safe import printable
from stackwatch.weblog.formats import FormatError, LogFormat
from stackwatch.weblog.progress import on_terminal
from stackwatch.weblog.reader import LogReadError
from stackwatch.weblog.rules import UnsafeHost
from stackwatch.weblog.topcmd import (
    absolute,
    checked_output,
    duration,
    log_format_of,
    run_top,
    settings_of,
)

if TYPE_CHECKING:
    from stackwatch.weblog.apply import Blocker, BlockSpan
    from stackwatch.weblog.config import WeblogConfig
    from stackwatch.weblog.detect import DetectOptions, Finding, Timeline
    from stackwatch.weblog.reader import ScanStats

app = typer.Typer(
    rich_markup_mode=None,
    help="Web log defence: which log grows, which Referer drives it, and blocking it.",
    no_args_is_help=True,
    add_completion=False,
)

ConfigOpt = Annotated[str | None, typer.Option("--config", help="TOML configuration")]
FormatOpt = Annotated[
    str | None,
    typer.Option("--log-format", help="common, combined, vhost_combined, nginx or a LogFormat"),
]
OutOpt = Annotated[str, typer.Option("--format", help="text or json")]
PathsArg = Annotated[list[str], typer.Argument(help="log files, globs or - for stdin")]
SiteOpt = Annotated[list[str] | None, typer.Option(help="the site's own host (repeat)")]
WindowOpt = Annotated[float | None, typer.Option(help="seconds judged together")]
SERVERS = ("apache", "nginx")


# The helpers the commands share live with ``top``'s body, which runs without Typer.
_settings, _format, _duration = settings_of, log_format_of, duration
_output, _absolute = checked_output, absolute


def _within(value: float, low: float, high: float, message: str) -> None:
    if not low <= value <= high:
        usage_error(message)


def _detection(
    settings: WeblogConfig, site: list[str] | None, window: float | None
) -> tuple[list[str], DetectOptions]:
    """The site's own hosts and the detector options: the command line over [weblog]."""
    sites = list(site or settings.sites)
    if not sites:
        usage_error("--site HOST is required (the site's own host name, never flagged)")
    if window is None:
        return sites, settings.detect
    _within(window, 1, 3600, "--window must be between 1 and 3600 seconds")
    return sites, record.replace(settings.detect, window=window)


@app.command()
def growth(
    paths: Annotated[list[str], typer.Argument(help="log files or globs (quote the glob)")],
    interval: Annotated[float, typer.Option(help="seconds between the two samples")] = 5.0,
    limit: Annotated[int, typer.Option(help="rows to show")] = 20,
    output: OutOpt = "text",
) -> None:
    """Which logs grow fastest, in bytes/s and lines/s."""
    from stackwatch.weblog.growth import measure
    from stackwatch.weblog.views import growth_json, growth_text

    _output(output)
    if interval <= 0 or interval > 3600:
        usage_error("--interval must be above 0 and at most 3600 seconds")
    rows = measure(_absolute(paths), interval)
    if not rows:
        usage_error("no log file matched")
    view = growth_json if output == "json" else growth_text
    sys.stdout.write(view(rows[:limit]))


@app.command()
def top(
    paths: PathsArg,
    by: Annotated[
        str, typer.Option(help="referrer, site, referrer-site, ip, path, status, agent, vhost")
    ],
    since: Annotated[str | None, typer.Option(help="only the last DURATION (10m, 1h)")] = None,
    limit: Annotated[int, typer.Option(help="rows to show")] = 20,
    log_format: FormatOpt = None,
    config: ConfigOpt = None,
    output: OutOpt = "text",
) -> None:
    """Requests counted by one field, with shares (referrer-site: by site, hosts inside)."""
    run_top(paths, by, since, limit, log_format, config, output)


@app.command()
def detect(
    paths: PathsArg,
    site: SiteOpt = None,
    window: WindowOpt = None,
    plot: Annotated[str | None, typer.Option(help="draw requests/s to this PNG")] = None,
    html: Annotated[str | None, typer.Option(help="write a self-contained HTML report")] = None,
    state_dir: Annotated[
        str | None, typer.Option(help="follow's state: its blocks are marked on the pictures")
    ] = None,
    log_format: FormatOpt = None,
    config: ConfigOpt = None,
    output: OutOpt = "text",
) -> None:
    """Find Referer floods; exit 4 when one was found, 0 when none, 2 on usage errors."""
    from stackwatch.weblog.detect import Timeline, detect_files
    from stackwatch.weblog.views import detect_json, detect_text

    _output(output)
    settings = _settings(config)
    sites, options = _detection(settings, site, window)
    fmt = _format(log_format, settings)
    if html and "-" in paths:
        usage_error("--html reads the logs twice: name files, not - (stdin)")
    timeline = Timeline([], []) if plot or html else None
    try:
        with on_terminal(_absolute(paths)):
            findings, stats = detect_files(_absolute(paths), fmt, sites, options, timeline)
    except (LogReadError, FormatError) as exc:
        usage_error(str(exc))
    view = detect_json if output == "json" else detect_text
    sys.stdout.write(view(findings, stats))
    sys.stdout.flush()  # the report stands whatever happens to the plot
    if timeline is not None:
        image = _draw(plot or html or "", timeline, findings, sites[0], state_dir)
        if plot:
            _write(os.path.abspath(plot), image, "plot")
        if html:
            page = _html_report(_absolute(paths), fmt, findings, stats, image, sites[0])
            _write(os.path.abspath(html), page.encode(), "HTML report")
    raise typer.Exit(FOUND if findings else OK)


def _draw(
    path: str, timeline: Timeline, findings: list[Finding], site: str, state_dir: str | None
) -> bytes:
    """The picture, after the report is out; a failure is one line and exit 1."""
    from stackwatch.weblog.plot import plot_floods

    blocks = _blocks(state_dir) if state_dir else []
    try:
        return plot_floods(timeline, findings, f"requests per second, site {site}", blocks)
    except Exception as exc:  # matplotlib raises many kinds; the report is out already
        fail(f"cannot draw plot {printable(path)}: {printable(str(exc))[:200]}", FAILED)


def _blocks(state_dir: str) -> list[BlockSpan]:
    """The blocks ``follow --apply`` saved in its state directory (none when it has none)."""
    from stackwatch.core.state import StateStore
    from stackwatch.weblog.apply import block_spans
    from stackwatch.weblog.live import STATE_NAME

    store = StateStore(os.path.abspath(state_dir))
    spans = block_spans(store.load(STATE_NAME).get("blocks"))
    if not spans:
        store.warnings.append(f"no block of follow --apply saved in {state_dir}")
    for warning in store.warnings:
        sys.stderr.write(f"stackwatch: warning: {printable(warning)}\n")
    return spans


def _html_report(
    paths: list[str],
    fmt: LogFormat,
    findings: list[Finding],
    stats: ScanStats,
    image: bytes,
    site: str,
) -> str:
    from stackwatch.weblog.report import gather, page

    try:
        summary = gather(paths, fmt)
    except (LogReadError, FormatError) as exc:
        fail(f"cannot read the logs again for the HTML report: {printable(str(exc))}", FAILED)
    return page(f"Web log report, site {site}", findings, stats, summary, image)


def _write(path: str, data: bytes, what: str) -> None:
    try:
        Host().write_atomic(path, data)
    except HostError as exc:
        fail(f"cannot write {what} {printable(path)}: {printable(str(exc))}", FAILED)


def _server(server: str | None, legacy: str | None) -> str:
    """--server, or the --format it replaces (still read, with a warning)."""
    if legacy is not None:
        sys.stderr.write(
            "stackwatch: warning: weblog rules --format is deprecated; use --server "
            f"{printable(legacy)}\n"
        )
        if server is not None and server != legacy:
            usage_error(f"--server {server} and --format {legacy} disagree")
    chosen = server or legacy or "apache"
    if chosen not in SERVERS:
        usage_error("--server must be apache or nginx")
    return chosen


@app.command()
def rules(
    referrer_host: Annotated[list[str], typer.Option("--referrer-host", help="host to block")],
    server: Annotated[str | None, typer.Option(help="apache (default) or nginx")] = None,
    legacy_format: Annotated[
        str | None, typer.Option("--format", hidden=True, help="deprecated: --server")
    ] = None,
    out: Annotated[str | None, typer.Option(help="write the rules to FILE (atomically)")] = None,
) -> None:
    """Block rules refusing requests whose Referer is on these hosts (and subdomains)."""
    from stackwatch.weblog.rules import NGINX_SERVER_SNIPPET, render_rules

    chosen = _server(server, legacy_format)
    try:
        text = render_rules(referrer_host, chosen)
    except UnsafeHost as exc:
        usage_error(f"refused: {exc}")
    if out is None:
        sys.stdout.write(text)
        if chosen == "nginx":
            sys.stdout.write(f"# server block:\n{NGINX_SERVER_SNIPPET}\n")
        return
    try:
        Host().write_atomic(os.path.abspath(out), text, 0o644)
    except HostError as exc:
        fail(str(exc), FAILED)
    if chosen == "nginx":
        sys.stderr.write(f"include {out} in the http block; in each server block: "
                         f"{NGINX_SERVER_SNIPPET}\n")  # fmt: skip


def _blocker(
    settings: WeblogConfig,
    apply: str | None,
    validate_command: str | None,
    reload_command: str | None,
    ban_time: str | None,
) -> Blocker | None:
    """The Blocker --apply asks for (the command line over [weblog]), or None."""
    from stackwatch.weblog.apply import (
        DEFAULT_RELOAD,
        DEFAULT_VALIDATE,
        ApplyError,
        Blocker,
        owned_target,
        parse_target,
        split_command,
    )

    target = apply or settings.apply
    if not target:
        return None
    try:
        server, path = parse_target(target)
        validate = split_command(validate_command or settings.validate_command
                                 or DEFAULT_VALIDATE[server])  # fmt: skip
        reload = split_command(reload_command or settings.reload_command or DEFAULT_RELOAD[server])
    except ValueError as exc:
        usage_error(str(exc))
    ban = _duration(ban_time or settings.ban_time, "--ban-time")
    if ban <= 0:
        usage_error("--ban-time must be above 0")
    path = os.path.abspath(path)
    host = Host()
    try:
        target, _ = owned_target(host, path)
    except ApplyError as exc:
        usage_error(f"--apply: {printable(str(exc))}")
    if not host.is_dir(os.path.dirname(target)):
        usage_error(f"--apply: directory of {printable(target)} does not exist")
    return Blocker(server, path, validate, reload, ban, host)


def _report(line: str) -> None:
    from stackwatch.weblog.views import when

    sys.stdout.write(f"{when(time.time())} {printable(line)}\n")
    sys.stdout.flush()


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
    from stackwatch.core.state import StateStore
    from stackwatch.weblog.live import follow as run_follow
    from stackwatch.weblog.reader import expand

    settings = _settings(config)
    patterns = [p for p in _absolute(list(paths or settings.logs)) if p != "-"]
    files = expand(patterns)
    if not files:
        usage_error("name the logs to follow (or set [weblog] logs)")
    sites, options = _detection(settings, site, window)
    if not 0 < interval <= 60:
        usage_error("--interval must be above 0 and at most 60 seconds")
    _within(rescan, 1, 3600, "--rescan must be between 1 and 3600 seconds")
    _within(prime_mb, 1, 100_000, "--prime-mb must be between 1 and 100000")
    prime_seconds = _duration(prime, "--prime")
    fmt = _format(log_format, settings)
    blocker = _blocker(settings, apply, validate_command, reload_command, ban_time)
    limit = _duration(duration, "--duration") if duration else None
    store = StateStore(state_dir)
    stats = run_follow(files, fmt, sites, options, store, blocker, duration=limit,
                       interval=interval, from_start=from_start, report=_report,
                       patterns=patterns, rescan=rescan, prime_seconds=prime_seconds,
                       prime_bytes=prime_mb << 20)  # fmt: skip
    for warning in store.warnings:
        sys.stderr.write(f"stackwatch: warning: {printable(warning)}\n")
    _report(f"stopped: {stats.lines} lines read, {stats.skipped} unreadable, "
            f"{len(stats.floods)} flooding Referer sites seen")  # fmt: skip
