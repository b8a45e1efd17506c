"""The redirects as nftables holds them: one table of its own (nothing else is touched), four maps
per scope (address, or address and port; IPv4 and IPv6) whose elements carry the timeout, so the
kernel drops a redirect when it expires even if stackwatch never runs again; and the rules that
DNAT through those maps, in OUTPUT (this host's traffic) and PREROUTING (routed traffic).

Writing is one ``nft -f -`` transaction (all or nothing); reading is ``nft -j list table``.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

from stackwatch.core.host import CommandFailed, Host
from stackwatch.redirect.spec import Endpoint, Redirect

TABLE = "stackwatch_redirect"
SCOPES = {"local": ("output", "output"), "routed": ("prerouting", "prerouting")}
NFT_TIMEOUT = 10.0


def map_name(scope: str, ported: bool, family: int) -> str:
    return f"{scope}_{'port' if ported else 'addr'}{family}"


def _maps() -> list[str]:
    lines = []
    for scope in SCOPES:
        for family, kind in ((4, "ipv4_addr"), (6, "ipv6_addr")):
            lines.append(
                f"add map inet {TABLE} {map_name(scope, True, family)} "
                f"{{ type {kind} . inet_service : {kind} . inet_service; flags timeout; }}"
            )
            lines.append(
                f"add map inet {TABLE} {map_name(scope, False, family)} "
                f"{{ type {kind} : {kind}; flags timeout; }}"
            )
    return lines


def _chains() -> list[str]:
    lines = []
    for scope, (chain, hook) in SCOPES.items():
        lines.append(
            f"add chain inet {TABLE} {chain} "
            f"{{ type nat hook {hook} priority -100; policy accept; }}"
        )
        lines.append(f"flush chain inet {TABLE} {chain}")
        for family, match in ((4, "ip"), (6, "ip6")):
            ported, plain = map_name(scope, True, family), map_name(scope, False, family)
            lines.append(
                f"add rule inet {TABLE} {chain} meta l4proto {{ tcp, udp }} "
                f"dnat {match} to {match} daddr . th dport map @{ported}"
            )
            lines.append(
                f"add rule inet {TABLE} {chain} dnat {match} to {match} daddr map @{plain}"
            )
    return lines


def table_script() -> list[str]:
    """The table, its maps and chains, made idempotent (the chains are flushed and refilled)."""
    return [f"add table inet {TABLE}", *_maps(), *_chains()]


def _key(endpoint: Endpoint) -> str:
    return (
        f"{endpoint.address} . {endpoint.port}"
        if endpoint.port is not None
        else str(endpoint.address)
    )


def element(redirect: Redirect) -> str:
    name = map_name(redirect.scope, redirect.source.port is not None, redirect.source.family)
    timeout = f" timeout {max(1, int(redirect.expires_in))}s" if redirect.expires_in else ""
    return (
        f"add element inet {TABLE} {name} "
        f"{{ {_key(redirect.source)}{timeout} : {_key(redirect.target)} }}"
    )


def delete_element(redirect: Redirect) -> str:
    name = map_name(redirect.scope, redirect.source.port is not None, redirect.source.family)
    return f"delete element inet {TABLE} {name} {{ {_key(redirect.source)} }}"


def apply(host: Host, lines: list[str]) -> None:
    host.run(["nft", "-f", "-"], input_text="\n".join(lines) + "\n", timeout=NFT_TIMEOUT)


def add(host: Host, redirect: Redirect) -> None:
    apply(host, [*table_script(), element(redirect)])


def remove_all(host: Host) -> None:
    apply(host, [f"delete table inet {TABLE}"])


def current(host: Host) -> list[Redirect]:
    """The redirects in place, with their time left; none where the table does not exist."""
    try:
        result = host.run(["nft", "-j", "list", "table", "inet", TABLE], timeout=NFT_TIMEOUT)
    except CommandFailed as exc:
        if "No such file or directory" in exc.stderr:
            return []
        raise
    return parse_listing(result.stdout)


def parse_listing(text: str) -> list[Redirect]:
    """Redirects out of ``nft -j list table`` (elements of our maps)."""
    document = json.loads(text)
    found = []
    for item in document.get("nftables", []):
        declared = item.get("map")
        if not isinstance(declared, dict) or declared.get("table") != TABLE:
            continue
        scope = str(declared.get("name", "")).split("_")[0]
        for pair in declared.get("elem", []):
            found.append(_redirect(scope, pair))
    return sorted(found, key=lambda r: (r.scope, str(r.source)))


def _redirect(scope: str, pair: list[Any]) -> Redirect:
    key, value = pair
    expires = None
    if isinstance(key, dict) and "elem" in key:
        expires = key["elem"].get("expires")
        key = key["elem"]["val"]
    return Redirect(_endpoint(key), _endpoint(value), scope == "routed", expires)


def _endpoint(value: Any) -> Endpoint:
    if isinstance(value, dict) and "concat" in value:
        address, port = value["concat"]
        return Endpoint(ipaddress.ip_address(address), int(port))
    return Endpoint(ipaddress.ip_address(value))


def table_exists(host: Host) -> bool:
    result = host.run(["nft", "list", "tables", "inet"], timeout=NFT_TIMEOUT)
    return f"table inet {TABLE}" in result.stdout
