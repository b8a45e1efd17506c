"""assemble: the server's class from its name, bad repositories refused with the path, a tree
that Nagios refuses changes nothing, the swap, up-to-date runs, rollback, one run at a time.
Nagios here is a small stand-in with its -v behaviour (tests/integration runs the real one)."""

from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path

import pytest

from stackwatch.core.host import Host
from stackwatch.nagios.repo import RepoError, Server, classify, plan
from stackwatch.nagios.settings import NagiosSettings, ServerRule
from stackwatch.nagios.validate import ValidateError, main_config_for
from tests.conftest import run_stackwatch

FAKE_NAGIOS = """\
import os, sys
main = open(sys.argv[2]).read().splitlines()
conf = dict(line.split("=", 1) for line in main if "=" in line)
results = conf["check_result_path"]
if not os.access(results, os.W_OK):
    print("\\tError: Unable to write to check_result_path"); sys.exit(1)
for line in main:
    if line.startswith("cfg_dir="):
        for top, dirs, files in os.walk(line[8:], followlinks=True):
            for name in sorted(files):
                path = os.path.join(top, name)
                for number, text in enumerate(open(path), 1):
                    if "BROKEN" in text:
                        where = f"config file '{path}', starting on line {number}"
                        print(f"Error: Invalid object ({where})")
                        sys.exit(1)
print("Things look okay")
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A repository, a main configuration reading etc/conf.d, a fake nagios and reload."""
    repo = tmp_path / "repo"
    (repo / "common/cell/sub").mkdir(parents=True)
    (repo / "common/global").mkdir(parents=True)
    (repo / "common/cell/commands.cfg").write_text("define command {\n}\n")
    (repo / "common/cell/sub/more.cfg").write_text("# more\n")
    (repo / "environments/prod/c0001").mkdir(parents=True)
    (repo / "environments/prod/c0001/hosts.cfg").write_text("define host {\n}\n")
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "nagios.cfg").write_text("cfg_dir=conf.d\ncheck_result_path=/nonexistent\n")
    nagios = tmp_path / "nagios"
    nagios.write_text(f"#!{sys.executable}\n{FAKE_NAGIOS}")
    nagios.chmod(0o755)
    reload = tmp_path / "reload"
    reload.write_text(f"#!/bin/sh\necho reloaded >> {tmp_path}/reloads\n")
    reload.chmod(0o755)
    (tmp_path / "sw.toml").write_text(
        f'[nagios]\nrepo = "{repo}"\nconf_dir = "{etc}/conf.d"\nmain_config = "{etc}/nagios.cfg"\n'
        f'nagios = "{nagios}"\nreload_command = ["{reload}"]\n'
    )
    return tmp_path


def assemble(site: Path, *args: str):  # type: ignore[no-untyped-def]
    return run_stackwatch(
        "nagios",
        "assemble",
        "--config",
        str(site / "sw.toml"),
        "--host",
        "nagios-prod-c0001",
        *args,
    )


def reloads(site: Path) -> int:
    path = site / "reloads"
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_class_and_environment_from_the_server_name() -> None:
    settings = NagiosSettings(servers=(ServerRule("mon-global-*", "global", "prod", "global"),))
    assert classify(settings, "nagios-prod-c0042.dc1") == Server(
        "nagios-prod-c0042.dc1", "cell", "prod", "c0042"
    )
    assert classify(settings, "mon-global-1") == Server("mon-global-1", "global", "prod", "global")
    with pytest.raises(RepoError, match="cannot tell the class of server 'web1'"):
        classify(settings, "web1")


