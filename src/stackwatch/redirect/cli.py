"""``stackwatch redirect add|list|remove``: a temporary DNAT redirect for testing, with nftables.

Exit codes (core/exits.py): 0 done; 2 (USAGE) for a redirect refused (not an address, to itself,
a loop, a bad --expire); 1 (FAILED) where nft failed (not root, no nftables) or, for remove, where
there was no such redirect.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated

import typer

from stackwatch.core.durations import parse_duration
from stackwatch.core.exits import FAILED, fail, usage_error
from stackwatch.core.host import Host, HostError
from stackwatch.redirect import nft
from stackwatch.redirect.spec import (
    Redirect,
    RedirectError,
    build,
    describe_expiry,
    parse_endpoint,
    refuse_loops,
)

app = typer.Typer(
    rich_markup_mode=None,
    help="Temporary DNAT redirects for testing (nftables).",
    no_args_is_help=True,
)

NEVER = ("never", "0")
MAX_EXPIRE = 365 * 86400.0


class Format(StrEnum):
    text = "text"
    json = "json"


def _expiry(text: str) -> float | None:
    if text.strip().lower() in NEVER:
        return None
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        usage_error(f"--expire {text!r}: {exc}")
    if not 1 <= seconds <= MAX_EXPIRE:
        usage_error(f"--expire {text!r}: between 1 s and 365 days, or 'never'")
    return seconds


def _current(host: Host) -> list[Redirect]:
    try:
        return nft.current(host)
    except HostError as exc:
        fail(f"cannot read the redirects: {exc}", FAILED)


@app.command("add")
def add(
    source: Annotated[str, typer.Option("--from", help="old address: IP or IP:PORT")],
    target: Annotated[str, typer.Option("--to", help="new address: IP or IP:PORT")],
    expire: Annotated[str, typer.Option(help="removed by the kernel after this ('never')")] = "2h",
    forwarded: Annotated[bool, typer.Option(help="traffic routed through this host")] = False,
) -> None:
    """Send new connections for --from to --to (this host's own traffic unless --forwarded)."""
    try:
        redirect = build(
            parse_endpoint(source, "--from"),
            parse_endpoint(target, "--to"),
            forwarded,
            _expiry(expire),
        )
    except RedirectError as exc:
        usage_error(str(exc))
    host = Host()
    try:
        refuse_loops(redirect, _current(host))
    except RedirectError as exc:
        usage_error(str(exc))
    try:
        nft.add(host, redirect)
    except HostError as exc:
        fail(f"nft refused the redirect: {exc}", FAILED)
    typer.echo(
        f"redirecting {redirect.source} -> {redirect.target} ({_traffic(redirect)}), "
        f"expires: {describe_expiry(redirect.expires_in)}"
    )


def _traffic(redirect: Redirect) -> str:
    return "routed traffic" if redirect.forwarded else "this host's traffic"


@app.command("list")
def list_command(
    output: Annotated[Format, typer.Option("--format", help="text or json")] = Format.text,
) -> None:
    """The redirects in place and the time each has left."""
    redirects = _current(Host())
    if output is Format.json:
        typer.echo(json.dumps([_as_dict(r) for r in redirects], indent=2))
        return
    if not redirects:
        typer.echo("no redirects")
        return
    typer.echo(f"{'FROM':<28} {'TO':<28} {'TRAFFIC':<20} EXPIRES IN")
    for r in redirects:
        row = f"{r.source!s:<28} {r.target!s:<28} {_traffic(r):<20} "
        typer.echo(row + describe_expiry(r.expires_in))


def _as_dict(redirect: Redirect) -> dict[str, object]:
    return {
        "from": str(redirect.source),
        "to": str(redirect.target),
        "forwarded": redirect.forwarded,
        "expires_in_seconds": redirect.expires_in,
    }


@app.command("remove")
def remove(
    source: Annotated[str | None, typer.Option("--from", help="the redirect's old address")] = None,
    remove_all: Annotated[bool, typer.Option("--all", help="remove every redirect")] = False,
) -> None:
    """Remove one redirect (new connections go to the old address again), or all of them."""
    if (source is None) == (not remove_all):
        usage_error("give --from IP[:PORT] or --all")
    host = Host()
    redirects = _current(host)
    if remove_all:
        _remove_all(host, redirects)
        return
    assert source is not None
    try:
        wanted = parse_endpoint(source, "--from")
    except RedirectError as exc:
        usage_error(str(exc))
    matching = [r for r in redirects if r.source == wanted]
    if not matching:
        fail(f"no redirect from {wanted}", FAILED)
    try:
        nft.apply(host, [nft.delete_element(r) for r in matching])
    except HostError as exc:
        fail(f"nft could not remove it: {exc}", FAILED)
    typer.echo(f"removed {len(matching)} redirect(s) from {wanted}")


def _remove_all(host: Host, redirects: list[Redirect]) -> None:
    if redirects or nft.table_exists(host):
        try:
            nft.remove_all(host)
        except HostError as exc:
            fail(f"nft could not remove the table: {exc}", FAILED)
    typer.echo(f"removed {len(redirects)} redirect(s) and the table {nft.TABLE}")
