"""The [backup] section of the stackwatch TOML: servers, destinations, jobs, mail.

Every table is validated by ``core.config.build`` (unknown keys and wrong types name the file and
the key); references between tables (a job's server and destinations) are checked here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from stackwatch.core.config import Config, ConfigError, build

DEFAULT_CATALOG = "/var/lib/stackwatch/backup-catalog.sqlite"
DEFAULT_LOCK_DIR = "/run/stackwatch"
DEFAULT_WORK_DIR = "/var/lib/stackwatch/backup-work"
SYSTEM_DATABASES = ("information_schema", "performance_schema", "sys", "mysql")
EVENTS = ("failure", "success", "deletion")
MAX_TIMEOUT = 31536000.0  # a year: the server's own limit for lock_wait_timeout
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_DURATION = re.compile(r"^(\d+)([hdwmy])$")
_DURATION_PART = re.compile(r"(\d+)([hdwmy])")
_HOURS = {"h": 1, "d": 24, "w": 24 * 7, "m": 24 * 30, "y": 24 * 365}


@dataclass(frozen=True)
class Server:
    host: str = "localhost"
    port: int = 3306
    socket: str | None = None
    option_file: str | None = None  # [client] user=... password=...; never on a command line
    dump_program: str = "mariadb-dump"
    client_program: str = "mariadb"


@dataclass(frozen=True)
class Destination:
    kind: Literal["directory", "ssh", "volume"]
    path: str
    host: str | None = None  # ssh
    user: str | None = None
    port: int = 22
    identity_file: str | None = None
    known_hosts_file: str | None = None
    device: str | None = None  # volume: what to mount on ``path`` before, unmount after
    fstype: str | None = None
    mount_options: str | None = None
    offsite: bool | None = None  # default: ssh destinations are off-site, the others are not

    @property
    def is_offsite(self) -> bool:
        return self.offsite if self.offsite is not None else self.kind == "ssh"


@dataclass(frozen=True)
class Job:
    server: str
    destinations: list[str]
    databases: str | list[str] = "all"
    exclude: list[str] = field(default_factory=list)
    include_paths: list[str] = field(default_factory=list)
    compression: Literal["zstd", "gzip", "none"] = "zstd"
    compression_level: int = 3
    threads: int = 0  # compression threads; 0 = one per CPU
    parallel: int = 2  # databases dumped at once
    dump_users: bool = True  # users and grants (mariadb-dump --system=users)
    extra_dump_options: list[str] = field(default_factory=list)
    keep_last: int = 0
    keep_hourly: int = 0
    keep_daily: int = 0
    keep_weekly: int = 0
    keep_monthly: int = 0
    keep_yearly: int = 0
    keep_within: str | None = None  # e.g. "7d", "2w3d", "12h"
    notify_email: list[str] = field(default_factory=list)
    notify_command: list[str] = field(default_factory=list)
    notify_on: list[Literal["failure", "success", "deletion"]] = field(
        default_factory=lambda: ["failure"]
    )
    pre_hook: list[str] = field(default_factory=list)
    post_hook: list[str] = field(default_factory=list)
    hook_timeout: float = 600.0
    dump_timeout: float = 6 * 3600.0
    lock_timeout: float = 60.0  # longest wait for FLUSH TABLES WITH READ LOCK
    snapshot_timeout: float = 60.0  # longest wait for every dump to open its snapshot
    idle_priority: bool = True
    verify_after_run: bool = False


@dataclass(frozen=True)
class Mail:
    host: str = "localhost"
    port: int = 25
    sender: str = "stackwatch@localhost"
    starttls: bool = False
    username: str | None = None
    password_file: str | None = None  # never the password itself in the configuration
    timeout: float = 30.0


@dataclass(frozen=True)
class BackupConfig:
    catalog: str = DEFAULT_CATALOG
    lock_dir: str = DEFAULT_LOCK_DIR
    work_dir: str = DEFAULT_WORK_DIR
    mail: Mail = field(default_factory=Mail)
    servers: dict[str, Server] = field(default_factory=dict)
    destinations: dict[str, Destination] = field(default_factory=dict)
    jobs: dict[str, Job] = field(default_factory=dict)


def parse_duration_hours(text: str) -> float:
    """'7d', '2w3d', '36h', '1y' -> hours. Months are 30 days, years 365 (restic's rounding
    differs; the value is a lower bound on what is kept)."""
    compact = text.strip().lower()
    if not compact or _DURATION_PART.sub("", compact):
        raise ValueError(f"invalid duration {text!r} (use e.g. 36h, 7d, 2w3d, 6m, 1y)")
    return float(sum(int(n) * _HOURS[u] for n, u in _DURATION_PART.findall(compact)))


def load_backup_config(config: Config) -> BackupConfig:
    """Validate [backup] into a BackupConfig; a ConfigError names the file and the key."""
    where = config.where("backup")
    result = build(BackupConfig, config.section("backup"), where)
    for name, dest in result.destinations.items():
        at = f"{where}.destinations.{name}"
        _check_name(name, at)
        if not dest.path.startswith("/") and dest.kind != "ssh":
            raise ConfigError(f"{at}.path: must be an absolute path, got {dest.path!r}")
        if dest.kind == "ssh" and not dest.host:
            raise ConfigError(f"{at}.host: required for kind = 'ssh'")
        if dest.kind == "volume" and not dest.device:
            raise ConfigError(f"{at}.device: required for kind = 'volume'")
    for name, server in result.servers.items():
        _check_name(name, f"{where}.servers.{name}")
        if not 0 < server.port < 65536:
            raise ConfigError(f"{where}.servers.{name}.port: out of range: {server.port}")
    for name, job in result.jobs.items():
        at = f"{where}.jobs.{name}"
        _check_name(name, at)
        if job.server not in result.servers:
            known = ", ".join(sorted(result.servers)) or "none defined"
            raise ConfigError(f"{at}.server: unknown server {job.server!r} (known: {known})")
        if not job.destinations:
            raise ConfigError(f"{at}.destinations: at least one destination is needed")
        for dest_name in job.destinations:
            if dest_name not in result.destinations:
                known = ", ".join(sorted(result.destinations)) or "none defined"
                raise ConfigError(
                    f"{at}.destinations: unknown destination {dest_name!r} (known: {known})"
                )
        if isinstance(job.databases, str) and job.databases != "all":
            raise ConfigError(f'{at}.databases: expected "all" or a list of names')
        if isinstance(job.databases, list) and not job.databases:
            raise ConfigError(f"{at}.databases: the list is empty")
        if job.keep_within is not None:
            try:
                parse_duration_hours(job.keep_within)
            except ValueError as exc:
                raise ConfigError(f"{at}.keep_within: {exc}") from None
        for key in ("parallel", "compression_level"):
            if getattr(job, key) < 1:
                raise ConfigError(f"{at}.{key}: must be at least 1")
        for key in ("lock_timeout", "snapshot_timeout", "hook_timeout", "dump_timeout"):
            seconds = getattr(job, key)
            if not (0 < seconds <= MAX_TIMEOUT):  # also refuses TOML nan and inf
                raise ConfigError(
                    f"{at}.{key}: must be a positive number of seconds "
                    f"(at most {MAX_TIMEOUT:g}), got {seconds!r}"
                )
        for key in ("pre_hook", "post_hook", "notify_command"):
            argv = getattr(job, key)
            if argv and not argv[0]:
                raise ConfigError(f"{at}.{key}: the program name is empty")
    return result


def _check_name(name: str, where: str) -> None:
    if not _NAME.match(name):
        raise ConfigError(f"{where}: names may use letters, digits, '.', '_' and '-' only")