def test_bad_repositories_are_refused_with_the_path(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "environments/prod/c0001").mkdir(parents=True)
    server = Server("n", "cell", "prod", "c0001")
    with pytest.raises(RepoError, match=r"common/cell: missing class folder"):
        plan(Host(), str(repo), server)
    (repo / "common/cell").mkdir(parents=True)
    (repo / "common/cell/gone.cfg").symlink_to(repo / "nowhere.cfg")
    with pytest.raises(RepoError, match=r"common/cell/gone\.cfg: broken symlink"):
        plan(Host(), str(repo), server)
    (repo / "common/cell/gone.cfg").unlink()
    (tmp_path / "secret.cfg").write_text("x")
    (repo / "environments/prod/c0001/leak.cfg").symlink_to(tmp_path / "secret.cfg")
    with pytest.raises(RepoError, match=r"c0001/leak\.cfg: symlink leads outside the repository"):
        plan(Host(), str(repo), server)
    with pytest.raises(RepoError, match=r"environments/prod/c0002: missing environment folder"):
        plan(Host(), str(repo), Server("n", "cell", "prod", "c0002"))


def test_the_main_configuration_copy_reads_the_new_tree(tmp_path: Path) -> None:
    text = (
        "cfg_file=objects/a.cfg\ncfg_dir=/etc/nagios4/conf.d/\n"
        "check_result_path=/var/x\nlog_file=/l\n"
    )
    copy = main_config_for(text, "/etc/nagios4/nagios.cfg", "/etc/nagios4/conf.d", "/t/new", "/r")
    assert copy.splitlines() == [
        "cfg_file=/etc/nagios4/objects/a.cfg",
        "cfg_dir=/t/new",
        "log_file=/l",
        "check_result_path=/r",
        "temp_path=/r",
    ]
    with pytest.raises(ValidateError, match="has no cfg_dir=/etc/other"):
        main_config_for(text, "/etc/nagios4/nagios.cfg", "/etc/other", "/t/new", "/r")


def test_install_then_up_to_date_then_change(site: Path) -> None:
    done = assemble(site)
    assert done.returncode == 0, done.stderr
    live = site / "etc/conf.d"
    assert (live / "commands.cfg").read_text() == "define command {\n}\n"
    assert (live / "sub/more.cfg").exists() and not (live / "sub").is_symlink()
    assert os.readlink(live / "environment") == str(site / "repo/environments/prod/c0001")
    assert reloads(site) == 1
    again = assemble(site)
    assert again.returncode == 0 and "up to date" in again.stdout and reloads(site) == 1
    # The linked part changed: the tree is the same, Nagios is reloaded to read it.
    (site / "repo/environments/prod/c0001/hosts.cfg").write_text("define host {\n}\n# new\n")
    linked = assemble(site)
    assert linked.returncode == 0 and "not reloaded with it yet" in linked.stdout
    assert reloads(site) == 2 and not (site / "etc/.conf.d.previous").exists()
    # A copied file changed: a new tree is swapped in, the old one kept.
    (site / "repo/common/cell/commands.cfg").write_text("define command {\n}\n# new\n")
    changed = assemble(site)
    assert changed.returncode == 0 and "installed" in changed.stdout and reloads(site) == 3
    assert (site / "etc/.conf.d.previous/commands.cfg").read_text() == "define command {\n}\n"


def test_a_refused_tree_changes_nothing_and_quotes_nagios(site: Path) -> None:
    assert assemble(site).returncode == 0
    before = sorted(p.name for p in (site / "etc").iterdir())
    (site / "repo/common/cell/commands.cfg").write_text("define command {\nBROKEN\n}\n")
    refused = assemble(site)
    assert refused.returncode == 1
    assert (
        f"Error: Invalid object (config file '{site}/repo/common/cell/commands.cfg', starting on "
        "line 2)" in refused.stderr
    )
    assert "refused the new configuration; nothing was changed" in refused.stderr
    assert (site / "etc/conf.d/commands.cfg").read_text() == "define command {\n}\n"
    assert sorted(p.name for p in (site / "etc").iterdir()) == before and reloads(site) == 1


def test_errors_in_the_linked_part_are_shown_in_the_repository(site: Path) -> None:
    (site / "repo/environments/prod/c0001/bad.cfg").write_text("BROKEN\n")
    refused = assemble(site)
    assert refused.returncode == 1
    assert f"'{site}/repo/environments/prod/c0001/bad.cfg', starting on line 1" in refused.stderr
    assert not (site / "etc/conf.d").exists()


