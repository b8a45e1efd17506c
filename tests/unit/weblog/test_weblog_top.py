"""Counting by field over plain, gzip and rotated logs and stdin; junk counted, never fatal."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from stackwatch.weblog.formats import get_format
from stackwatch.weblog.reader import expand, order_rotated
from stackwatch.weblog.top import count_by
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
