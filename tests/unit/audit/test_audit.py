"""audit: key readers on untrusted text, container files read only inside their roots, the
commands and the config-drift check on a tree of containers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.conftest import run_stackwatch

import stackwatch.core.host as host_module
from stackwatch.audit.formats import FormatError, format_for, value_of
from stackwatch.core.host import Host, HostError

CSF = 'TESTING = "0"\n# LF_INTEGRITY = "0"\nLF_INTEGRITY = "3600"\nLF_DAEMON = 1 # on\n'


# --- formats -------------------------------------------------------------------------------------


def test_shell_style_as_csf_writes_it() -> None:
    assert value_of(CSF, "LF_INTEGRITY", "shell") == "3600"
    assert value_of(CSF, "LF_DAEMON", "shell") == "1"
    assert value_of(CSF, "LF_PERMBLOCK", "shell") is None
    assert value_of("export A='x y'\nA=\"z\"\n", "A", "shell") == "z"  # the last one wins


def test_ini_toml_yaml_by_key_path() -> None:
    assert (
        value_of("top=1\n[mysqld]\nmax_connections = 500\n", "mysqld.max_connections", "ini")
        == "500"
    )
    assert value_of("top=1\n", "top", "ini") == "1"
    assert value_of("[a.b]\nc = true\nl = [1, 2]\n", "a.b.c", "toml") == "true"
    assert value_of("[a.b]\nl = [1, 2]\n", "a.b.l", "toml") == "[1, 2]"
    assert value_of("a:\n  - {b: 3}\n", "a.0.b", "yaml") == "3"
    assert value_of("a: 1\n", "a.b", "yaml") is None


def test_format_from_suffix() -> None:
    assert format_for("etc/csf/csf.conf", "auto") == "shell"
    assert format_for("etc/mysql/my.cnf", "auto") == "ini"
    assert format_for("etc/app.YML", "auto") == "yaml"
    assert format_for("etc/app.yml", "toml") == "toml"


@pytest.mark.parametrize(
    ("fmt", "text"), [("toml", "a = = 1"), ("yaml", "a: [1"), ("ini", "[unclosed\nx")]
)
def test_unparseable_files_are_refused(fmt: str, text: str) -> None:
    with pytest.raises(FormatError):
        value_of(text, "a", fmt)


KEYS = st.text(alphabet="abcAB_.0", min_size=1, max_size=8)


@given(st.text(), KEYS, st.sampled_from(["shell", "ini", "toml", "yaml"]))
def test_readers_give_text_none_or_format_error(text: str, key: str, fmt: str) -> None:
    try:
        value = value_of(text, key, fmt)
    except FormatError:
        return
    assert value is None or isinstance(value, str)


# --- reading inside a container root -------------------------------------------------------------


@pytest.fixture(params=["openat2", "walk"])
def host(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Host:
    """The live host, with openat2 and with the component walk that replaces it on old kernels."""
    monkeypatch.setattr(host_module, "_openat2_missing", request.param == "walk")
    return Host("/")


def _container(base: Path, name: str, text: str | None = CSF) -> Path:
    root = base / name
    (root / "etc" / "csf").mkdir(parents=True)
    if text is not None:
        (root / "etc" / "csf" / "csf.conf").write_text(text)
    return root


def test_symlinks_never_leave_the_root(host: Host, tmp_path: Path) -> None:
    secret = tmp_path / "secret.conf"
    secret.write_text('LF_INTEGRITY = "stolen"\n')
    root = _container(tmp_path, "evil", None)
    (root / "etc" / "csf" / "csf.conf").symlink_to(secret)  # absolute: means evil/<secret path>
    (root / "etc" / "up").symlink_to("../../../secret.conf")
    for rel in ("etc/csf/csf.conf", "etc/up", "../secret.conf"):
        try:
            data = host.read_in_root(str(root), rel, 1000)
        except HostError:
            continue  # the walk refuses links and ".." outright
        assert data is None, rel  # resolved inside the root, where nothing is


def test_a_link_inside_the_root_is_followed_with_openat2(tmp_path: Path) -> None:
    root = _container(tmp_path, "ok")
    (root / "etc" / "link.conf").symlink_to("/etc/csf/csf.conf")  # the container's own file
    assert Host("/").read_in_root(str(root), "etc/link.conf", 1000) == CSF.encode()


def test_fifos_devices_and_large_files_are_not_read(host: Host, tmp_path: Path) -> None:
    root = _container(tmp_path, "odd", None)
    os.mkfifo(root / "etc" / "csf" / "csf.conf")
    with pytest.raises(HostError, match="not a regular file"):
        host.read_in_root(str(root), "etc/csf/csf.conf", 1000)  # and it did not hang
    (root / "big").write_bytes(b"x" * 2000)
    with pytest.raises(HostError, match="larger than 1000 bytes"):
        host.read_in_root(str(root), "big", 1000)
    if os.geteuid() == 0:
        os.mknod(root / "zero", 0o600 | 0o020000, os.makedev(1, 5))  # /dev/zero's numbers
        with pytest.raises(HostError, match="not a regular file"):
            host.read_in_root(str(root), "zero", 1000)


# --- the commands and the check ------------------------------------------------------------------


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    """Four containers: drifted, good, without csf.conf, with a FIFO in its place."""
    base = tmp_path / "vz"
    _container(base, "101")
    _container(base, "102", CSF.replace('"3600"', '"0"'))
    _container(base, "103", None)
    os.mkfifo(_container(base, "104", None) / "etc" / "csf" / "csf.conf")
    return base


def test_get_prints_every_container_and_its_problem(fleet: Path) -> None:
    done = run_stackwatch(
        "audit", "get", "LF_INTEGRITY", "--roots", f"{fleet}/*", "--file", "etc/csf/csf.conf"
    )
    assert done.returncode == 0, done.stderr
    lines = [line.split(None, 2) for line in done.stdout.splitlines()]
    assert lines[0] == ["container", "LF_INTEGRITY", "problem"]
    assert lines[1:] == [
        [f"{fleet}/101", "3600"],
        [f"{fleet}/102", "0"],
        [f"{fleet}/103", "-", "file missing"],
        [f"{fleet}/104", "-", "unreadable: etc/csf/csf.conf is not a regular file"],
    ]


def test_expect_names_the_containers_that_differ(fleet: Path) -> None:
    done = run_stackwatch(
        "audit",
        "expect",
        "LF_INTEGRITY=0",
        "TESTING=0",
        "--roots",
        f"{fleet}/*",
        "--file",
        "etc/csf/csf.conf",
        "--format",
        "json",
    )
    assert done.returncode == 4, done.stderr
    report = json.loads(done.stdout)
    assert report["containers"] == 4
    assert [(d["container"][-3:], d["differences"]) for d in report["differing"]] == [
        ("101", ["LF_INTEGRITY=3600"]),
        ("103", ["LF_INTEGRITY missing", "TESTING missing"]),
        ("104", ["LF_INTEGRITY missing", "TESTING missing"]),
    ]


def test_expect_all_equal_exits_0(fleet: Path) -> None:
    done = run_stackwatch(
        "audit", "expect", "TESTING=0", "--roots", f"{fleet}/10[12]", "--file", "etc/csf/csf.conf"
    )
    assert (done.returncode, done.stdout) == (0, "2 of 2 containers have TESTING=0\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--roots", "relative/*", "--file", "x"], "--roots: an absolute glob"),
        (["--roots", "/nonexistent-hb/*", "--file", "x"], "no container roots match"),
        (["--roots", "/tmp/*", "--file", "../etc/passwd"], "--file: a path relative"),
        (["--roots", "/tmp/*", "--file", "x", "--read-as", "xml"], "--read-as must be"),
    ],
)
def test_usage_errors(args: list[str], message: str) -> None:
    done = run_stackwatch("audit", "get", "K", *args)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_config_drift_check(fleet: Path, tmp_path: Path) -> None:
    config = tmp_path / "stackwatch.toml"
    config.write_text(
        f'[audit]\nroots = "{fleet}/*"\nfile = "etc/csf/csf.conf"\n'
        'expect = {{ LF_INTEGRITY = "0" }}\n'.replace("{{", "{").replace("}}", "}")
    )
    done = run_stackwatch("check", "config-drift", "--config", str(config), "--format", "nagios")
    assert done.returncode == 2, done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith(
        f"CONFIG-DRIFT CRITICAL - 1 of 4 containers differ from "
        f"LF_INTEGRITY=0: {fleet}/101; 2 without a readable"
    )


def test_config_drift_skips_without_configuration(tmp_path: Path) -> None:
    config = tmp_path / "stackwatch.toml"
    config.write_text("")
    done = run_stackwatch("check", "config-drift", "--config", str(config), "--format", "nagios")
    assert done.returncode == 0 and "no [audit] roots" in done.stdout
