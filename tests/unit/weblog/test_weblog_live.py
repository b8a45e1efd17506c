"""The follow loop end to end (no web server): lines written while the log is rotated are each
read exactly once, a flood is reported and blocked, and a restart resumes from the saved offsets."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from stackwatch.core.host import Host
from stackwatch.core.state import StateStore
from stackwatch.weblog.apply import Blocker
from stackwatch.weblog.detect import DetectOptions
from stackwatch.weblog.formats import get_format
from stackwatch.weblog.live import follow

from .logdata import line

OPTIONS = DetectOptions(window=5, min_history=0)


def test_follow_counts_every_line_once_across_rotation_and_blocks_the_flood(
    tmp_path: Path,
) -> None:
    log = tmp_path / "access.log"
    log.write_text("")
    rules = tmp_path / "rules.conf"
    blocker = Blocker("apache", str(rules), ["true"], None, 600, Host())
    store = StateStore(tmp_path / "state")
    total = 3000

    def write() -> None:
        time.sleep(0.3)
        out = open(log, "a")  # noqa: SIM115
        for n in range(total):
            ref = "https://seo-spam.example.net/" if n >= 1500 else "https://www.google.com/"
            out.write(line(time.time(), f"203.0.113.{n % 20 + 1}", "/search.php", ref))
            out.flush()
            if n == 1000:
                out.close()
                os.rename(log, f"{log}.1")
                out = open(log, "a")  # noqa: SIM115
            if n % 100 == 0:
                time.sleep(0.01)
        out.close()

    writer = threading.Thread(target=write)
    writer.start()
    messages: list[str] = []
    stats = follow([str(log)], get_format("combined"), ["www.example.com"], OPTIONS, store,
                   blocker, duration=3.0, interval=0.05, report=messages.append)  # fmt: skip
    writer.join(10)
    assert stats.lines == total and stats.skipped == 0
    assert list(stats.floods) == ["seo-spam.example.net"]
    assert "seo-spam" in rules.read_text() and "google" not in rules.read_text()
    assert any("rotated" in m for m in messages)

    # A restart resumes: only the lines written since are read, and the block is remembered.
    with open(log, "a") as out:
        out.write(line(time.time()) * 7)
    again = Blocker("apache", str(rules), ["true"], None, 600, Host())
    stats = follow([str(log)], get_format("combined"), ["www.example.com"], OPTIONS, store,
                   again, duration=0.2, interval=0.05, report=messages.append)  # fmt: skip
    assert stats.lines == 7
    assert list(again.blocked) == ["seo-spam.example.net"]
