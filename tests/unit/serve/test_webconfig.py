"""The exporter-toolkit web configuration: what node_exporter accepts works here, every mistake
ends in one line that names the file and the key, and no file content ever makes a traceback."""

from __future__ import annotations

import base64
import contextlib
import ssl
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackwatch.serve.webconfig import (
    BasicAuth,
    TlsSettings,
    WebConfig,
    WebConfigError,
    load_web_security,
    make_ssl_context,
    parse_basic_credentials,
    parse_web_config,
)
from tests.unit.serve.helpers import bcrypt_hash, self_signed_certificate

HASH = "$2b$04$" + "a" * 53
BASE = Path("/etc/stackwatch")


def parse(text: str) -> WebConfig:
    return parse_web_config(text, BASE, "web.yml")


def test_node_exporters_example_file_is_read() -> None:
    config = parse(
        "tls_server_config:\n"
        "  cert_file: server.crt\n"
        "  key_file: /srv/tls/server.key\n"
        "  min_version: TLS13\n"
        "http_server_config:\n"
        "  headers:\n"
        "    Strict-Transport-Security: max-age=31536000\n"
        "basic_auth_users:\n"
        f"  prometheus: '{HASH}'\n"
    )
    assert config.tls == TlsSettings(
        cert_file=BASE / "server.crt", key_file=Path("/srv/tls/server.key"), min_version="TLS13"
    )
    assert config.users == {"prometheus": HASH}
    assert config.headers == {"Strict-Transport-Security": "max-age=31536000"}


@pytest.mark.parametrize("text", ["", "# nothing\n", "{}"])
def test_an_empty_file_means_plain_http_without_auth(text: str) -> None:
    assert parse(text) == WebConfig()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "web.yml: expected a mapping"),
        ("tls_config: {}\n", "web.yml: unknown key 'tls_config'"),
        ("tls_server_config:\n  cert_file: a.crt\n", "key_file is required"),
        ("tls_server_config:\n  key_file: a.key\n", "cert_file is required"),
        (
            "tls_server_config: {cert_file: a, key_file: b, min_version: TLS14}\n",
            "min_version: expected one of TLS10, TLS11, TLS12, TLS13, got 'TLS14'",
        ),
        (
            "tls_server_config: {cert_file: a, key_file: b, min_version: TLS13, "
            "max_version: TLS12}\n",
            "min_version TLS13 is above max_version",
        ),
        (
            "tls_server_config: {cert_file: a, key_file: b, client_auth_type: "
            "RequireAndVerifyClientCert}\n",
            "needs client_ca_file",
        ),
        (
            "tls_server_config: {cert_file: a, key_file: b, client_ca_file: ca.pem}\n",
            "client_ca_file is set but client_auth_type is NoClientCert",
        ),
        (
            "tls_server_config: {cert_file: a, key_file: b, client_auth_type: "
            "RequireAnyClientCert}\n",
            "without verifying them",
        ),
        (
            "tls_server_config: {cert_file: a, key_file: b, cipher_suites: [X]}\n",
            "cipher_suites: not supported",
        ),
        ("tls_server_config: {cert_file: 7, key_file: b}\n", "cert_file: expected a non-empty"),
        ("basic_auth_users:\n  alice: secret\n", "basic_auth_users: 'alice': not a bcrypt hash"),
        (f"basic_auth_users:\n  bob: '$2${HASH[4:]}'\n", "'bob': not a bcrypt hash"),
        ("basic_auth_users: [alice]\n", "basic_auth_users: expected a mapping"),
        (f"basic_auth_users: {{'a:b': '{HASH}'}}\n", "not a user name"),
        ("http_server_config:\n  headers:\n    Server: x\n", "'Server' cannot be set"),
        ("http_server_config:\n  http2: maybe\n", "http2: expected true or false"),
        ('http_server_config: {headers: {X-Frame-Options: "a\\nb"}}\n', "one line of ASCII"),
        ("tls_server_config: [\n", "web.yml: invalid YAML: line 2"),
    ],
)
def test_mistakes_are_one_clear_line(text: str, message: str) -> None:
    with pytest.raises(WebConfigError) as caught:
        parse(text)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_no_content_makes_a_traceback(text: str) -> None:
    try:
        parse(text)
    except WebConfigError as exc:
        assert str(exc).startswith("web.yml")


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "tls_server_config",
                        "cert_file",
                        "key_file",
                        "basic_auth_users",
                        "http_server_config",
                        "headers",
                        "alice",
                        "min_version",
                    ]
                ),
                inner,
                max_size=4,
            )
        ),
        max_leaves=12,
    )
)
def test_no_shape_of_yaml_makes_a_traceback(data: object) -> None:
    import yaml

    with contextlib.suppress(WebConfigError):
        parse(yaml.safe_dump(data))


