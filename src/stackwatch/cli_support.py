"""What every command shares: default paths, loading the configuration, failing with one message.

Errors a user can cause end here in one clear line on stderr and an exit code, never a traceback.
"""

from __future__ import annotations

import sys
from typing import NoReturn

from stackwatch.core.config import DEFAULT_CONFIG, Config, ConfigError, load_config
from stackwatch.core.state import DEFAULT_STATE_DIR

__all__ = ["DEFAULT_CONFIG", "DEFAULT_STATE_DIR", "fail", "load_config_or_exit"]


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``stackwatch: message`` on stderr and exit with ``code``."""
    sys.stderr.write(f"stackwatch: {message}\n")
    raise SystemExit(code)


def load_config_or_exit(path: str | None, code: int = 1) -> Config:
    """The configuration at ``path`` (or the default file, which may be absent)."""
    try:
        if path is None:
            return load_config(DEFAULT_CONFIG, required=False)
        return load_config(path, required=True)
    except ConfigError as exc:
        fail(str(exc), code)
