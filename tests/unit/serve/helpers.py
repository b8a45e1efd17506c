"""What the serve tests share: a self-signed certificate, bcrypt hashes, a serve configuration."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, made with openssl, and its key."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = directory / "server.crt", directory / "server.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert),
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def bcrypt_hash(password: str, rounds: int = 4) -> str:
    """A bcrypt hash at the lowest cost, so that tests stay fast."""
    bcrypt = pytest.importorskip("bcrypt")
    return str(bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds)).decode())
