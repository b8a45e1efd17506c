"""The [backup] section of the stackwatch TOML: servers, destinations, jobs, mail.

``BackupConfig`` is the capability's settings dataclass: ``core.config.build`` validates every
table (unknown keys and wrong types name the file and the key) and calls the ``validate`` methods
below for the rules across keys: each table's own (a job's timeouts, an ssh destination's host),
then the references between tables (a job's server and destinations).
"""

from __future__ import annotations

import re
from typing import Literal

from stackwatch.core.config import ConfigError
from stackwatch.core.durations import DurationError, parse_duration
from stackwatch.core.host import SecretOnCommandLine, audit_argv
from stackwatch.core.record import dataclass, field

DEFAULT_CATALOG = "/var/lib/stackwatch/backup-catalog.sqlite"
DEFAULT_LOCK_DIR = "/run/stackwatch"
DEFAULT_WORK_DIR = "/var/lib/stackwatch/backup-work"
SYSTEM_DATABASES = ("information_schema", "performance_schema", "sys", "mysql")
EVENTS = ("failure", "success", "deletion")
MAX_TIMEOUT = 31536000.0  # a year: the server's own limit for lock_wait_timeout
# A job, destination or server name becomes one path component (PATH/JOB/ID, the lock file):
# no "/", no "." or ".." (and no hidden name: ".partial-*" is stackwatch's), no leading "-"
# (an option to a remote command), no line break or other control character.
NAME_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}"
_NAME = re.compile(NAME_PATTERN)
# An ssh host or user goes into argv of ssh and rsync: never an option, never two words.
_SSH_WORD = re.compile(r"[A-Za-z0-9_\[][A-Za-z0-9_.:%\[\]-]{0,252}")
_UNITLESS = re.compile(r"^\s*\d+(?:\.\d+)?\s*$")
RETENTION_EXAMPLES = "36h, 7d, 2w3d, 6mo, 1y"
TIMEOUT_KEYS = ("lock_timeout", "snapshot_timeout", "hook_timeout", "dump_timeout")


@dataclass(frozen=True)
class Server:
    host: str = "localhost"
    port: int = 3306
    socket: str | None = None
    option_file: str | None = None  # [client] user=... password=...; never on a command line
    dump_program: str = "mariadb-dump"
    client_program: str = "mariadb"
    backup_program: str = "mariadb-backup"  # method = "physical" (MySQL: xtrabackup)

    def validate(self, where: str) -> None:
        if not 0 < self.port < 65536:
            raise ConfigError(f"{where}.port: out of range: {self.port}")


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

    def validate(self, where: str) -> None:
        if not self.path.strip("/"):  # "" would be the remote's root, "/" holds the system
            raise ConfigError(f"{where}.path: must name a directory, got {self.path!r}")
        if not self.path.startswith("/") and self.kind != "ssh":
            raise ConfigError(f"{where}.path: must be an absolute path, got {self.path!r}")
        if self.kind == "ssh" and not self.host:
            raise ConfigError(f"{where}.host: required for kind = 'ssh'")
        for key in ("host", "user"):
            value = getattr(self, key)
            if value is not None and not _SSH_WORD.fullmatch(value):
                raise ConfigError(f"{where}.{key}: not a host or user name: {value!r}")
        if "\0" in self.path:
            raise ConfigError(f"{where}.path: holds a NUL character")
        if self.kind == "volume" and not self.device:
            raise ConfigError(f"{where}.device: required for kind = 'volume'")


