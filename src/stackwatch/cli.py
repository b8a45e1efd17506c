"""The command line: parses arguments, calls one module, renders; no logic of its own.

``stackwatch check`` is what Nagios, NRPE and cron run every minute on every host, so its few
options are read by a small parser of its own and it imports only the checks asked for: Typer,
Rich and argparse stay off that path. The command groups of the capabilities use Typer.
"""

# No "from __future__ import annotations": Typer reads the annotations of the commands defined
# inside _typer_app, where the typer module is only a local name.
import importlib
import sys
import time
from collections.abc import Sequence

from stackwatch.core.config import DEFAULT_CONFIG
from stackwatch.core.exits import INTERRUPTED, OK, USAGE, fail, plugin_error
from stackwatch.core.state import DEFAULT_STATE_DIR
from stackwatch.render import FORMATS, render

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs a Nagios call more than a check: for the type checker only
    from typing import Any, NoReturn

CHECK_HELP = f"""usage: stackwatch check [NAME ...] [options]

Run the named checks, or every check that applies to this machine.

options:
  --root DIR           read /proc, /sys and files under DIR (default /)
  --config FILE        TOML configuration (default {DEFAULT_CONFIG})
  --state-dir DIR      state between runs (default {DEFAULT_STATE_DIR}, or this user's own
                       where that is not writable)
  --format FORMAT      {" | ".join(FORMATS)} (default text)
  -w, --warning RANGE  warning range of the main figure, one check only
  -c, --critical RANGE critical range of the main figure, one check only
  --statsd HOST:PORT   also send metrics as StatsD gauges
  --statsd-prefix P    StatsD name prefix (default stackwatch.HOSTNAME)
  --textfile-dir DIR   also write DIR/stackwatch.prom for node_exporter
  --timeout SECONDS    overall limit (default 30)
  -h, --help           show this help
"""

# option -> attribute; every option takes one value. (argparse costs ~10 ms at every start,
# a third of what one Nagios call may cost; this is the whole grammar of `check`.)
CHECK_OPTIONS = {
    "--root": "root",
    "--config": "config",
    "--state-dir": "state_dir",
    "--format": "format",
    "-w": "warning",
    "--warning": "warning",
    "-c": "critical",
    "--critical": "critical",
    "--statsd": "statsd",
    "--statsd-prefix": "statsd_prefix",
    "--textfile-dir": "textfile_dir",
    "--timeout": "timeout",
}


class CheckArgs:
    """The parsed command line of ``stackwatch check``."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.root = "/"
        self.timeout = 30.0
        self.config = self.state_dir = self.format = self.warning = self.critical = None
        self.statsd = self.statsd_prefix = self.textfile_dir = None


def parse_check_args(argv: Sequence[str]) -> CheckArgs:
    """``check``'s arguments; a mistake is a usage error answered as UNKNOWN."""
    args = CheckArgs()
    words = list(argv)
    while words:
        word = words.pop(0)
        if word in ("-h", "--help"):
            sys.stdout.write(CHECK_HELP)
            raise SystemExit(OK)
        if word == "--":
            args.names += words
            break
        option, given, value = word.partition("=") if word.startswith("--") else (word, "", "")
        if option not in CHECK_OPTIONS:
            if word.startswith("-") and word != "-":
                _usage(f"unknown option {word}")
            args.names.append(word)
            continue
        if not given:
            if not words:
                _usage(f"{option} needs a value")
            value = words.pop(0)
        setattr(args, CHECK_OPTIONS[option], value)
    return _checked_args(args)


def _checked_args(args: CheckArgs) -> CheckArgs:
    if args.format is not None and args.format not in FORMATS:
        _usage(f"--format must be one of {', '.join(FORMATS)}, not {args.format!r}")
    args.timeout = _seconds(args.timeout)
    return args


def _seconds(text: object) -> float:
    """A positive, finite number of seconds."""
    import math

    try:
        value = float(text)  # type: ignore[arg-type]
    except ValueError:
        _usage(f"--timeout: not a number of seconds: {text!r}")
    if not math.isfinite(value) or value <= 0:
        _usage(f"--timeout must be a finite number of seconds above 0, not {text!r}")
    return value


def _usage(message: str) -> "NoReturn":
    sys.stderr.write("usage: stackwatch check [NAME ...] [options] (see --help)\n")
    plugin_error(message)


def run_check_command(argv: Sequence[str]) -> int:
    from stackwatch.core.engine import run_checks
    from stackwatch.core.host import Host
    from stackwatch.core.result import overall_status
    from stackwatch.core.state import StateStore

    args = parse_check_args(argv)
    checks = _checks_named(args.names)
    overrides = _thresholds(args, checks)
    store = StateStore(args.state_dir or DEFAULT_STATE_DIR, fallback=args.state_dir is None)
    config = _check_config(args.config, store.directory)
    host = Host(args.root, timeout=min(args.timeout, 10.0))
    started = time.monotonic()
    results = run_checks(checks, host, config, store, overrides, args.timeout)
    sys.stdout.write(render(results, args.format or "text"))
    for warning_text in store.warnings:
        sys.stderr.write(f"stackwatch: warning: {warning_text}\n")
    _send_elsewhere(args, results, args.timeout - (time.monotonic() - started))
    return int(overall_status(results))


