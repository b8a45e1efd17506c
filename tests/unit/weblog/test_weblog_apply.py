"""Putting rules in place: validation before reload, the previous file restored when the server's
configuration test fails, bans lifted after their time."""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from stackwatch.core.host import Host
from stackwatch.weblog.apply import Blocker, parse_target, split_command
from stackwatch.weblog.rules import MARKER
from tests.conftest import run_stackwatch


def make(tmp_path: Path, validate: list[str], ban: float = 60.0) -> tuple[Blocker, Path]:
    rules = tmp_path / "stackwatch-referer.conf"
    reloads = tmp_path / "reloads"
    reload = [sys.executable, "-c", f"open({str(reloads)!r}, 'a').write('r\\n')"]
    return Blocker("apache", str(rules), validate, reload, ban, Host()), rules


def reload_count(tmp_path: Path) -> int:
    path = tmp_path / "reloads"
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_block_writes_rules_validates_and_reloads(tmp_path: Path) -> None:
    blocker, rules = make(tmp_path, ["true"])
    assert blocker.update(["Attacker.example.net"], now=1000.0)
    assert r"attacker\.example\.net" in rules.read_text()
    assert blocker.blocked == {"attacker.example.net": 1060.0}
    assert reload_count(tmp_path) == 1
    # Still flooding: the ban is extended, nothing rewritten or reloaded.
    assert not blocker.update(["attacker.example.net"], now=1030.0)
    assert blocker.blocked == {"attacker.example.net": 1090.0}
    assert reload_count(tmp_path) == 1
    # Quiet past the ban time: the block is lifted.
    assert blocker.update([], now=1100.0)
    assert "RewriteRule" not in rules.read_text()
    assert reload_count(tmp_path) == 2
    assert blocker.log[:1] == [
        "blocked Referer site attacker.example.net and its subdomains for 60 s"
    ]
    assert "lifted block of Referer site attacker.example.net (ban time over)" in blocker.log


def test_failed_validation_restores_the_previous_file_and_does_not_reload(tmp_path: Path) -> None:
    blocker, rules = make(tmp_path, ["false"])
    rules.write_text(f"{MARKER}\n# the file before\n")
    assert not blocker.update(["attacker.example.net"], now=1000.0)
    assert rules.read_text() == f"{MARKER}\n# the file before\n"
    assert blocker.blocked == {}
    assert reload_count(tmp_path) == 0
    assert any("configuration test failed" in line for line in blocker.log)
    # A file that did not exist before is removed again.
    rules.unlink()
    blocker.failed.clear()
    blocker.update(["attacker.example.net"], now=1000.0)
    assert not rules.exists()


def test_unsafe_hosts_are_never_written(tmp_path: Path) -> None:
    blocker, rules = make(tmp_path, ["true"])
    assert not blocker.update(['evil.com" [F]\nRewriteRule .* http://x', "!x.com"], now=1.0)
    assert not rules.exists()
    assert len([line for line in blocker.log if line.startswith("not blocked")]) == 2


def test_blocks_survive_in_state(tmp_path: Path) -> None:
    blocker, _ = make(tmp_path, ["true"])
    blocker.update(["a.example.net"], now=10.0)
    again = Blocker.from_state(
        {**blocker.state(), "junk": 1}, server="apache", path=blocker.path, validate=["true"],
        reload=None, ban_time=60.0,
    )  # fmt: skip
    assert again.blocked == {"a.example.net": 70.0}
    assert Blocker.from_state({"blocked": {"bad host": 5}}, server="apache", path="x",
                              validate=[], reload=None, ban_time=1).blocked == {}  # fmt: skip


def test_targets_and_commands() -> None:
    assert parse_target("nginx:/etc/nginx/conf.d/x.conf") == ("nginx", "/etc/nginx/conf.d/x.conf")
    for bad in ("lighttpd:/x", "apache", "apache:"):
        try:
            parse_target(bad)
        except ValueError:
            continue
        raise AssertionError(bad)
    assert split_command("apache2ctl -f '/a b/c.conf' -t") == [
        "apache2ctl",
        "-f",
        "/a b/c.conf",
        "-t",
    ]


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=200))
def test_someone_elses_file_is_never_replaced(tmp_path: Path, content: bytes) -> None:
    """Only a file whose first line is stackwatch's marker (or no file) is written."""
    assume(content.split(b"\n", 1)[0].rstrip(b"\r") != MARKER.encode())
    blocker, rules = make(tmp_path, ["true"])
    rules.write_bytes(content)
    assert not blocker.update(["attacker.example.net"], now=1000.0)
    assert rules.read_bytes() == content
    assert any("not written by stackwatch" in line for line in blocker.log)
    assert reload_count(tmp_path) == 0


def test_a_symlink_stays_a_link_and_its_target_is_written(tmp_path: Path) -> None:
    blocker, rules = make(tmp_path, ["true"])
    real = tmp_path / "real" / "stackwatch.conf"
    real.parent.mkdir()
    real.write_text(f"{MARKER}\n# no Referer blocked\n")
    rules.symlink_to(real)
    assert blocker.update(["attacker.example.net"], now=1000.0)
    assert rules.is_symlink() and rules.resolve() == real
    assert "attacker" in real.read_text()
    # A link to someone's file: refused, the file and the link untouched.
    real.write_text("Include /etc/apache2/important.conf\n")
    assert not blocker.update(["other.example.net"], now=1001.0)
    assert rules.is_symlink() and real.read_text() == "Include /etc/apache2/important.conf\n"
    # A dangling link: its target is created, the link kept.
    real.unlink()
    blocker.failed.clear()
    assert blocker.update(["other.example.net"], now=1002.0)
    assert rules.is_symlink() and "other" in real.read_text()


def test_follow_apply_refuses_a_file_it_did_not_write(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("")
    mine = tmp_path / "site.conf"
    mine.write_text("<VirtualHost *:80>\n</VirtualHost>\n")
    result = run_stackwatch(
        "weblog", "follow", str(log), "--site", "www.example.com", "--apply",
        f"apache:{mine}", "--validate-command", "true", "--reload-command", "true",
        "--duration", "1", "--state-dir", str(tmp_path / "state"),
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "not written by stackwatch" in result.stderr and "Traceback" not in result.stderr
    assert mine.read_text() == "<VirtualHost *:80>\n</VirtualHost>\n"


def test_an_unblockable_flooding_host_is_reported_once(tmp_path: Path) -> None:
    blocker, rules = make(tmp_path, ["true"])
    for now in (1.0, 2.0, 3.0):
        blocker.update(["b\u00dccher.example", "[::1]"], now=now)
    assert len([line for line in blocker.log if line.startswith("not blocked")]) == 1
    assert blocker.blocked == {"[::1]": 63.0}  # an IPv6 literal is blocked (ban extended)
    assert r"\[::1\]" in rules.read_text()