@dataclass(frozen=True)
class Job:
    server: str
    destinations: list[str]
    databases: str | list[str] = "all"
    exclude: list[str] = field(default_factory=list)
    include_paths: list[str] = field(default_factory=list)
    compression: Literal["zstd", "gzip", "none"] = "zstd"
    compression_level: int | None = None  # default 3; 1 for method = "physical" (speed first)
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
    point_in_time: bool = False  # archive binary logs (each run, `backup binlogs`) for --to-time
    shrink_warning: float = 0.5  # a backup that lost more than this fraction is a WARNING; 0: off
    method: Literal["logical", "physical"] = "logical"  # physical: a mariadb-backup copy
    verify_on: Literal["throwaway", "live"] = "throwaway"  # throwaway: a server of its own
    space_margin: float = 0.2  # free space wanted above the forecast size (0.2: 20 % more)

    def validate(self, where: str) -> None:
        """The rules of one job's own keys (its references are checked by BackupConfig)."""
        _check_databases(self.databases, where)
        if self.keep_within is not None:
            keep_within_seconds(self.keep_within, f"{where}.keep_within")
        for key in ("parallel", "compression_level"):
            if (getattr(self, key) or 1) < 1:
                raise ConfigError(f"{where}.{key}: must be at least 1")
        for key in TIMEOUT_KEYS:
            _check_timeout(getattr(self, key), f"{where}.{key}")
        self._check_fractions(where)
        for key in ("pre_hook", "post_hook", "notify_command"):
            argv = getattr(self, key)
            if argv and not argv[0]:
                raise ConfigError(f"{where}.{key}: the program name is empty")
            _check_no_password(argv, f"{where}.{key}", 0)
        dump_argv = ["mariadb-dump", *self.extra_dump_options]
        _check_no_password(dump_argv, f"{where}.extra_dump_options", 1)
        for i, option in enumerate(self.extra_dump_options):
            if option.startswith("--log-error"):  # its progress and errors are read from stderr
                raise ConfigError(
                    f"{where}.extra_dump_options[{i}]: stackwatch reads the dump's "
                    "stderr (progress and errors); --log-error would hide it"
                )

    def _check_fractions(self, where: str) -> None:
        if not 0 <= self.space_margin <= 10:  # also refuses TOML nan
            raise ConfigError(
                f"{where}.space_margin: a fraction from 0 to 10, got {self.space_margin!r}"
            )
        if not 0 <= self.shrink_warning < 1:  # also refuses TOML nan
            raise ConfigError(
                f"{where}.shrink_warning: a fraction from 0 (off) to below 1, "
                f"got {self.shrink_warning!r}"
            )


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

    def validate(self, where: str) -> None:
        """Names usable as file names, and every job's server and destinations defined (each
        table's own rules were checked when it was built)."""
        for kind in ("servers", "destinations", "jobs"):
            for name in getattr(self, kind):
                _check_name(name, f"{where}.{kind}.{name}")
        for name, job in self.jobs.items():
            self._check_references(job, f"{where}.jobs.{name}")

    def _check_references(self, job: Job, where: str) -> None:
        if job.server not in self.servers:
            known = ", ".join(sorted(self.servers)) or "none defined"
            raise ConfigError(f"{where}.server: unknown server {job.server!r} (known: {known})")
        if not job.destinations:
            raise ConfigError(f"{where}.destinations: at least one destination is needed")
        for name in job.destinations:
            if name not in self.destinations:
                known = ", ".join(sorted(self.destinations)) or "none defined"
                raise ConfigError(
                    f"{where}.destinations: unknown destination {name!r} (known: {known})"
                )


def keep_within_seconds(value: str, where: str = "keep_within") -> float:
    """A retention period in seconds, read by the one duration parser (core/durations.py),
    where "m" is refused as ambiguous (minutes or months?) and a unit is required."""
    if _UNITLESS.match(value):
        raise ConfigError(
            f"{where}: invalid duration {value!r}: give a unit (e.g. {RETENTION_EXAMPLES})"
        )
    try:
        return parse_duration(value, allow_bare_m=False)
    except DurationError as exc:
        if _readable_with_minutes(value):  # only the ambiguous "m": say so
            raise ConfigError(f"{where}: invalid duration: {exc}") from None
        raise ConfigError(
            f"{where}: invalid duration {value!r} (use e.g. {RETENTION_EXAMPLES})"
        ) from None


def _readable_with_minutes(value: str) -> bool:
    try:
        parse_duration(value)
    except DurationError:
        return False
    return True


def _check_databases(databases: str | list[str], where: str) -> None:
    if isinstance(databases, str) and databases != "all":
        raise ConfigError(f'{where}.databases: expected "all" or a list of names')
    if isinstance(databases, list) and not databases:
        raise ConfigError(f"{where}.databases: the list is empty")


def _check_timeout(seconds: float, where: str) -> None:
    if not (0 < seconds <= MAX_TIMEOUT):  # also refuses TOML nan and inf
        raise ConfigError(
            f"{where}: must be a positive number of seconds (at most {MAX_TIMEOUT:g}), "
            f"got {seconds!r}"
        )


def _check_no_password(argv: list[str], where: str, offset: int) -> None:
    """The check Host makes before it starts a program (core/host.py audit_argv), made here so
    that the key is named before anything runs."""
    if not argv:
        return
    try:
        audit_argv(argv)
    except SecretOnCommandLine as exc:
        raise ConfigError(
            f"{where}[{exc.index - offset}]: a password on a command line is visible to every "
            "user of the machine; keep it in a file (the server's option_file for the dumps)"
        ) from None


def _check_name(name: str, where: str) -> None:
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"{where}: a name is 1 to 64 letters, digits, '.', '_' and '-', starting with a "
            "letter, a digit or '_' (it becomes a file name)"
        )
