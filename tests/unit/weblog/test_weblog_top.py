"""Counting by field over plain, gzip and rotated logs and stdin; junk counted, never fatal."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

from stackwatch.core.host import Host
from stackwatch.weblog.formats import get_format
from stackwatch.weblog.reader import expand, order_rotated, rotated_name
from stackwatch.weblog.top import count_by, referrers_and_hosts
from tests.conftest import run_stackwatch

from .logdata import line

T0 = 1_700_000_000.0


def test_counts_by_every_key_across_plain_gzip_and_rotated(tmp_path: Path) -> None:
    (tmp_path / "access.log").write_text(
        line(T0 + 20, "192.0.2.1", "/a?x=1", "https://A.example.net/p")
        + line(T0 + 21, "2001:db8::1", "/a?x=2", "https://b.example.net/", status=404)
    )
    (tmp_path / "access.log.1").write_text(line(T0 + 10, "192.0.2.1", "/b", "-"))
    with gzip.open(tmp_path / "access.log.2.gz", "wt") as out:
        out.write(line(T0, "192.0.2.2", "/a", "https://a.example.net/q", agent='say \\"hi\\"'))
    logs = [str(tmp_path / "access.log*")]
    fmt = get_format("combined")
    assert count_by(logs, fmt, "site").rows == [
        ("a.example.net", 2),
        ("-", 1),
        ("b.example.net", 1),
    ]
    assert count_by(logs, fmt, "path").rows == [("/a", 3), ("/b", 1)]
    assert count_by(logs, fmt, "status").rows == [("200", 3), ("404", 1)]
    assert count_by(logs, fmt, "ip").rows[0] == ("192.0.2.1", 2)
    assert ('say "hi"', 1) in count_by(logs, fmt, "agent").rows
    assert count_by(logs, fmt, "referrer", since=T0 + 15).total == 2
    names = [Path(p).name for p in expand(logs)]
    assert names == ["access.log.2.gz", "access.log.1", "access.log"]
    referrers, hosts = referrers_and_hosts(logs, fmt, 1)  # the HTML report's one read of both
    assert referrers == count_by(logs, fmt, "referrer", limit=1)
    assert hosts == count_by(logs, fmt, "site", limit=None)


def test_rotated_order() -> None:
    paths = ["x.log", "x.log.10.gz", "x.log.2.gz", "x.log.1", "y.log"]
    assert order_rotated(paths) == ["x.log.10.gz", "x.log.2.gz", "x.log.1", "x.log", "y.log"]


def test_junk_long_lines_and_invalid_utf8_are_skipped_and_counted(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    with open(log, "wb") as out:
        out.write(line(T0, referrer="https://ok.example.net/").encode())
        out.write(b"\x00\xff junk \xc3\x28\n")
        out.write(b"x" * (1 << 20) + b"\n")  # a 1 MB line
        out.write(b"y" * (9 << 20) + b"\n")  # longer than any log line: dropped unread
        out.write(line(T0, referrer="https://\xe9.example.net/").encode("latin-1"))
        out.write(b'192.0.2.1 - - [01/Jan/2024:00:00:00 +0000] "GET /trunc')  # truncated, no \n
    result = count_by([str(log)], get_format("combined"), "referrer")
    assert result.total == 2
    assert result.stats.skipped == 4
    assert result.stats.too_long == 1
    assert ("https://\ufffd.example.net/", 1) in result.rows


def test_cli_top_reads_stdin_and_speaks_json(tmp_path: Path) -> None:
    data = "".join(line(T0, referrer=f"https://s{i % 3}.example.net/") for i in range(9))
    result = run_stackwatch("weblog", "top", "-", "--by", "site", "--format", "json", input=data)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["total"] == 9 and doc["rows"][0]["count"] == 3


def test_cli_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    for args in (
        ["top", str(tmp_path / "missing.log"), "--by", "site"],
        ["top", str(tmp_path), "--by", "site"],
        ["top", "-", "--by", "colour"],
        ["top", "-", "--by", "site", "--log-format", "fancy"],
        ["top", "-", "--by", "referrer", "--log-format", "common"],
        ["top", "-", "--by", "site", "--since", "yesterday"],
        ["detect", "-"],
        ["rules", "--referrer-host", "evil.com\nRewriteRule"],
    ):
        result = run_stackwatch("weblog", *args, input="")
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.startswith("stackwatch: "), (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_text_never_puts_control_characters_from_logs_on_the_terminal(tmp_path: Path) -> None:
    """Apache logs an escape sequence in a Referer as \\x1b; unescaped, it must not reach the
    terminal: the text view shows it as an escape, JSON escapes it itself."""
    log = tmp_path / "access.log"
    evil = "https://evil\\x1b]0;owned\\x07\\x1b[2J.example.net/\\x0d"
    log.write_text(line(T0, referrer=evil) + line(T0, referrer="https://ok.example.net/"))
    for by in ("site", "referrer"):
        text = run_stackwatch("weblog", "top", str(log), "--by", by).stdout
        assert "\x1b" not in text and "\x07" not in text and "\r" not in text
        assert "evil\\x1b]0;owned\\x07\\x1b[2" in text  # shown, made visible
    doc = run_stackwatch("weblog", "top", str(log), "--by", "site", "--format", "json").stdout
    assert "\x1b" not in doc
    assert "evil\x1b]0;owned\x07\x1b[2j.example.net" in [r["key"] for r in json.loads(doc)["rows"]]


def test_relative_paths_and_globs_are_read_from_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "access.log").write_text(line(T0, referrer="https://a.example.net/"))
    (tmp_path / "access.log.1").write_text(line(T0 - 9, referrer="https://b.example.net/"))
    for args in (["access.log*"], ["access.log", "access.log.1"], ["./access.log*"]):
        result = run_stackwatch("weblog", "top", *args, "--by", "site", "--format", "json",
                                cwd=tmp_path)  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["total"] == 2
    missing = run_stackwatch("weblog", "top", "nothing.log", "--by", "site", cwd=tmp_path)
    assert missing.returncode == 2 and f"{tmp_path}/nothing.log" in missing.stderr


def test_logs_are_read_through_the_host_root(tmp_path: Path) -> None:
    """Every read goes through the Host: machine paths are looked up in its root's tree."""
    logs = tmp_path / "var" / "log"
    logs.mkdir(parents=True)
    (logs / "access.log").write_text(line(T0, referrer="https://a.example.net/"))
    with gzip.open(logs / "access.log.1.gz", "wt") as out:
        out.write(line(T0 - 9, referrer="https://b.example.net/"))
    host = Host(tmp_path)
    result = count_by(["/var/log/access.log*"], get_format("combined"), "site", host=host)
    assert sorted(result.rows) == [("a.example.net", 1), ("b.example.net", 1)]
    assert result.stats.files == ["/var/log/access.log.1.gz", "/var/log/access.log"]


