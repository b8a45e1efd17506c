"""``stackwatch image import|check``: a vendor's appliance (VMDK, OVA, zip) into Glance,
converted where the hypervisors need it, the conversion proved, the upload verified."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from stackwatch.cli_support import fail, load_settings, usage_error
from stackwatch.core.exits import FAILED, INTERRUPTED
from stackwatch.core.host import Host, HostError

if TYPE_CHECKING:
    from stackwatch.image.settings import ImageSettings

app = typer.Typer(
    rich_markup_mode=None,
    help="Appliance images (VMDK, OVA, zip) into Glance: converted, compared, verified.",
    no_args_is_help=True,
    add_completion=False,
)

ConfigOpt = Annotated[str | None, typer.Option("--config", help="TOML configuration")]
CloudOpt = Annotated[
    str | None, typer.Option("--cloud", help="clouds.yaml entry (default [image] cloud, OS_*)")
]
OutOpt = Annotated[str, typer.Option("--format", help="text or json")]


def _settings(config: str | None) -> ImageSettings:
    settings: ImageSettings = load_settings(config, "image")[1]
    return settings


def _output(value: str) -> str:
    if value not in ("text", "json"):
        usage_error(f"--format must be text or json, not {value!r}")
    return value


def _guarded(work: Any) -> Any:
    """Run ``work``; errors a user can cause end in one line (never a traceback)."""
    from stackwatch.image.glance import sdk_errors
    from stackwatch.image.qemu import ImageError

    try:
        return work()
    except KeyboardInterrupt:
        fail("interrupted", INTERRUPTED)
    except (ImageError, HostError) as exc:
        fail(str(exc), FAILED)
    except sdk_errors() as exc:
        fail(f"the cloud: {exc}", FAILED)


@app.command("import")
def import_(
    file: Annotated[str, typer.Argument(help="VMDK, OVA, zip (OVF + VMDK), qcow2 or raw")],
    name: Annotated[str, typer.Option("--name", help="the image's name in Glance")],
    to: Annotated[
        str, typer.Option("--to", help="auto (what the hypervisors boot), qcow2, raw or keep")
    ] = "auto",
    cloud: CloudOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="inspect and say what would be done")
    ] = False,
    output: OutOpt = "text",
    config: ConfigOpt = None,
) -> None:
    """Inspect, convert where needed, prove the conversion, upload and verify one appliance."""
    from stackwatch.image import views
    from stackwatch.image.glance import connect
    from stackwatch.image.importer import ImportRequest, run_import
    from stackwatch.image.plan import TARGETS

    _output(output)
    if to not in TARGETS:
        usage_error(f"--to must be one of {', '.join(TARGETS)}, not {to!r}")
    if not name.strip() or len(name) > 255:
        usage_error("--name must be 1 to 255 characters")
    settings = _settings(config)
    import os

    request = ImportRequest(
        os.path.abspath(file), name, to, dry_run, sys.stderr.isatty() and output == "text"
    )
    report = _guarded(
        lambda: run_import(
            Host(),
            settings,
            request,
            lambda: connect(cloud or settings.cloud, settings.api_timeout),
        )
    )
    print(views.import_json(report) if output == "json" else views.import_text(report))


@app.command()
def check(
    name: Annotated[str, typer.Argument(help="the image's name or id in Glance")],
    file: Annotated[str, typer.Argument(help="the local file it should hold")],
    cloud: CloudOpt = None,
    output: OutOpt = "text",
    config: ConfigOpt = None,
) -> None:
    """Compare an image in Glance with a local file: active, same size, same multihash."""
    import os

    from stackwatch.image import views
    from stackwatch.image.check import check_image
    from stackwatch.image.glance import connect

    _output(output)
    settings = _settings(config)
    path = os.path.abspath(file)
    verdict = _guarded(
        lambda: check_image(
            Host(), connect(cloud or settings.cloud, settings.api_timeout), name, path
        )
    )
    print(views.check_json(verdict, path) if output == "json" else views.check_text(verdict, path))
    if not verdict.same:
        raise SystemExit(FAILED)
