"""``stackwatch ipalias plan|apply|list``: many addresses on one interface.

Exit codes (core/exits.py): ``plan`` 0 nothing to add, FOUND (4) addresses to add (or the
configuration printed/written); ``apply`` 0 added or already present, FAILED (1) ``ip addr add``
failed; USAGE (2) a bad request, an interface that does not exist, or any address refused
(network, broadcast, outside the subnet, in use): then nothing is written or applied.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stackwatch.core.exits import FAILED, FOUND, fail, usage_error
from stackwatch.core.host import Host, HostError, write_atomic
from stackwatch.ipalias.addresses import Plan, PlanError, parse_request, plan_addresses
from stackwatch.ipalias.configs import WRITERS, render_config
from stackwatch.ipalias.live import Link, add_address, read_links
from stackwatch.render.safe import printable

app = typer.Typer(
    rich_markup_mode=None,
    help="Many IP addresses on one interface: plan, write, apply, list.",
    no_args_is_help=True,
    add_completion=False,
)

InterfaceOption = Annotated[str, typer.Option("--interface", help="e.g. eth0")]
RangeOption = Annotated[
    str, typer.Option("--range", help="192.168.41.186-190, 2001:db8::10-1f or 192.168.41.32/28")
]
PrefixOption = Annotated[
    int | None, typer.Option("--prefix", help="prefix length on the interface (CIDR: its own)")
]


def _links(host: Host) -> list[Link]:
    try:
        return read_links(host)
    except (HostError, PlanError) as exc:
        fail(f"cannot read the host's addresses: {exc}", FAILED)


def _plan(host: Host, interface: str, spec: str, prefix: int | None) -> Plan:
    try:
        addresses, block_prefix = parse_request(spec)
        links = _links(host)
        if interface not in {link.name for link in links}:
            usage_error(f"no interface {interface!r} on this host")
        chosen = prefix if prefix is not None else block_prefix
        if chosen is None:
            usage_error("--prefix is needed with a range (e.g. --prefix 24)")
        plan = plan_addresses(
            interface, addresses, chosen, [a for link in links for a in link.addresses]
        )
    except PlanError as exc:
        usage_error(str(exc))
    if plan.refused:
        lines = [f"{address}: {why}" for address, why in plan.refused]
        usage_error(f"{len(plan.refused)} addresses refused, nothing done: " + "; ".join(lines))
    return plan


def _summary(plan: Plan) -> str:
    lines = [f"{plan.interface}: {len(plan.add)} to add, {len(plan.present)} already present"]
    lines += [f"  add {a.with_prefixlen}" for a in plan.add]
    lines += [f"  present {a.with_prefixlen}" for a in plan.present]
    return "\n".join(lines) + "\n"


@app.command("plan")
def plan_command(
    interface: InterfaceOption,
    range_: RangeOption,
    prefix: PrefixOption = None,
    write_as: Annotated[
        str | None, typer.Option("--write-as", help="ifupdown, netplan or networkd")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", help="write the file here")] = None,
    first_label: Annotated[int, typer.Option(help="first alias number (ifupdown IF:N)")] = 0,
) -> None:
    """Check the addresses and print what would change, or the configuration file."""
    if write_as is not None and write_as not in WRITERS:
        usage_error(f"--write-as must be one of {', '.join(WRITERS)}, not {write_as!r}")
    if output is not None and write_as is None:
        usage_error("--output needs --write-as")
    plan = _plan(Host("/"), interface, range_, prefix)
    text = _summary(plan) if write_as is None else render_config(write_as, plan, first_label)
    if output is None:
        typer.echo(text, nl=False)  # addresses checked, an interface that exists
    else:
        try:
            # netplan warns about (and newer versions refuse) files others can read
            write_atomic(output, text, 0o600 if write_as == "netplan" else 0o644)
        except OSError as exc:
            fail(f"cannot write {output}: {exc.strerror or exc}", FAILED)
        typer.echo(f"wrote {output} ({len(plan.add) + len(plan.present)} addresses)")
    if plan.add:
        raise typer.Exit(FOUND)


@app.command("apply")
def apply_command(
    interface: InterfaceOption, range_: RangeOption, prefix: PrefixOption = None
) -> None:
    """Add the addresses now with ``ip addr add`` (those present are left alone)."""
    host = Host("/")
    plan = _plan(host, interface, range_, prefix)
    for address in plan.add:
        try:
            add_address(host, interface, address)
        except HostError as exc:
            fail(f"ip addr add {address.with_prefixlen} dev {interface}: {exc}", FAILED)
    typer.echo(f"{interface}: {len(plan.add)} added, {len(plan.present)} already present")


@app.command("list")
def list_command(
    interface: Annotated[str | None, typer.Option("--interface", help="only this one")] = None,
) -> None:
    """Every address of every interface (or of one), with its alias label."""
    rows = [("interface", "address", "label")]
    for link in _links(Host("/")):
        if interface is None or link.name == interface:
            rows += [
                (link.name, u.address.with_prefixlen, label or "-")
                for u, label in zip(link.addresses, link.labels, strict=True)
            ]
    if interface is not None and len(rows) == 1:
        usage_error(f"no interface {interface!r} with addresses on this host")
    widths = [max(len(printable(r[i])) for r in rows) for i in range(3)]
    for row in rows:
        typer.echo(
            "  ".join(printable(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        )
