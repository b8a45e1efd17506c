"""`alerts --statsd` and `alerts --follow` (tailing a real Nagios's nagios.log) through a real
StatsD (npm statsd 0.9, graphite backend) into Graphite's carbon-cache, the counters read back
from the whisper files."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port, run_stackwatch
from tests.integration.nagios.conftest import Daemon
from tests.integration.nagios.test_nagios_real import daemon_site, flip, wait_for

STATSD_DIRS = ("/usr/lib/node_modules/statsd", "/usr/local/lib/node_modules/statsd")

CARBON_CONF = """\
[cache]
STORAGE_DIR = {root}/storage
LOCAL_DATA_DIR = {root}/storage/whisper
WHITELISTS_DIR = {root}/storage/lists
CONF_DIR = {root}/conf
LOG_DIR = {root}/log
PID_DIR = {root}/pid
LINE_RECEIVER_INTERFACE = 127.0.0.1
LINE_RECEIVER_PORT = {line}
ENABLE_UDP_LISTENER = False
PICKLE_RECEIVER_INTERFACE = 127.0.0.1
PICKLE_RECEIVER_PORT = {pickle}
CACHE_QUERY_INTERFACE = 127.0.0.1
CACHE_QUERY_PORT = {query}
MAX_CACHE_SIZE = inf
MAX_UPDATES_PER_SECOND = 100000
MAX_CREATES_PER_MINUTE = 100000
"""


def wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@pytest.fixture
def graphite(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """carbon-cache and statsd on loopback; yields the StatsD port and the whisper directory."""
    # beside the interpreter first: the test command runs .venv/bin/python, not on PATH
    carbon = shutil.which("carbon-cache.py", path=os.path.dirname(sys.executable)) or shutil.which(
        "carbon-cache.py"
    )
    statsd = next((d for d in STATSD_DIRS if os.path.exists(f"{d}/stats.js")), None)
    node = shutil.which("node")
    if carbon is None or statsd is None or node is None:
        pytest.skip("needs carbon-cache.py (PyPI carbon, whisper) and npm statsd 0.9 with node")
    for sub in ("conf", "storage/whisper", "log", "pid"):
        (tmp_path / sub).mkdir(parents=True)
    line, pickle, query, statsd_port, mgmt = (free_port() for _ in range(5))
    (tmp_path / "conf/carbon.conf").write_text(
        CARBON_CONF.format(root=tmp_path, line=line, pickle=pickle, query=query)
    )
    (tmp_path / "conf/storage-schemas.conf").write_text("[all]\npattern = .*\nretentions = 1s:1h\n")
    (tmp_path / "conf/storage-aggregation.conf").write_text(
        "[all]\npattern = .*\nxFilesFactor = 0\naggregationMethod = sum\n"
    )
    (tmp_path / "statsd.js").write_text(
        f'{{ graphitePort: {line}, graphiteHost: "127.0.0.1", port: {statsd_port}, '
        f'address: "127.0.0.1", mgmt_address: "127.0.0.1", mgmt_port: {mgmt}, '
        'flushInterval: 1000, backends: ["./backends/graphite"], deleteCounters: true }\n'
    )
    env = dict(os.environ, GRAPHITE_NO_PREFIX="True")
    started: list[subprocess.Popen[bytes]] = []
    try:
        started.append(subprocess.Popen(
            [carbon, f"--config={tmp_path}/conf/carbon.conf", "--nodaemon", "start"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
        ))  # fmt: skip
        wait_port(line)
        started.append(subprocess.Popen(
            [node, "stats.js", str(tmp_path / "statsd.js")], cwd=statsd,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))  # fmt: skip
        wait_port(mgmt)
        yield statsd_port, tmp_path / "storage/whisper"
    finally:
        for process in reversed(started):
            stop(process)


def whisper_sum(path: Path) -> float:
    import whisper

    _, values = whisper.fetch(str(path), time.time() - 3600)
    return sum(v for v in values if v is not None)


def test_alert_counters_reach_whisper(tmp_path: Path, graphite: tuple[int, Path]) -> None:
    port, storage = graphite
    t0 = 1_700_000_000
    lines = []
    for i in range(40):  # 40 alerts of Load (25 HARD), 12 of NTP on another cell
        state = "CRITICAL" if i % 2 == 0 else "OK"
        kind = "HARD" if i < 25 else "SOFT"
        lines.append(f"[{t0 + i}] SERVICE ALERT: cmp-c0001-{i % 4:03d};Load;{state};{kind};1;x")
    lines += [
        f"[{t0 + 50 + i}] SERVICE ALERT: cmp-c0002-001;NTP;WARNING;SOFT;1;y" for i in range(12)
    ]
    log = tmp_path / "nagios.log"
    log.write_text("\n".join(lines) + "\n")
    done = run_stackwatch("nagios", "alerts", str(log), "--statsd", f"127.0.0.1:{port}",
                          "--statsd-prefix", "nagios.alerts")  # fmt: skip
    assert done.returncode == 0, done.stderr
    counts = storage / "stats_counts/nagios/alerts"
    expected = {
        "service/Load/alerts.wsp": 40,
        "service/Load/hard.wsp": 25,
        "service/Load/soft.wsp": 15,
        "service/NTP/alerts.wsp": 12,
        "cell/c0001/alerts.wsp": 40,
        "cell/c0002/alerts.wsp": 12,
        "host/cmp-c0001-000/alerts.wsp": 10,
        "lines.wsp": 52,
    }
    deadline = time.monotonic() + 30
    found: dict[str, float] = {}
    while time.monotonic() < deadline:
        found = {n: whisper_sum(counts / n) for n in expected if (counts / n).exists()}
        if found == expected:
            break
        time.sleep(0.5)
    assert found == expected


def test_follow_a_real_nagios_log_into_whisper(
    site_dir: Path, nagios4: str, daemon: list[Daemon], graphite: tuple[int, Path]
) -> None:
    """A real Nagios writes nagios.log while `alerts --follow` tails it: what reaches whisper is
    what the log holds when both stop, line for line."""
    port, storage = graphite
    main, states = daemon_site(site_dir)
    log = site_dir / "nagios.log"
    daemon.append(Daemon(nagios4, main))
    wait_for(log, r"INITIAL SERVICE STATE: cmp-c0001-001;steady")
    follower = subprocess.Popen(
        [sys.executable, "-m", "stackwatch.cli", "nagios", "alerts", str(log), "--follow",
         "--from-start", "--statsd", f"127.0.0.1:{port}", "--statsd-prefix", "nagios.alerts",
         "--interval", "0.2", "--duration", "2m", "--state-dir", str(site_dir / "offsets")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        for _ in range(3):  # the flipper: CRITICAL for 2 s, OK for 2 s
            flip(states, "flipper", 2, "CRITICAL - bad; very")
            time.sleep(2)
            flip(states, "flipper", 0, "OK - fine")
            time.sleep(2)
        wait_for(log, r"SERVICE ALERT: cmp-c0001-001;flipper;OK")
        daemon[0].stop()
        time.sleep(1)  # the follower's next polls take the last lines
    finally:
        follower.terminate()  # SIGTERM: a last poll, offsets saved, the summary line
        out, err = follower.communicate(timeout=30)
    assert follower.returncode == 0, err
    text = log.read_text()
    flipper = len(re.findall(r"SERVICE ALERT: cmp-c0001-001;flipper;", text))
    assert flipper >= 4
    assert out.startswith(f"{len(text.splitlines())} lines (0 malformed)")
    counts = storage / "stats_counts/nagios/alerts"
    expected = {"service/flipper/alerts.wsp": flipper, "lines.wsp": len(text.splitlines())}
    deadline = time.monotonic() + 30
    found: dict[str, float] = {}
    while time.monotonic() < deadline:
        found = {n: whisper_sum(counts / n) for n in expected if (counts / n).exists()}
        if found == expected:
            break
        time.sleep(0.5)
    assert found == expected
