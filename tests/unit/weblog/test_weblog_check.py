"""The weblog-flood check, run as Nagios would run it, on logs written with current timestamps."""

from __future__ import annotations

import json
import time
from pathlib import Path

from stackwatch.core.host import Host
from stackwatch.weblog.check import _tail
from tests.conftest import run_stackwatch

from .logdata import iframe_flood, line, normal_traffic


def run_check(tmp_path: Path, lines: list[str], *extra: str) -> tuple[int, dict[str, object]]:
    log = tmp_path / "www.example.com-access.log"
    log.write_text("".join(sorted(lines, key=lambda x: x.split("[")[1][:20])))
    config = tmp_path / "stackwatch.toml"
    config.write_text(
        f'[weblog]\nlogs = ["{tmp_path}/*-access.log"]\nsites = ["www.example.com"]\n'
        + "".join(extra)
    )
    result = run_stackwatch(
        "check", "weblog-flood", "--config", str(config), "--state-dir", str(tmp_path / "state"),
        "--format", "json",
    )  # fmt: skip
    (doc,) = json.loads(result.stdout)["checks"]
    return result.returncode, doc


def test_critical_while_a_flood_is_under_way(tmp_path: Path) -> None:
    now = time.time()
    code, doc = run_check(tmp_path, normal_traffic(now - 180, 180) + iframe_flood(now - 30, 30))
    assert code == 2, doc
    assert "seo-spam.example" in str(doc["summary"])
    # The flooding site (registrable domain) is what the details name and the rule blocks.
    assert "-access.log: Referer site seo-spam.example peak " in str(doc["details"])
    assert str(doc["hint"]).startswith("block the referring site and its subdomains: ")


def test_ok_without_a_flood_and_for_an_old_one(tmp_path: Path) -> None:
    now = time.time()
    old_flood = iframe_flood(now - 3600, 60)
    code, doc = run_check(tmp_path, old_flood + normal_traffic(now - 180, 180))
    assert code == 0, doc
    assert "no Referer flood" in str(doc["summary"])


def test_skip_without_logs_and_unknown_on_bad_config(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[weblog]\n")
    result = run_stackwatch("check", "weblog-flood", "--config", str(config), "--format", "nagios")
    assert result.returncode == 0 and "no web logs configured" in result.stdout
    config.write_text(
        '[weblog]\nlogs = ["/x"]\nsites = ["a.example"]\n[weblog.detect]\nwindow = "x"\n'
    )
    result = run_stackwatch("check", "weblog-flood", "--config", str(config), "--format", "nagios")
    assert result.returncode == 3 and "weblog.detect.window" in result.stdout


def test_reads_a_root_tree_through_the_host(tmp_path: Path) -> None:
    """--root: the configured machine paths are looked up in the captured tree; the result names
    them as on the machine."""
    logs = tmp_path / "root" / "var" / "log" / "apache2"
    logs.mkdir(parents=True)
    now = time.time()
    lines = normal_traffic(now - 180, 180) + iframe_flood(now - 30, 30)
    (logs / "www.example.com-access.log").write_text(
        "".join(sorted(lines, key=lambda x: x.split("[")[1][:20]))
    )
    (logs / "old-access.log.1.gz").write_bytes(b"\x1f\x8b junk")  # rotated, compressed: not read
    (logs / "dir-access.log").mkdir()
    config = tmp_path / "stackwatch.toml"
    config.write_text(
        '[weblog]\nlogs = ["/var/log/apache2/*-access.log*"]\nsites = ["www.example.com"]\n'
    )
    result = run_stackwatch(
        "check", "weblog-flood", "--config", str(config), "--root", str(tmp_path / "root"),
        "--state-dir", str(tmp_path / "state"), "--format", "json",
    )  # fmt: skip
    (doc,) = json.loads(result.stdout)["checks"]
    assert result.returncode == 2, doc
    assert "seo-spam.example" in str(doc["summary"])
    assert str(doc["details"]).count("/var/log/apache2/www.example.com-access.log") == 1
    assert str(tmp_path) not in json.dumps(doc)


def test_tail_is_whole_lines(tmp_path: Path) -> None:
    lines = [line(1_700_000_000 + n, path=f"/{'x' * n}").encode() for n in range(20)]
    text = b"".join(lines)
    (tmp_path / "log").write_bytes(text)
    host = Host(tmp_path)
    for size in [*range(0, len(text) + 2, 7), len(text) - len(lines[0]), len(text) - 1]:
        whole = [b"".join(lines[n:]) for n in range(len(lines) + 1)]
        assert _tail(host, "/log", size) == max((t for t in whole if len(t) <= size), key=len)
