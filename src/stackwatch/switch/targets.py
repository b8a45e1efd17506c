"""Which agent to ask and with what secrets: addresses, community files and v3 files.

Secrets live in files (mode 0600 is the operator's business), never on a command line where
`ps` shows them. A community file holds the community on its first line. A v3 file is YAML::

    user: monitor
    auth_protocol: SHA        # MD5, SHA, SHA-224, SHA-256, SHA-384, SHA-512
    auth_password: ...
    priv_protocol: AES        # DES, AES, AES-192, AES-256
    priv_password: ...
    context: ""               # the SNMPv3 context, where the agent wants one
"""

from __future__ import annotations

import os

import yaml

from stackwatch.core.host import Host, HostError
from stackwatch.switch.client import Credentials, Target
from stackwatch.switch.inventory import Device

AUTH_PROTOCOLS = ("MD5", "SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512")
PRIV_PROTOCOLS = ("DES", "AES", "AES-192", "AES-256")
V3_KEYS = {"user", "auth_protocol", "auth_password", "priv_protocol", "priv_password", "context"}
MAX_SECRET_BYTES = 64 * 1024


class TargetError(ValueError):
    """An address or a secrets file that cannot be used (one line)."""


def parse_address(text: str) -> tuple[str, int]:
    """HOST, HOST:PORT, [V6] or [V6]:PORT -> (host, port); port 161 by default."""
    value = text.strip()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port_text = rest.removeprefix(":") if rest else ""
    elif value.count(":") == 1:
        host, _, port_text = value.partition(":")
    else:
        host, port_text = value, ""
    if not host or any(c.isspace() for c in host):
        raise TargetError(f"{text!r} is not HOST[:PORT]")
    if not port_text:
        return host, 161
    if not (port_text.isascii() and port_text.isdigit() and 1 <= int(port_text) <= 65535):
        raise TargetError(f"{text!r}: port must be 1-65535")
    return host, int(port_text)


def _read_secret_file(host: Host, path: str) -> str:
    try:
        raw = host.read_bytes(os.path.abspath(path))
    except HostError as exc:
        raise TargetError(str(exc)) from None
    if len(raw) > MAX_SECRET_BYTES:
        raise TargetError(f"{path}: too large for a secrets file")
    return raw.decode("utf-8", "replace")


def read_community(host: Host, path: str) -> Credentials:
    lines = [line.strip() for line in _read_secret_file(host, path).splitlines()]
    community = next((line for line in lines if line), "")
    if not community:
        raise TargetError(f"{path}: no community on its first line")
    return Credentials("2c", community=community)


def read_v3(host: Host, path: str) -> Credentials:
    try:
        data = yaml.safe_load(_read_secret_file(host, path))
    except yaml.YAMLError:
        raise TargetError(f"{path}: not YAML (user, auth_protocol, auth_password, ...)") from None
    if not isinstance(data, dict):
        raise TargetError(
            f"{path}: expected user, auth_protocol, auth_password, priv_protocol, priv_password"
        )
    unknown = set(map(str, data)) - V3_KEYS
    missing = {"user", "auth_password", "priv_password"} - set(map(str, data))
    if unknown or missing:
        what = f"unknown keys {sorted(unknown)}" if unknown else f"missing {sorted(missing)}"
        raise TargetError(f"{path}: {what}")
    creds = Credentials(
        "3",
        user=str(data["user"]),
        auth_protocol=str(data.get("auth_protocol", "SHA")).upper(),
        auth_password=str(data["auth_password"]),
        priv_protocol=str(data.get("priv_protocol", "AES")).upper(),
        priv_password=str(data["priv_password"]),
        context=str(data.get("context") or ""),
    )
    _check_v3(creds, path)
    return creds


def _check_v3(creds: Credentials, path: str) -> None:
    if creds.auth_protocol not in AUTH_PROTOCOLS:
        raise TargetError(f"{path}: auth_protocol one of {', '.join(AUTH_PROTOCOLS)}")
    if creds.priv_protocol not in PRIV_PROTOCOLS:
        raise TargetError(f"{path}: priv_protocol one of {', '.join(PRIV_PROTOCOLS)}")
    if len(creds.auth_password) < 8 or len(creds.priv_password) < 8:
        raise TargetError(f"{path}: v3 passwords are at least 8 characters")


def device_target(device: Device, host: Host) -> Target:
    """The Target of an inventory device, its secrets read now."""
    if device.version == "3" and device.v3_file:
        creds = read_v3(host, device.v3_file)
    elif device.community_file:
        creds = read_community(host, device.community_file)
    else:
        raise TargetError(f"device {device.name}: no credentials file")
    return Target(device.name, device.address, device.port, creds)


def address_target(
    address: str, host: Host, community_file: str | None, v3_file: str | None
) -> Target:
    """A Target named on the command line as HOST[:PORT] with one secrets file."""
    name, port = parse_address(address)
    if (community_file is None) == (v3_file is None):
        raise TargetError(f"{address}: give one of --community-file (v2c) or --v3-file")
    creds = read_v3(host, v3_file) if v3_file else read_community(host, str(community_file))
    return Target(address, name, port, creds)
