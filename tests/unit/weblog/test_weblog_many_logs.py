"""follow on a glob matching many logs: within the open-file limit (idle files closed, opened again
when they change), every line read exactly once, and any log not followed named."""

from __future__ import annotations

import os
import re
import resource
from pathlib import Path

import pytest

from stackwatch.weblog import follow as follow_module
from stackwatch.weblog.follow import Follower
from tests.conftest import run_stackwatch

from .logdata import line


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _lines(blocks: list[bytes]) -> list[bytes]:
    return [ln for b in blocks for ln in b.split(b"\n") if ln]


def test_many_logs_every_line_once_with_few_descriptors(tmp_path: Path) -> None:
    logs = [tmp_path / f"site{i:03d}-access.log" for i in range(200)]
    for log in logs:
        log.write_bytes(b"")
    follower = Follower([str(p) for p in logs], max_open=8)
    baseline = _open_fds()
    assert follower.poll() == []
    expected: list[bytes] = []
    got: list[bytes] = []
    for round_ in range(6):
        for i, log in enumerate(logs):
            if (i + round_) % 3:  # a third of the logs is quiet in each round
                continue
            if round_ == 3 and i % 7 == 0:  # rotated while (probably) parked
                os.rename(log, f"{log}.1")
                log.write_bytes(b"")
            text = f"{log.name} round {round_}\n".encode()
            with open(log, "ab") as out:
                out.write(text)
            expected.append(text.strip())
        got.extend(_lines(follower.poll()))
        assert _open_fds() - baseline <= 8 + len(follower._retired) + 1
    got.extend(_lines(follower.poll()))
    assert sorted(got) == sorted(expected)
    follower.close()


def test_logs_beyond_the_limit_are_named_not_dropped_silently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(follow_module, "MAX_FILES", 3)
    for i in range(5):
        (tmp_path / f"v{i}.log").write_bytes(b"")
    first = [str(tmp_path / f"v{i}.log") for i in range(4)]
    follower = Follower(first, patterns=[str(tmp_path / "*.log")], rescan=0.0)
    follower.poll()
    named = [e for e in follower.events if "not followed" in e]
    assert sorted(named) == sorted(
        f"{tmp_path}/v{i}.log: not followed, already 3 logs" for i in (3, 4)
    )
    follower.poll()
    assert len([e for e in follower.events if "not followed" in e]) == 2  # each named once


def test_follow_cli_on_a_thousand_logs_under_a_low_open_file_limit(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    for i in range(1000):
        (logs / f"vhost{i:04d}-access.log").write_text(
            line(1_700_000_000 + i, referrer="https://a.example/") * 2
        )

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))

    result = run_stackwatch(
        "weblog", "follow", str(logs / "*.log"), "--site", "www.example.com", "--from-start",
        "--duration", "2", "--interval", "0.2", "--state-dir", str(tmp_path / "state"),
        preexec_fn=low_limit,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "not followed" not in result.stdout
    assert re.search(r"stopped: 2000 lines read, 0 unreadable", result.stdout), result.stdout[-500:]
