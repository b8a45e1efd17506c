"""The web configuration file every Prometheus exporter reads (the exporter-toolkit format):
TLS and basic authentication, given with ``--web.config.file`` as to node_exporter.

    tls_server_config:
      cert_file: server.crt        # relative paths start from this file's directory
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert   # optional, with client_ca_file
      client_ca_file: clients.pem
      min_version: TLS12           # the default; TLS10, TLS11, TLS12, TLS13
    http_server_config:
      headers:
        Strict-Transport-Security: max-age=31536000
    basic_auth_users:
      prometheus: $2b$12$...       # a bcrypt hash: htpasswd -nBC 12 "" | tr -d ':\\n'

Unknown keys are errors, as in exporter-toolkit: a misspelt key would otherwise leave open a
server its operator believes closed. Settings that Python's ssl module cannot honour (cipher
suites by Go name, accepting client certificates without verifying them) are refused by name
rather than ignored.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import ssl
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stackwatch.core.host import Host, HostError
from stackwatch.core.record import dataclass, field


class WebConfigError(Exception):
    """A web configuration that cannot be used; the message names the file and the key."""


TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
UNSUPPORTED_CLIENT_AUTH = ("RequestClientCert", "RequireAnyClientCert")
# exporter-toolkit's list: the headers a user may add to every answer.
ALLOWED_HEADERS = (
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "X-XSS-Protection",
    "Content-Security-Policy",
)
TOP_KEYS = ("tls_server_config", "http_server_config", "basic_auth_users")
TLS_KEYS = (
    "cert_file",
    "key_file",
    "client_auth_type",
    "client_ca_file",
    "min_version",
    "max_version",
    "prefer_server_cipher_suites",
)
TLS_UNSUPPORTED = ("cipher_suites", "curve_preferences", "client_allowed_sans", "cert", "key")
HTTP_KEYS = ("http2", "headers")
_BCRYPT_HASH = re.compile(r"^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$")
BCRYPT_MAX_PASSWORD = 72  # bcrypt reads no further (htpasswd and exporter-toolkit alike)


@dataclass(frozen=True)
class TlsSettings:
    cert_file: Path
    key_file: Path
    client_auth_type: str = "NoClientCert"
    client_ca_file: Path | None = None
    min_version: str = "TLS12"
    max_version: str = "TLS13"
    prefer_server_cipher_suites: bool = True


@dataclass(frozen=True)
class WebConfig:
    tls: TlsSettings | None = None
    users: Mapping[str, str] = field(default_factory=dict)  # user -> bcrypt hash
    headers: Mapping[str, str] = field(default_factory=dict)


def parse_web_config(text: str, base: Path, source: str = "web config") -> WebConfig:
    """The web configuration in ``text``; relative file names are taken from ``base``."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise WebConfigError(f"{source}: invalid YAML: {_yaml_problem(exc)}") from None
    except RecursionError:
        raise WebConfigError(f"{source}: invalid YAML: nested too deeply") from None
    if data is None:
        return WebConfig()
    top = _mapping(data, source, TOP_KEYS)
    return WebConfig(
        tls=_tls(top.get("tls_server_config"), base, f"{source}: tls_server_config"),
        users=_users(top.get("basic_auth_users"), f"{source}: basic_auth_users"),
        headers=_headers(top.get("http_server_config"), f"{source}: http_server_config"),
    )


def _yaml_problem(exc: Exception) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f"line {mark.line + 1} column {mark.column + 1}: " if mark is not None else ""
    return f"{where}{problem}"


