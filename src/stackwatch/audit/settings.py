"""The [audit] section: which container roots, which file, which values are expected."""

from __future__ import annotations

from typing import Literal

from stackwatch.core.config import ConfigError
from stackwatch.core.record import dataclass, field

Format = Literal["auto", "shell", "ini", "toml", "yaml"]


@dataclass(frozen=True)
class AuditSettings:
    roots: str = ""  # glob of container roots, e.g. "/vz/private/*"
    file: str = ""  # the file inside each root, e.g. "etc/csf/csf.conf"
    format: Format = "auto"  # shell (KEY = "v"), ini, toml, yaml; auto: from the file's suffix
    expect: dict[str, str] = field(default_factory=dict)  # key (path) -> value config-drift wants
    max_bytes: int = 1048576  # a larger file is a problem of that container, not read

    def validate(self, where: str) -> None:
        if self.roots and not self.roots.startswith("/"):
            raise ConfigError(f"{where}.roots: must be an absolute glob, got {self.roots!r}")
        if self.file.startswith("/") or ".." in self.file.split("/"):
            raise ConfigError(f"{where}.file: must be relative to each root, got {self.file!r}")
        if self.max_bytes <= 0:
            raise ConfigError(f"{where}.max_bytes: must be positive")
