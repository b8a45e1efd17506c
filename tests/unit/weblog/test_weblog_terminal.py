"""What detect prints for a person: no control character or escape sequence from the logs, and a
suggested block command that a shell runs as exactly one ``weblog rules`` with the flagged hosts."""

from __future__ import annotations

import shlex

from hypothesis import given, settings
from hypothesis import strategies as st

from stackwatch.weblog.detect import Finding
from stackwatch.weblog.reader import ScanStats
from stackwatch.weblog.rules import UnsafeHost, normalize_host
from stackwatch.weblog.views import detect_text

HOSTS = st.one_of(
    st.text(max_size=30),
    st.text(alphabet="ab.$`'\"\\;|&()<>*?[]{}~!#\n\r\x1b\x07\x9b :", max_size=20),
    st.sampled_from(["evil.example", "[::1]", "a$(id).example", "x';id;'.example"]),
)


def _finding(host: str) -> Finding:
    finding = Finding(host, 1_700_000_000.0, 1_700_000_010.0, 50.0, requests=500)
    finding.paths[f"/search?{host}"] = 500
    return finding


@settings(max_examples=400, deadline=None)
@given(st.lists(HOSTS, min_size=1, max_size=4, unique=True))
def test_detect_text_is_printable_and_its_block_command_is_inert(hosts: list[str]) -> None:
    text = detect_text([_finding(h) for h in hosts], ScanStats(lines=1, matched=1))
    assert all(c == "\n" or c.isprintable() for c in text)
    assert "\x1b" not in text and "\r" not in text
    blockable = []
    for host in hosts:
        try:
            blockable.append(normalize_host(host))
        except UnsafeHost:
            assert any(line.startswith("cannot block Referer site ") for line in text.splitlines())
    commands = [line for line in text.splitlines() if line.startswith("block with: ")]
    if not blockable:
        assert not commands
        return
    (command,) = commands
    argv = shlex.split(command.removeprefix("block with: "))
    assert argv[:3] == ["stackwatch", "weblog", "rules"] and argv[-2:] == ["--server", "apache"]
    named = argv[3:-2]
    assert named[::2] == ["--referrer-host"] * len(named[1::2])
    assert sorted(named[1::2]) == sorted(set(blockable))