def _checks_named(names: list[str]) -> "list[Any]":
    from stackwatch.core.registry import UnknownCheck, check_names, get_check

    try:
        return [get_check(n) for n in list(dict.fromkeys(names)) or check_names()]
    except UnknownCheck as exc:
        plugin_error(f"unknown check {exc.args[0]!r}; known: {', '.join(check_names())}")


def _thresholds(args: CheckArgs, checks: "list[Any]") -> "Any":
    """-w/-c, for the main figure of exactly one check."""
    from stackwatch.core.engine import Overrides
    from stackwatch.core.ranges import RangeError, parse_range

    try:
        warning = parse_range(args.warning) if args.warning is not None else None
        critical = parse_range(args.critical) if args.critical is not None else None
    except RangeError as exc:
        plugin_error(str(exc))
    if (warning or critical) and len(checks) != 1:
        plugin_error("-w/-c apply to the main figure of one check: name exactly one")
    if (warning or critical) and not checks[0].has_main_figure:
        plugin_error(f"check {checks[0].name} has no main figure for -w/-c")
    return Overrides(warning, critical)


def _check_config(path: str | None, cache_dir: str) -> "Any":
    from stackwatch.core.config import ConfigError, check_sections_known, load_config

    try:
        config = load_config(path or DEFAULT_CONFIG, required=path is not None, cache_dir=cache_dir)
        check_sections_known(config)
    except ConfigError as exc:
        plugin_error(str(exc))
    return config


def _send_elsewhere(args: CheckArgs, results: "Sequence[Any]", time_left: float) -> None:
    """The same results to node_exporter's textfile directory and to StatsD, if asked."""
    if args.textfile_dir:
        from stackwatch.render.prometheus import render_prometheus, write_textfile

        try:
            write_textfile(args.textfile_dir, render_prometheus(results))
        except OSError as exc:
            sys.stderr.write(f"stackwatch: cannot write textfile: {exc}\n")
    if args.statsd:
        import socket

        from stackwatch.render.statsd import StatsdError, send_statsd

        prefix = args.statsd_prefix or f"stackwatch.{socket.gethostname().replace('.', '_')}"
        try:
            send_statsd(results, args.statsd, prefix, timeout=max(time_left, 0.5))
        except StatsdError as exc:
            sys.stderr.write(f"stackwatch: {exc}\n")


def run_checks_command(argv: Sequence[str]) -> int:
    from stackwatch.core.registry import all_checks

    if argv and argv[0] in ("-h", "--help"):
        sys.stdout.write("usage: stackwatch checks\n\nList every check.\n")
        return OK
    if argv:
        fail(f"checks takes no arguments, got {' '.join(argv)}", USAGE)
    checks = all_checks()
    width = max(len(c.name) for c in checks)
    for check in checks:
        sys.stdout.write(f"{check.name:<{width}}  {check.description}\n")
    return 0


def _typer_app() -> "Any":
    import typer

    app = typer.Typer(
        rich_markup_mode=None,
        name="stackwatch",
        help="Keeps the servers of a cloud or hosting provider healthy.",
        no_args_is_help=True,
        add_completion=False,
    )
    forward = {"ignore_unknown_options": True, "allow_extra_args": True}

    @app.command("check", context_settings=forward, add_help_option=False)
    def check(ctx: typer.Context) -> None:
        """Run checks (Nagios plugin, JSON, Prometheus, text); see stackwatch check --help."""
        raise SystemExit(run_check_command(ctx.args))

    @app.command("checks", context_settings=forward, add_help_option=False)
    def checks(ctx: typer.Context) -> None:
        """List every check with its one-line description."""
        raise SystemExit(run_checks_command(ctx.args))

    return app


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args and args[0] == "check":
            return run_check_command(args[1:])
        if args and args[0] == "checks":
            return run_checks_command(args[1:])
        code = _quick_command(args)
        if code is not None:
            return code
        app = _typer_app()
        groups = command_groups()
        wanted = [args[0]] if args and args[0] in groups else list(groups)
        for name in wanted:
            app.add_typer(importlib.import_module(groups[name]).app, name=name)
        app(args=args, prog_name="stackwatch", standalone_mode=True)
    except KeyboardInterrupt:
        sys.stderr.write("stackwatch: interrupted\n")
        return INTERRUPTED
    except BrokenPipeError:
        return OK
    return OK


def _quick_command(args: "list[str]") -> "int | None":
    """A capability's Typer-free run of ``GROUP COMMAND ...`` (CAPABILITY.quick_commands): its
    exit code, or None when it has none or leaves this command line to Typer."""
    if len(args) < 2:
        return None
    from stackwatch.core.capability import capability_named

    capability = capability_named(args[0])
    target = capability.quick_commands.get(args[1]) if capability else None
    if capability is None or target is None:
        return None
    module, _, function = capability.module(target).partition(":")
    code: int | None = getattr(importlib.import_module(module), function)(args[2:])
    return code


def command_groups() -> dict[str, str]:
    """Command group name -> module with its Typer ``app``, as the capabilities declare them."""
    from stackwatch.core.capability import capabilities

    groups = {"config": "stackwatch.config_cli"}
    for capability in capabilities():
        if capability.commands_module:
            groups[capability.name] = capability.commands_module
    return groups


if __name__ == "__main__":
    raise SystemExit(main())