def test_tls_context_from_a_real_certificate(tmp_path: Path) -> None:
    self_signed_certificate(tmp_path)
    (tmp_path / "web.yml").write_text(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
    )
    security = load_web_security(str(tmp_path / "web.yml"))
    assert isinstance(security.tls, ssl.SSLContext)
    assert security.tls.minimum_version == ssl.TLSVersion.TLSv1_2
    assert security.auth is None


def test_a_key_that_does_not_fit_is_named(tmp_path: Path) -> None:
    cert, _ = self_signed_certificate(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    _, wrong_key = self_signed_certificate(other)
    with pytest.raises(WebConfigError, match=r"cannot load certificate .*server\.crt with key"):
        make_ssl_context(TlsSettings(cert, wrong_key), "web.yml")


def test_a_missing_certificate_is_named(tmp_path: Path) -> None:
    with pytest.raises(WebConfigError, match="cannot load certificate"):
        make_ssl_context(TlsSettings(tmp_path / "no.crt", tmp_path / "no.key"), "web.yml")


def test_a_missing_file_is_one_line() -> None:
    with pytest.raises(WebConfigError, match=r"cannot read /nonexistent/web\.yml"):
        load_web_security("/nonexistent/web.yml")


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (basic("prometheus", "s3cret:with:colons"), ("prometheus", b"s3cret:with:colons")),
        ("basic " + base64.b64encode(b"a:").decode(), ("a", b"")),
        ("Bearer abc", None),
        ("Basic !!!", None),
        ("Basic " + base64.b64encode(b"no colon").decode(), None),
        ("Basic " + base64.b64encode(b"\xff:x").decode(), None),
        ("", None),
        (None, None),
    ],
)
def test_basic_credentials(header: str | None, expected: object) -> None:
    assert parse_basic_credentials(header) == expected


def test_auth_accepts_the_right_password_only() -> None:
    auth = BasicAuth({"prometheus": bcrypt_hash("right")})
    assert auth.allows(basic("prometheus", "right"))
    assert not auth.allows(basic("prometheus", "wrong"))
    assert not auth.allows(basic("nobody", "right"))
    assert not auth.allows(None)
    assert not auth.allows("Bearer right")


def test_long_passwords_are_read_as_bcrypt_reads_them() -> None:
    password = "x" * 72
    auth = BasicAuth({"prometheus": bcrypt_hash(password)})
    assert auth.allows(basic("prometheus", password))
    assert auth.allows(basic("prometheus", password + "beyond what bcrypt reads"))
    assert not auth.allows(basic("prometheus", "x" * 71))


def test_auth_verdicts_are_cached_so_scrapes_do_not_pay_bcrypt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    auth = BasicAuth({"prometheus": bcrypt_hash("right")})
    calls = []
    real = auth._bcrypt.checkpw
    monkeypatch.setattr(auth, "_bcrypt", type("B", (), {"checkpw": staticmethod(
        lambda p, h: calls.append(p) or real(p, h))}))  # fmt: skip
    for _ in range(5):
        assert auth.allows(basic("prometheus", "right"))
        assert not auth.allows(basic("prometheus", "wrong"))
    assert len(calls) == 2


def test_the_cache_stays_bounded() -> None:
    auth = BasicAuth({"prometheus": bcrypt_hash("right")})
    for i in range(BasicAuth.CACHE_SIZE * 2):
        auth.allows(basic("prometheus", f"guess{i}"))
    assert len(auth._cache) <= BasicAuth.CACHE_SIZE
    assert auth.allows(basic("prometheus", "right"))