def test_bad_repository_through_the_command_line(site: Path) -> None:
    (site / "repo/common/cell/escape.cfg").symlink_to("/etc/passwd")
    done = assemble(site)
    assert done.returncode == 1 and "symlink leads outside the repository" in done.stderr
    assert not (site / "etc/conf.d").exists() and not (site / "etc/.conf.d.new").exists()
    unknown = run_stackwatch("nagios", "assemble", "--config", str(site / "sw.toml"), "--host", "x")
    assert unknown.returncode == 2 and "cannot tell the class" in unknown.stderr


def test_rollback_puts_the_previous_tree_back(site: Path) -> None:
    assert assemble(site).returncode == 0
    (site / "repo/common/cell/commands.cfg").write_text("define command {\n}\n# two\n")
    assert assemble(site).returncode == 0
    back = assemble(site, "--rollback")
    assert back.returncode == 0, back.stderr
    assert (site / "etc/conf.d/commands.cfg").read_text() == "define command {\n}\n"
    assert "# two" in (site / "etc/.conf.d.previous/commands.cfg").read_text()
    assert reloads(site) == 3


def test_check_only_and_one_run_at_a_time(site: Path) -> None:
    checked = assemble(site, "--check")
    assert checked.returncode == 0 and "nothing changed" in checked.stdout
    assert not (site / "etc/conf.d").exists()
    fd = os.open(site / "etc/.conf.d.lock", os.O_WRONLY | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        busy = assemble(site)
    finally:
        os.close(fd)
    assert busy.returncode == 75 and "another assemble" in busy.stderr


def test_a_failed_reload_is_retried_without_swapping_again(site: Path) -> None:
    assert assemble(site).returncode == 0
    (site / "repo/common/cell/commands.cfg").write_text("define command {\n}\n# two\n")
    reload = site / "reload"
    good = reload.read_text()
    reload.write_text("#!/bin/sh\necho 'nagios4 is not running' >&2\nexit 3\n")
    failed = assemble(site)
    assert failed.returncode == 1 and "reloading Nagios failed" in failed.stdout
    assert "# two" in (site / "etc/conf.d/commands.cfg").read_text()
    reload.write_text(good)
    retried = assemble(site)
    assert retried.returncode == 0, retried.stderr
    assert "not reloaded with it yet" in retried.stdout and "installed" not in retried.stdout
    assert "# two" not in (site / "etc/.conf.d.previous/commands.cfg").read_text()
    assert reloads(site) == 2
    assert "up to date" in assemble(site).stdout


def test_a_hand_edit_of_the_live_tree_is_replaced(site: Path) -> None:
    assert assemble(site).returncode == 0
    (site / "etc/conf.d/commands.cfg").write_text("# edited by hand\n")
    again = assemble(site)
    assert again.returncode == 0 and "installed" in again.stdout
    assert (site / "etc/conf.d/commands.cfg").read_text() == "define command {\n}\n"


def test_a_global_server_named_in_the_configuration_links_its_part(site: Path) -> None:
    (site / "repo/common/global/api.cfg").write_text("define command {\n}\n")
    (site / "repo/environments/prod/global").mkdir()
    with (site / "sw.toml").open("a") as config:
        config.write(
            '\n[[nagios.servers]]\nhost = "mon-global-*"\nserver_class = "global"\n'
            'environment = "prod"\npart = "global"\n'
        )
    done = run_stackwatch(
        "nagios", "assemble", "--config", str(site / "sw.toml"), "--host", "mon-global-1"
    )
    assert done.returncode == 0, done.stderr
    assert "class global, environment prod/global" in done.stdout
    live = site / "etc/conf.d"
    assert (live / "api.cfg").exists() and not (live / "commands.cfg").exists()
    assert os.readlink(live / "environment") == str(site / "repo/environments/prod/global")