def test_one_rule_names_rotated_logs() -> None:
    """The reader orders rotated sets and the follower leaves rotated copies alone by one rule."""
    for name, expected in [
        ("/l/access.log", ("/l/access.log", None, False)),
        ("/l/access.log.1", ("/l/access.log", 1, False)),
        ("/l/access.log.12.gz", ("/l/access.log", 12, True)),
        ("/l/access.log-20240101", ("/l/access.log", 20240101, False)),
        ("/l/access.log-20240101.xz", ("/l/access.log", 20240101, True)),
        ("/l/access.log.zst", ("/l/access.log", None, True)),
        ("/l/site-a.log", ("/l/site-a.log", None, False)),
        ("/l/a\nb.log", ("/l/a\nb.log", None, False)),
    ]:
        assert tuple(rotated_name(name)) == expected, name
    assert [rotated_name(n).rotated for n in ("/l/x.log", "/l/x.log.2", "/l/x.log.gz")] == [
        False,
        True,
        True,
    ]


def test_since_reads_m_as_minutes_and_bad_settings_name_their_key(tmp_path: Path) -> None:
    now = time.time()
    log = tmp_path / "access.log"
    ref = "https://a.example.net/"
    stamps = [int(now) - 600 + s for s in range(600)]  # one request a second, whole seconds
    log.write_text("".join(line(t, referrer=ref) for t in stamps))
    started = time.time()
    result = run_stackwatch("weblog", "top", str(log), "--by", "site", "--since", "2m",
                            "--format", "json")  # fmt: skip
    ended = time.time()
    fewest = sum(t >= ended - 120 for t in stamps)  # however long the command took to start
    most = sum(t >= started - 120 for t in stamps)
    assert fewest <= json.loads(result.stdout)["total"] <= most and most <= 121
    config = tmp_path / "c.toml"
    config.write_text('[weblog]\nban_time = "soon"\n')
    result = run_stackwatch("weblog", "top", str(log), "--by", "site", "--config", str(config))
    assert result.returncode == 2 and "weblog.ban_time" in result.stderr, result.stderr


def test_top_runs_without_typer_and_leaves_help_and_mistakes_to_it(tmp_path: Path) -> None:
    """`weblog top` skips importing Typer (a tenth of a second) on every command line it reads
    for sure; options anywhere, "=" or not, "--" before paths give the same table, and help and
    mistakes are answered by Typer as before."""
    import subprocess
    import sys

    log = tmp_path / "access.log"
    log.write_text(line(T0, referrer="https://a.example/") + line(T0) + line(T0))
    same = [
        ("top", str(log), "--by", "referrer", "--limit", "1"),
        ("top", "--limit=1", "--by=referrer", str(log)),
        ("top", "--by", "referrer", "--limit", "1", "--", str(log)),
    ]
    outputs = {run_stackwatch("weblog", *words).stdout for words in same}
    assert outputs == {"     count   share  referrer\n         2  66.67%  -\n"
                       "3 requests, 0 unreadable lines skipped\n"}  # fmt: skip
    probe = (
        "import sys; from stackwatch.cli import main; code = main(sys.argv[1:]); "
        "print('typer' in sys.modules, code, file=sys.stderr)"
    )
    quick = subprocess.run([sys.executable, "-c", probe, "weblog", "top", str(log), "--by", "ip"],
                           capture_output=True, text=True, check=False)  # fmt: skip
    assert quick.stderr.strip() == "False 0"
    helped = run_stackwatch("weblog", "top", "--help")
    assert helped.returncode == 0 and "--by" in helped.stdout
    for words, message in [
        (("--by", "referrer", "--limit", "x"), "'x' is not a valid int"),
        (("--limit", "2"), "Missing option '--by'"),
        (("--by", "ip", "--bogus", "1"), "No such option: --bogus"),
    ]:
        wrong = run_stackwatch("weblog", "top", str(log), *words)
        assert wrong.returncode == 2 and message in wrong.stderr
    assert "--by must be one of" in run_stackwatch("weblog", "top", str(log), "--by", "x").stderr
