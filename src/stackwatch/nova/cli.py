"""``stackwatch nova probe|recover``: the console plumbing probe on demand, and the recovery
of a failed compute host's instances (plan first, then apply)."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from stackwatch.cli_support import DEFAULT_STATE_DIR, fail, load_settings, usage_error
from stackwatch.core.exits import FAILED, FOUND, INTERRUPTED, PLUGIN_UNKNOWN

if TYPE_CHECKING:
    from stackwatch.nova.settings import NovaSettings

app = typer.Typer(
    help="Nova console plumbing probe and recovery of a failed compute host's instances.",
    no_args_is_help=True,
    add_completion=False,
)

ConfigOpt = Annotated[str | None, typer.Option("--config", help="TOML configuration")]
CloudOpt = Annotated[
    str | None,
    typer.Option("--cloud", help="clouds.yaml entry (default: the first of \\[nova] clouds)"),
]
FORMATS = ("text", "nagios", "json", "prometheus")


def _settings(config: str | None, code: int = 2) -> tuple[Any, NovaSettings]:
    loaded: tuple[Any, NovaSettings] = load_settings(config, "nova", code)
    return loaded


@app.command()
def probe(
    cloud: CloudOpt = None,
    output: Annotated[
        str, typer.Option("--format", help="text, nagios, json or prometheus")
    ] = "text",
    state_dir: Annotated[
        str | None, typer.Option("--state-dir", help="where percentiles are kept")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Time a console URL per cell/AZ and check the proxy accepts its token (as the check)."""
    from stackwatch.core.config import Config
    from stackwatch.core.engine import run_check
    from stackwatch.core.host import Host
    from stackwatch.core.registry import get_check
    from stackwatch.core.state import StateStore
    from stackwatch.render import render

    if output not in FORMATS:
        usage_error(f"--format must be one of {', '.join(FORMATS)}, not {output!r}")
    loaded, settings = _settings(config, PLUGIN_UNKNOWN if output == "nagios" else 2)
    if cloud:
        data = {**loaded.data, "nova": {**loaded.section("nova"), "clouds": [cloud]}}
        loaded = Config(loaded.path, data)  # a new one: the old one cached its [nova] built
    elif not settings.clouds:
        usage_error("no cloud to probe: give --cloud or set [nova] clouds")
    store = StateStore(state_dir or DEFAULT_STATE_DIR, fallback=state_dir is None)
    result = run_check(get_check("nova-console"), Host(), loaded, store)
    typer.echo(render([result], output), nl=False)
    raise SystemExit(int(result.status))


def _connect(cloud: str | None, settings: NovaSettings) -> Any:
    from stackwatch.nova.cloud import CloudError, connect

    name = cloud or (settings.clouds[0] if settings.clouds else None)
    try:
        return name or "(OS_* environment)", connect(name, settings.api_timeout)
    except CloudError as exc:
        fail(str(exc), FAILED)


@app.command()
def recover(
    host: Annotated[str, typer.Argument(help="the failed compute host")],
    plan_only: Annotated[
        bool, typer.Option("--plan", help="say what would be done (default)")
    ] = False,
    apply: Annotated[bool, typer.Option("--apply", help="do it, in bounded parallel")] = False,
    in_place: Annotated[
        bool, typer.Option("--in-place", help="hard reboot on HOST once it is back, not evacuate")
    ] = False,
    cloud: CloudOpt = None,
    output: Annotated[str, typer.Option("--format", help="text or json")] = "text",
    config: ConfigOpt = None,
) -> None:
    """Plan (exit 4 when there is work, 0 when none) or apply the recovery of HOST's instances."""
    from stackwatch.nova import views
    from stackwatch.nova.cloud import CloudError
    from stackwatch.nova.recover import build_plan

    if plan_only and apply:
        usage_error("--plan and --apply exclude each other")
    if output not in ("text", "json"):
        usage_error(f"--format must be text or json, not {output!r}")
    if not host.strip() or len(host) > 255:
        usage_error("HOST must be 1 to 255 characters")
    _, settings = _settings(config)
    cloud_name, conn = _connect(cloud, settings)
    try:
        plan = build_plan(conn, host, in_place)
    except CloudError as exc:
        fail(str(exc), FAILED)
    except KeyboardInterrupt:
        fail("interrupted", INTERRUPTED)
    if not apply:
        typer.echo(views.plan_json(plan) if output == "json" else views.plan_text(plan), nl=False)
        if plan.refusal:
            raise SystemExit(FAILED)
        raise SystemExit(FOUND if plan.actions else 0)
    _apply(conn, cloud_name, plan, settings, output)


def _apply(conn: Any, cloud_name: str, plan: Any, settings: NovaSettings, output: str) -> None:
    from stackwatch.nova import views
    from stackwatch.nova.recover import apply_plan, report

    if plan.refusal:
        typer.echo(views.plan_text(plan), nl=False, err=True)
        fail(f"refused: {plan.refusal}", FAILED)
    started = time.time()
    try:
        outcomes = apply_plan(conn, plan, settings.recover_parallel, settings.recover_timeout)
    except KeyboardInterrupt:
        fail(
            "interrupted: instances already asked to move go on moving; run again to see",
            INTERRUPTED,
        )
    data = report(plan, outcomes, cloud_name, started)
    path = _write_report(settings.report_dir, plan.host, data) if plan.actions else None
    if output == "json":
        typer.echo(json.dumps({**data, "report": path}, indent=2, sort_keys=True))
    else:
        typer.echo(views.outcome_text(outcomes, path), nl=False)
    if any(not o.ok for o in outcomes):
        raise SystemExit(FAILED)


def _write_report(directory: str, host: str, data: dict[str, Any]) -> str:
    import os
    import re

    from stackwatch.core.host import Host, HostError

    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", host)[:100]
    path = os.path.join(
        directory, f"recover-{safe}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    )
    try:
        machine = Host()
        machine.make_dir(directory, 0o750, parents=True)
        machine.write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n", 0o640)
    except HostError as exc:
        fail(f"recovered, but the report could not be written: {exc}", FAILED)
    return path
