"""The command line: parses arguments, calls one module, renders; no logic of its own.

``stackwatch check`` is what Nagios, NRPE and cron run every minute on every host, so it is parsed
with argparse and imports only the checks asked for: Typer and Rich (about 60 ms of imports) stay
off that path. The other commands (``conntrack plan``, ``ovs``, ``weblog``, ``backup``) use Typer.
"""

# No "from __future__ import annotations": Typer reads the annotations of the commands defined
# inside _typer_app, where the typer module is only a local name.
import argparse
import importlib
import socket
import sys
from collections.abc import Sequence
from typing import Any

from stackwatch.cli_support import DEFAULT_CONFIG, DEFAULT_STATE_DIR, fail, load_config_or_exit

# Command groups that live in their own package: name -> module with a Typer ``app``.
SUBCOMMANDS: dict[str, str] = {
    "conntrack": "stackwatch.checks.conntrack_cli",
    "ovs": "stackwatch.ovs.cli",
    "weblog": "stackwatch.weblog.cli",
    "backup": "stackwatch.backup.cli",
}

FORMATS = ("text", "nagios", "json", "prometheus")
USAGE_ERROR = 3  # UNKNOWN: a plugin that cannot run must not look OK or CRITICAL to Nagios


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse exits 2, which Nagios reads as CRITICAL
        self.print_usage(sys.stderr)
        fail(message, USAGE_ERROR)


def _check_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="stackwatch check",
        description="Run the named checks, or every check that applies to this machine.",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="checks to run (default: all)")
    parser.add_argument("--root", default="/", help="read /proc, /sys and files under DIR")
    parser.add_argument("--config", help=f"TOML configuration (default {DEFAULT_CONFIG})")
    parser.add_argument("--state-dir", default=DEFAULT_STATE_DIR, help="state between runs")
    parser.add_argument("--format", choices=FORMATS, default=None, help="output (default text)")
    parser.add_argument("-w", "--warning", metavar="RANGE", help="warning range, one check only")
    parser.add_argument("-c", "--critical", metavar="RANGE", help="critical range, one check only")
    parser.add_argument("--statsd", metavar="HOST:PORT", help="also send metrics as StatsD gauges")
    parser.add_argument(
        "--statsd-prefix", default=None, help="StatsD name prefix (default stackwatch.HOSTNAME)"
    )
    parser.add_argument("--textfile-dir", metavar="DIR", help="write DIR/stackwatch.prom")
    parser.add_argument("--timeout", type=float, default=30.0, help="overall limit in seconds")
    parser.add_argument("--db", help="OVSDB to read (default unix:/var/run/openvswitch/db.sock)")
    return parser


def run_check_command(argv: Sequence[str]) -> int:
    from stackwatch.core.engine import Overrides, run_checks
    from stackwatch.core.host import Host
    from stackwatch.core.ranges import RangeError, parse_range
    from stackwatch.core.registry import UnknownCheck, check_names, get_check
    from stackwatch.core.result import overall_status
    from stackwatch.core.state import StateStore

    args = _check_parser().parse_args(argv)
    names = list(dict.fromkeys(args.names)) or check_names()
    try:
        checks = [get_check(n) for n in names]
    except UnknownCheck as exc:
        fail(f"unknown check {exc.args[0]!r}; known: {', '.join(check_names())}", USAGE_ERROR)
    try:
        warning = parse_range(args.warning) if args.warning is not None else None
        critical = parse_range(args.critical) if args.critical is not None else None
    except RangeError as exc:
        fail(str(exc), USAGE_ERROR)
    if (warning or critical) and len(checks) != 1:
        fail("-w/-c apply to the main figure of one check: name exactly one", USAGE_ERROR)
    if (warning or critical) and not checks[0].has_main_figure:
        fail(f"check {checks[0].name} has no main figure for -w/-c", USAGE_ERROR)
    if args.timeout <= 0:
        fail("--timeout must be above 0", USAGE_ERROR)
    config = load_config_or_exit(args.config, USAGE_ERROR)
    host = Host(args.root, timeout=min(args.timeout, 10.0))
    store = StateStore(args.state_dir)
    overrides = Overrides(warning, critical, (("db", args.db),))
    results = run_checks(checks, host, config, store, overrides, args.timeout)

    output_format = args.format or "text"
    if output_format == "nagios":
        from stackwatch.render.nagios import render_nagios

        sys.stdout.write(render_nagios(results))
    elif output_format == "json":
        from stackwatch.render.json import render_json

        sys.stdout.write(render_json(results))
    elif output_format == "prometheus":
        from stackwatch.render.prometheus import render_prometheus

        sys.stdout.write(render_prometheus(results))
    else:
        from stackwatch.render.text import render_text

        render_text(results)
    for warning_text in store.warnings:
        sys.stderr.write(f"stackwatch: warning: {warning_text}\n")
    if args.textfile_dir:
        from stackwatch.render.prometheus import render_prometheus, write_textfile

        try:
            write_textfile(args.textfile_dir, render_prometheus(results))
        except OSError as exc:
            sys.stderr.write(f"stackwatch: cannot write textfile: {exc}\n")
    if args.statsd:
        from stackwatch.render.statsd import StatsdError, send_statsd

        prefix = args.statsd_prefix or f"stackwatch.{socket.gethostname().replace('.', '_')}"
        try:
            send_statsd(results, args.statsd, prefix)
        except StatsdError as exc:
            sys.stderr.write(f"stackwatch: {exc}\n")
    return int(overall_status(results))


def run_checks_command(argv: Sequence[str]) -> int:
    from stackwatch.core.registry import all_checks

    parser = _Parser(prog="stackwatch checks", description="List every check.")
    parser.parse_args(argv)
    checks = all_checks()
    width = max(len(c.name) for c in checks)
    for check in checks:
        sys.stdout.write(f"{check.name:<{width}}  {check.description}\n")
    return 0


def _typer_app() -> Any:
    import typer

    app = typer.Typer(
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
        app = _typer_app()
        wanted = [args[0]] if args and args[0] in SUBCOMMANDS else list(SUBCOMMANDS)
        for name in wanted:
            try:
                module = importlib.import_module(SUBCOMMANDS[name])
            except ModuleNotFoundError as exc:
                if exc.name == SUBCOMMANDS[name]:
                    continue  # that capability is not part of this build yet
                raise
            app.add_typer(module.app, name=name)
        app(args=args, prog_name="stackwatch", standalone_mode=True)
    except KeyboardInterrupt:
        sys.stderr.write("stackwatch: interrupted\n")
        return 130
    except BrokenPipeError:
        return 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
