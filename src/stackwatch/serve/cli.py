"""``stackwatch serve``: the flags Prometheus users know from node_exporter, and nothing else."""

from __future__ import annotations

from typing import Annotated

import typer

from stackwatch.core.config import DEFAULT_CONFIG

app = typer.Typer(
    rich_markup_mode=None,
    help="Serve the checks as a Prometheus exporter (/metrics); push StatsD and the textfile.",
    add_completion=False,
    subcommand_metavar="",  # one command: no COMMAND in its usage line
)


@app.callback(invoke_without_command=True)
def serve(
    listen_address: Annotated[
        str | None,
        typer.Option(
            "--web.listen-address",
            help="HOST:PORT to listen on (default: listen_address of the serve section, "
            "else 127.0.0.1:19100)",
        ),
    ] = None,
    web_config_file: Annotated[
        str | None,
        typer.Option(
            "--web.config.file", help="TLS and basic auth, in the exporter-toolkit format"
        ),
    ] = None,
    telemetry_path: Annotated[
        str | None,
        typer.Option("--web.telemetry-path", help="path of the metrics (default /metrics)"),
    ] = None,
    max_requests: Annotated[
        int | None,
        typer.Option("--web.max-requests", help="scrapes at once; more get 503 (default 40)"),
    ] = None,
    config: Annotated[
        str | None, typer.Option("--config", help=f"TOML configuration (default {DEFAULT_CONFIG})")
    ] = None,
    state_dir: Annotated[
        str | None,
        typer.Option(
            "--state-dir",
            help="where the checks' state is saved (default /var/lib/stackwatch/serve)",
        ),
    ] = None,
    root: Annotated[str, typer.Option("--root", help="read /proc, /sys and files under DIR")] = "/",
) -> None:
    """Answer Prometheus scrapes; SIGHUP reloads the configuration, SIGTERM stops."""
    from stackwatch.serve.daemon import Flags
    from stackwatch.serve.daemon import serve as run_service

    flags = Flags(
        listen_address, web_config_file, telemetry_path, max_requests, config, state_dir, root
    )
    raise SystemExit(run_service(flags))