def _mapping(value: Any, where: str, known: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WebConfigError(f"{where}: expected a mapping, got {_shown(value)}")
    for key in value:
        if key not in known:
            raise WebConfigError(f"{where}: unknown key {_shown(key)} (known: {', '.join(known)})")
    return value


def _shown(value: Any) -> str:
    from stackwatch.render.safe import printable

    text = printable(repr(value))
    return text if len(text) <= 60 else text[:57] + "..."


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise WebConfigError(f"{where}: expected a non-empty string, got {_shown(value)}")
    return value


def _choice(value: Any, where: str, choices: Mapping[str, Any]) -> str:
    if value not in choices:
        raise WebConfigError(f"{where}: expected one of {', '.join(choices)}, got {_shown(value)}")
    return str(value)


def _tls(value: Any, base: Path, where: str) -> TlsSettings | None:
    if value is None:
        return None
    if isinstance(value, dict):
        for key in TLS_UNSUPPORTED:
            if key in value:
                raise WebConfigError(f"{where}: {key}: not supported by stackwatch serve")
    table = _mapping(value, where, TLS_KEYS)
    for key in ("cert_file", "key_file"):
        if key not in table:
            raise WebConfigError(f"{where}: {key} is required for TLS")
    settings = TlsSettings(
        cert_file=base / _string(table["cert_file"], f"{where}: cert_file"),
        key_file=base / _string(table["key_file"], f"{where}: key_file"),
        client_auth_type=_client_auth(table.get("client_auth_type", "NoClientCert"), where),
        client_ca_file=_optional_path(table, "client_ca_file", base, where),
        min_version=_version(table.get("min_version", "TLS12"), f"{where}: min_version"),
        max_version=_version(table.get("max_version", "TLS13"), f"{where}: max_version"),
        prefer_server_cipher_suites=_bool(
            table.get("prefer_server_cipher_suites", True), f"{where}: prefer_server_cipher_suites"
        ),
    )
    _check_tls_rules(settings, where)
    return settings


def _version(value: Any, where: str) -> str:
    return _choice(value, where, TLS_VERSIONS)


def _client_auth(value: Any, where: str) -> str:
    if value in UNSUPPORTED_CLIENT_AUTH:
        raise WebConfigError(
            f"{where}: client_auth_type {value} accepts client certificates without verifying "
            "them, which stackwatch serve does not do: use VerifyClientCertIfGiven or "
            "RequireAndVerifyClientCert with client_ca_file"
        )
    return _choice(value, f"{where}: client_auth_type", CLIENT_AUTH)


def _optional_path(table: dict[str, Any], key: str, base: Path, where: str) -> Path | None:
    value = table.get(key)
    return None if value is None else base / _string(value, f"{where}: {key}")


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise WebConfigError(f"{where}: expected true or false, got {_shown(value)}")
    return value


def _check_tls_rules(tls: TlsSettings, where: str) -> None:
    if TLS_VERSIONS[tls.min_version] > TLS_VERSIONS[tls.max_version]:
        raise WebConfigError(f"{where}: min_version {tls.min_version} is above max_version")
    verifies = tls.client_auth_type != "NoClientCert"
    if verifies and tls.client_ca_file is None:
        raise WebConfigError(
            f"{where}: client_auth_type {tls.client_auth_type} needs client_ca_file"
        )
    if not verifies and tls.client_ca_file is not None:
        raise WebConfigError(
            f"{where}: client_ca_file is set but client_auth_type is NoClientCert: "
            "set client_auth_type to RequireAndVerifyClientCert (or drop client_ca_file)"
        )


def _users(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise WebConfigError(f"{where}: expected a mapping of user to bcrypt hash")
    users = {}
    for user, hashed in value.items():
        if not isinstance(user, str) or not user or ":" in user:
            raise WebConfigError(f"{where}: {_shown(user)}: not a user name (no ':' allowed)")
        if not isinstance(hashed, str) or not _BCRYPT_HASH.match(hashed):
            raise WebConfigError(
                f"{where}: {_shown(user)}: not a bcrypt hash (make one with: htpasswd -nBC 12 "
                "'' | tr -d ':\\n')"
            )
        users[user] = hashed
    return users


def _headers(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    table = _mapping(value, where, HTTP_KEYS)
    if "http2" in table:
        _bool(table["http2"], f"{where}: http2")  # answers are HTTP/1.1, as Prometheus asks
    headers = table.get("headers") or {}
    if not isinstance(headers, dict):
        raise WebConfigError(f"{where}: headers: expected a mapping of header to value")
    result = {}
    for name, text in headers.items():
        if name not in ALLOWED_HEADERS:
            raise WebConfigError(
                f"{where}: headers: {_shown(name)} cannot be set (allowed: "
                f"{', '.join(ALLOWED_HEADERS)})"
            )
        if not isinstance(text, str) or not text.isprintable() or not text.isascii():
            raise WebConfigError(f"{where}: headers: {name}: expected one line of ASCII text")
        result[name] = text
    return result


def make_ssl_context(tls: TlsSettings, source: str = "web config") -> ssl.SSLContext:
    """The server's TLS context; WebConfigError where a file cannot be loaded."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = TLS_VERSIONS[tls.min_version]
    context.maximum_version = TLS_VERSIONS[tls.max_version]
    if tls.prefer_server_cipher_suites:
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise WebConfigError(
            f"{source}: tls_server_config: cannot load certificate {tls.cert_file} with key "
            f"{tls.key_file}: {_ssl_reason(exc)}"
        ) from None
    if tls.client_ca_file is not None:
        context.verify_mode = CLIENT_AUTH[tls.client_auth_type]
        try:
            context.load_verify_locations(cafile=tls.client_ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise WebConfigError(
                f"{source}: tls_server_config: cannot load client_ca_file {tls.client_ca_file}: "
                f"{_ssl_reason(exc)}"
            ) from None
    return context


def _ssl_reason(exc: OSError | ssl.SSLError) -> str:
    return str(getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc)


def parse_basic_credentials(header: str | None) -> tuple[str, bytes] | None:
    """(user, password) from an ``Authorization: Basic`` header; None for anything else."""
    if not header:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
        user_bytes, sep, password = decoded.partition(b":")
        user = user_bytes.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    return (user, password) if sep else None


class BasicAuth:
    """Checks ``Authorization: Basic`` against the users' bcrypt hashes.

    bcrypt is slow on purpose (tens of milliseconds at cost 10) and Prometheus sends the same
    credentials on every scrape, so verdicts are cached, as exporter-toolkit does: keyed by a
    digest of user, hash and password (never the password itself). One bcrypt runs at a time, so
    a flood of wrong passwords costs one core, not all; an unknown user costs the same as a
    wrong password, so that timing does not tell which users exist.
    """

    CACHE_SIZE = 100

    def __init__(self, users: Mapping[str, str]) -> None:
        try:
            import bcrypt
        except ImportError:
            raise WebConfigError(
                "basic_auth_users needs the Python bcrypt module (python3-bcrypt, or pip install "
                "bcrypt)"
            ) from None
        self._bcrypt = bcrypt
        self._users = {user: hashed.encode("ascii") for user, hashed in users.items()}
        cost = max(int(h.split("$")[2]) for h in users.values()) if users else 10
        self._dummy = bcrypt.hashpw(b"not a password", bcrypt.gensalt(rounds=cost))
        self._cache: dict[bytes, bool] = {}
        self._lock = threading.Lock()

    def allows(self, header: str | None) -> bool:
        credentials = parse_basic_credentials(header)
        if credentials is None:
            return False
        user, password = credentials
        hashed = self._users.get(user)
        key = hashlib.sha256(
            b"\0".join((user.encode("utf-8"), hashed or b"", hashlib.sha256(password).digest()))
        ).digest()
        verdict = self._cache.get(key)
        if verdict is not None:
            return verdict
        with self._lock:
            verdict = self._matches(password, hashed or self._dummy) and hashed is not None
            if len(self._cache) >= self.CACHE_SIZE:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = verdict
        return verdict

    def _matches(self, password: bytes, hashed: bytes) -> bool:
        try:
            return bool(self._bcrypt.checkpw(password[:BCRYPT_MAX_PASSWORD], hashed))
        except ValueError:  # a hash this bcrypt module cannot read: no entry
            return False


@dataclass(frozen=True)
class WebSecurity:
    """What the server applies to every connection and request, ready to use."""

    tls: ssl.SSLContext | None = None
    auth: BasicAuth | None = None
    headers: tuple[tuple[str, str], ...] = ()
    source: str | None = None  # the file it came from


def load_web_security(path: str | None) -> WebSecurity:
    """Read, validate and prepare ``--web.config.file``; WebConfigError says what is wrong."""
    if path is None:
        return WebSecurity()
    try:
        raw = Host("/").read_bytes(str(Path(path).absolute()))
        text = raw.decode("utf-8")
    except HostError as exc:
        raise WebConfigError(f"web config: {exc}") from None
    except UnicodeDecodeError:
        raise WebConfigError(f"{path}: not UTF-8 text") from None
    config = parse_web_config(text, Path(path).absolute().parent, path)
    return WebSecurity(
        tls=make_ssl_context(config.tls, path) if config.tls else None,
        auth=BasicAuth(config.users) if config.users else None,
        headers=tuple(config.headers.items()),
        source=path,
    )
