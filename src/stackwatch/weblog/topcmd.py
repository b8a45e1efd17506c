"""``stackwatch weblog top`` without Typer: its body, and a reader of its plain command lines.

Counting two million lines takes a few tenths of a second, and importing Typer and building
the command group took a tenth of that again. So the command line's entry (cli.py) hands
``weblog top ...`` to ``quick`` first, through the capability's ``quick_commands``; a command
line this small reader does not know for sure (help, a mistake, an option it does not know, an
option given twice) is left to Typer, which answers it as it always did. Both run ``run_top``.
"""

from __future__ import annotations

import os
import sys
import time

from stackwatch.cli_support import load_settings, plain_command_line, plain_int, usage_error
from stackwatch.core.durations import DurationError, parse_duration

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from stackwatch.weblog.config import WeblogConfig
    from stackwatch.weblog.formats import LogFormat

# Option -> name of run_top's argument; each takes one value (see weblog/cli.py's ``top``).
OPTIONS = {
    "--by": "by",
    "--since": "since",
    "--limit": "limit",
    "--log-format": "log_format",
    "--config": "config",
    "--format": "output",
}


def quick(argv: Sequence[str]) -> int | None:
    """Run ``weblog top`` from its arguments (after ``weblog top``), or None to leave them to
    Typer."""
    parsed = parse(argv)
    if parsed is None:
        return None
    paths, options = parsed
    count = plain_int(options.pop("limit", "20"))
    if count is None:
        return None  # Typer says what is wrong with it
    run_top(paths, count=count, **options)
    return 0


def parse(argv: Sequence[str]) -> tuple[list[str], dict[str, str]] | None:
    """(paths, options by run_top's names) of a plain command line with ``--by``; None for
    anything else."""
    parsed = plain_command_line(argv, OPTIONS)
    return parsed if parsed is not None and "by" in parsed[1] else None


def run_top(
    paths: list[str],
    by: str,
    since: str | None = None,
    count: int = 20,
    log_format: str | None = None,
    config: str | None = None,
    output: str = "text",
) -> None:
    """Requests counted by one field, printed (the command's whole work, after its options)."""
    from stackwatch.weblog.formats import FormatError
    from stackwatch.weblog.progress import on_terminal
    from stackwatch.weblog.reader import LogReadError
    from stackwatch.weblog.top import KEYS

    checked_output(output)
    if by not in (*KEYS, "referrer-site"):
        usage_error(f"--by must be one of {', '.join(KEYS)}, referrer-site")
    if count < 1:
        usage_error("--limit must be at least 1")
    fmt = log_format_of(log_format, settings_of(config))
    start = time.time() - duration(since, "--since") if since else None
    try:
        with on_terminal(absolute(paths)):
            text = _counted(absolute(paths), fmt, by, start, count, output)
    except (LogReadError, FormatError) as exc:
        usage_error(str(exc))
    sys.stdout.write(text)


def _counted(
    paths: list[str], fmt: LogFormat, by: str, since: float | None, limit: int, output: str
) -> str:
    from stackwatch.weblog import views

    if by == "referrer-site":
        from stackwatch.weblog.sites import count_sites

        sites = count_sites(paths, fmt, since=since, limit=limit)
        return views.sites_json(sites) if output == "json" else views.sites_text(sites)
    from stackwatch.weblog.top import count_by

    result = count_by(paths, fmt, by, since=since, limit=limit)
    return views.top_json(result) if output == "json" else views.top_text(result)


# Shared with the Typer commands of weblog/cli.py ---------------------------------------------


def settings_of(config_path: str | None) -> WeblogConfig:
    _, settings = load_settings(config_path, "weblog")
    return settings  # type: ignore[no-any-return]


def log_format_of(option: str | None, settings: WeblogConfig) -> LogFormat:
    from stackwatch.weblog.formats import FormatError, get_format

    try:
        return get_format(option or settings.format)
    except FormatError as exc:
        usage_error(str(exc))


def duration(value: str, what: str) -> float:
    try:
        return parse_duration(value)
    except DurationError as exc:
        usage_error(f"{what}: {exc}")


def checked_output(value: str) -> str:
    if value not in ("text", "json"):
        usage_error(f"--format must be text or json, not {value!r}")
    return value


def absolute(paths: list[str]) -> list[str]:
    """The user's paths and globs as absolute machine paths; "-" (stdin) stays."""
    return [p if p == "-" else os.path.abspath(p) for p in paths]
