"""Names from outside (database names a customer chose, job and destination names from the
configuration) never collide with each other or with stackwatch's own files, and never leave
their directory (issue 10)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackwatch.backup.config import BackupConfig
from stackwatch.backup.dump import (
    EXTENSIONS,
    FILES_STEM,
    MANIFEST,
    USERS_STEM,
    database_file_stem,
    dump_file_name,
)
from stackwatch.core.config import ConfigError, load_config, settings_for

# Database names: MariaDB takes almost anything (".", "/", quotes, spaces, unicode) up to 64
# characters; our own stems and their escaped forms are the interesting neighbours.
NEAR = ["_users", "_files", "_files.tar", "manifest", "manifest.json", ".partial-1", "%5Fusers"]
names = st.one_of(
    st.text(min_size=1, max_size=64),
    st.sampled_from(NEAR),
    st.text(alphabet="_.%-~/aZ9 é", min_size=1, max_size=12),
    st.text(min_size=60, max_size=200),  # beyond MAX_STEM once escaped: the hashed form
)
OWN_FILES = {f"{USERS_STEM}.sql{ext}" for ext in EXTENSIONS.values()}
OWN_FILES |= {f"{FILES_STEM}.tar{ext}" for ext in EXTENSIONS.values()} | {MANIFEST}


def decode(stem: str) -> str:
    """The database name of a stem that is not in the hashed form (the test's own reading)."""
    raw = re.sub(rb"%([0-9A-F]{2})", lambda m: bytes([int(m[1], 16)]), stem.encode())
    return raw.decode("utf-8", "surrogatepass")


@given(names, st.sampled_from(sorted(EXTENSIONS)))
def test_a_database_file_is_one_safe_component_and_never_ours(name: str, compression: str) -> None:
    file = dump_file_name(name, compression)
    assert file not in OWN_FILES
    assert "/" not in file and "\0" not in file and file not in (".", "..")
    assert not file.startswith((".", "_", "-"))  # hidden, temporary, ours, an option
    assert file.isascii() and file.isprintable()
    assert len(file.encode()) <= 255
    stem = database_file_stem(name)
    assert file == stem + ".sql" + EXTENSIONS[compression]
    if "~" not in stem:
        assert decode(stem) == name  # one to one: the stem gives the name back


@given(names, names)
def test_two_databases_never_share_a_file(a: str, b: str) -> None:
    if a != b:
        assert dump_file_name(a, "zstd") != dump_file_name(b, "zstd")


def test_what_the_files_look_like() -> None:
    assert dump_file_name("shop", "zstd") == "shop.sql.zst"  # plain names stay as they are
    assert dump_file_name("we-ird db", "gzip") == "we-ird%20db.sql.gz"
    assert dump_file_name("_users", "zstd") == "%5Fusers.sql.zst"  # not the users file
    assert dump_file_name("manifest.json", "none") == "manifest%2Ejson.sql"
    assert dump_file_name("../etc", "none") == "%2E%2E%2Fetc.sql"
    assert dump_file_name("café", "none") == "caf%C3%A9.sql"
    long = dump_file_name("é" * 64, "zstd")  # 64 characters, 384 once escaped: cut, hashed
    assert re.fullmatch(r"(%C3%A9)+[%0-9A-F]*~[0-9a-f]{32}\.sql\.zst", long) and len(long) == 208


CONFIG = """
[backup.servers.db]
[backup.destinations.{dest}]
kind = "directory"
path = "/var/backups/x"
[backup.jobs.{job}]
server = "db"
destinations = [{dest_ref}]
"""


def load(tmp_path: Path, job: str, dest: str) -> BackupConfig:
    text = CONFIG.format(job=_key(job), dest=_key(dest), dest_ref=_string(dest))
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    settings = settings_for(load_config(path, required=True), "backup")
    assert isinstance(settings, BackupConfig)
    return settings


def _string(text: str) -> str:
    escaped = "".join(f"\\U{ord(c):08x}" if c in '"\\' or not c.isprintable() else c for c in text)
    return f'"{escaped}"'


def _key(text: str) -> str:
    return _string(text)  # a quoted TOML key: any text at all


@pytest.mark.parametrize(
    "name",
    ["..", ".", "a/b", "nightly\n", "-x", ".partial-1", "", "a b", "x" * 65, "é", "a\\b"],
)
@pytest.mark.parametrize("kind", ["job", "destination"])
def test_unsafe_names_are_refused_naming_the_key(tmp_path: Path, name: str, kind: str) -> None:
    job, dest = (name, "local") if kind == "job" else ("nightly", name)
    with pytest.raises(ConfigError) as err:
        load(tmp_path, job, dest)
    assert "a name is 1 to 64 letters, digits" in str(err.value)
    assert str(tmp_path / "c.toml") in str(err.value)


@given(st.text(max_size=70) | st.text(alphabet="aZ09_.-/\n \t\\", max_size=70))
def test_an_accepted_name_is_one_plain_path_component(name: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        try:
            cfg = load(Path(tmp), name, "local")
        except ConfigError as exc:
            assert "a name is 1 to 64 letters" in str(exc)
            return
    assert list(cfg.jobs) == [name]
    assert Path(name).name == name and name not in (".", "..")
    assert not name.startswith((".", "-")) and name.isascii() and name.isprintable()
    assert " " not in name and len(name) <= 64


@pytest.mark.parametrize(
    ("key", "value"),
    [("host", "-oProxyCommand=sh"), ("host", "a b"), ("user", "x\ny"), ("host", "h;rm")],
)
def test_ssh_host_and_user_are_words_never_options(tmp_path: Path, key: str, value: str) -> None:
    path = tmp_path / "c.toml"
    table = {"host": "backup.example.net", "user": "backup", key: value}
    lines = "".join(f"{k} = {_string(v)}\n" for k, v in table.items())
    path.write_text(f'[backup.destinations.off]\nkind = "ssh"\npath = "/srv"\n{lines}')
    with pytest.raises(ConfigError, match=rf"backup\.destinations\.off\.{key}: not a host or user"):
        settings_for(load_config(path, required=True), "backup")


@pytest.mark.parametrize("path", ["", "/", "//"])
def test_a_destination_path_names_a_directory(tmp_path: Path, path: str) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'[backup.destinations.d]\nkind = "directory"\npath = "{path}"\n')
    with pytest.raises(ConfigError, match=r"backup\.destinations\.d\.path: must name a directory"):
        settings_for(load_config(config, required=True), "backup")


def test_an_option_that_would_hide_the_dumps_progress_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    text = CONFIG.format(job="nightly", dest="local", dest_ref='"local"')
    path.write_text(text + 'extra_dump_options = ["--skip-lock-tables", "--log-error=/tmp/x"]\n')
    with pytest.raises(ConfigError, match=r"nightly\.extra_dump_options\[1\]: stackwatch reads"):
        settings_for(load_config(path, required=True), "backup")
