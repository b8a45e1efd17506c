"""The [backup] configuration: the issue's example loads as written; mistakes name file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackwatch.backup.config import BackupConfig, keep_within_seconds
from stackwatch.core.config import ConfigError, load_config, settings_for
from stackwatch.core.durations import DurationError, parse_duration

EXAMPLE = """
[backup.servers.db1]
host = "127.0.0.1"
port = 3306
option_file = "/etc/stackwatch/db1.cnf"      # [client] user=... password=...

[backup.destinations.local]
kind = "directory"
path = "/var/backups/stackwatch"

[backup.destinations.offsite]
kind = "ssh"
host = "backup.example.net"
user = "backup"
path = "/srv/backups/web1"
identity_file = "/etc/stackwatch/backup_ed25519"

[backup.jobs.nightly]
server = "db1"
databases = "all"                 # or a list of names
exclude = ["test"]
include_paths = ["/var/www/uploads"]
destinations = ["local", "offsite"]
compression = "zstd"
keep_last = 3
keep_daily = 7
keep_weekly = 5
keep_monthly = 12
notify_email = ["ops@example.net"]
notify_on = ["failure", "success", "deletion"]
"""


def load(tmp_path: Path, text: str) -> BackupConfig:
    path = tmp_path / "stackwatch.toml"
    path.write_text(text)
    settings = settings_for(load_config(path, required=True), "backup")
    assert isinstance(settings, BackupConfig)
    return settings


def test_issue_example_loads_as_written(tmp_path: Path) -> None:
    cfg = load(tmp_path, EXAMPLE)
    job = cfg.jobs["nightly"]
    assert job.databases == "all" and job.exclude == ["test"]
    assert job.destinations == ["local", "offsite"]
    assert (job.keep_last, job.keep_daily, job.keep_weekly, job.keep_monthly) == (3, 7, 5, 12)
    assert job.notify_on == ["failure", "success", "deletion"]
    assert cfg.servers["db1"].option_file == "/etc/stackwatch/db1.cnf"
    assert cfg.destinations["offsite"].is_offsite
    assert not cfg.destinations["local"].is_offsite
    assert job.compression == "zstd" and job.idle_priority


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("keep_last = 3", "keep_lats = 3"), "backup.jobs.nightly.keep_lats: unknown key"),
        (("keep_last = 3", 'keep_last = "3"'), "backup.jobs.nightly.keep_last: expected an int"),
        (('server = "db1"', 'server = "db2"'), "backup.jobs.nightly.server: unknown server 'db2'"),
        (('"local", "offsite"]', '"local", "nas"]'), "unknown destination 'nas'"),
        (('compression = "zstd"', 'compression = "xz"'), "compression: expected one of"),
        (('databases = "all"', 'databases = "some"'), 'databases: expected "all" or a list'),
        (('databases = "all"', "databases = []"), "databases: the list is empty"),
        (('"failure", "success"', '"failure", "sucess"'), "notify_on[1]: expected one of"),
        (('kind = "ssh"', 'kind = "ftp"'), "backup.destinations.offsite.kind: expected one of"),
        (('host = "backup.example.net"\n', ""), "backup.destinations.offsite.host: required"),
        (("port = 3306", "port = 70000"), "backup.servers.db1.port: out of range"),
        (('exclude = ["test"]', 'keep_within = "7 days"'), "keep_within: invalid duration"),
        (("keep_last = 3", "lock_timeout = 0"), "nightly.lock_timeout: must be a positive"),
        (("keep_last = 3", "lock_timeout = -5"), "nightly.lock_timeout: must be a positive"),
        (("keep_last = 3", "lock_timeout = nan"), "nightly.lock_timeout: expected a finite number"),
        (("keep_last = 3", 'lock_timeout = "60"'), "nightly.lock_timeout: expected a number"),
        (("keep_last = 3", "snapshot_timeout = 0.0"), "snapshot_timeout: must be a positive"),
        (("keep_last = 3", "snapshot_timeout = inf"), "snapshot_timeout: expected a finite number"),
        (("keep_last = 3", "snapshot_timeout = true"), "snapshot_timeout: expected a number"),
        (("keep_last = 3", "dump_timeout = -1"), "nightly.dump_timeout: must be a positive"),
    ],
)
def test_mistakes_name_the_key(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, EXAMPLE.replace(*change))
    assert message in str(err.value)
    assert str(tmp_path / "stackwatch.toml") in str(err.value)


def test_timeouts_accept_integers_and_fractions(tmp_path: Path) -> None:
    text = EXAMPLE.replace("keep_last = 3", "lock_timeout = 5\nsnapshot_timeout = 0.5")
    job = load(tmp_path, text).jobs["nightly"]
    assert (job.lock_timeout, job.snapshot_timeout) == (5.0, 0.5)
    assert isinstance(job.lock_timeout, float)


def test_list_of_databases_and_volume(tmp_path: Path) -> None:
    text = EXAMPLE.replace('databases = "all"', 'databases = ["shop", "blog"]')
    text += '\n[backup.destinations.vault]\nkind = "volume"\npath = "/mnt/vault"\n'
    with pytest.raises(ConfigError, match=r"vault\.device: required"):
        load(tmp_path, text)
    cfg = load(tmp_path, text + 'device = "/dev/disk/by-label/vault"\n')
    assert cfg.jobs["nightly"].databases == ["shop", "blog"]
    assert cfg.destinations["vault"].kind == "volume"


def hours(text: str) -> float:
    return parse_duration(text, allow_bare_m=False) / 3600


def test_durations() -> None:
    assert hours("36h") == 36
    assert hours("2w3d") == 17 * 24
    assert hours("1y") == 365 * 24
    assert hours("6mo") == 6 * 30 * 24
    for bad in ("", "7 d", "d7", "-1d"):
        with pytest.raises(ValueError):
            hours(bad)


def test_bare_m_is_refused_as_ambiguous_for_retention() -> None:
    with pytest.raises(DurationError, match=r"'min' or 'mo'"):
        hours("6m")
    with pytest.raises(ConfigError, match=r"keep_within: invalid duration.*'min' or 'mo'"):
        keep_within_seconds("6m", "keep_within")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"6m"', r"nightly\.keep_within: invalid duration: .*write 'min' or 'mo'"),
        ('"7"', r"nightly\.keep_within: invalid duration '7': give a unit"),
        ('"1x"', r"nightly\.keep_within: invalid duration '1x' \(use e\.g\. 36h"),
    ],
)
def test_keep_within_mistakes_name_the_key(tmp_path: Path, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load(tmp_path, EXAMPLE.replace("keep_last = 3", f"keep_within = {value}"))


def test_keep_within_reaches_retention_in_hours(tmp_path: Path) -> None:
    from stackwatch.backup.retention import Policy

    text = EXAMPLE.replace("keep_last = 3", 'keep_within = "2w3d"')
    assert Policy.from_job(load(tmp_path, text).jobs["nightly"]).within_hours == 17 * 24
    text = EXAMPLE.replace("keep_last = 3", 'keep_within = "90min"')
    assert Policy.from_job(load(tmp_path, text).jobs["nightly"]).within_hours == 1.5


@pytest.mark.parametrize(
    ("line", "key"),
    [
        (
            'extra_dump_options = ["--skip-lock-tables", "--password=hunter2"]',
            "extra_dump_options[1]",
        ),
        ('extra_dump_options = ["-phunter2"]', "extra_dump_options[0]"),
        ('pre_hook = ["/usr/local/bin/freeze", "--password", "hunter2"]', "pre_hook[1]"),
        ('notify_command = ["notify", "token=1", "password=hunter2"]', "notify_command[2]"),
    ],
)
def test_a_password_on_a_command_line_is_refused(tmp_path: Path, line: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, EXAMPLE.replace("keep_last = 3", line))
    assert f"backup.jobs.nightly.{key}: a password on a command line" in str(err.value)
    assert "hunter2" not in str(err.value)
