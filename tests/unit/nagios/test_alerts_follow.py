"""alerts --follow: lines counted once as Nagios writes them, across a line written in two
pieces, Nagios's rotation into archives/ and a restart; counters reach a StatsD socket."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from pathlib import Path

from stackwatch.core.state import StateStore
from stackwatch.nagios.alerts import Where
from stackwatch.nagios.alerts_follow import Sink, follow_alerts
from tests.conftest import run_stackwatch

T0 = 1_700_000_000


def sa(i: int, service: str = "Load", state: str = "CRITICAL") -> str:
    return f"[{T0 + i}] SERVICE ALERT: cmp-c0001-001;{service};{state};HARD;1;x; y\n"


def received(sock: socket.socket) -> Counter[str]:
    """Every counter the socket got, summed by name."""
    sums: Counter[str] = Counter()
    sock.settimeout(0.5)
    try:
        while True:
            for line in sock.recv(65535).decode().split("\n"):
                name, _, value = line.partition(":")
                sums[name] += int(value.split("|")[0])
    except TimeoutError:
        return sums


def appended(path: Path, text: str) -> None:
    with path.open("a") as handle:
        handle.write(text)


def test_follow_counts_each_line_once_across_pieces_rotation_and_restart(tmp_path: Path) -> None:
    log = tmp_path / "nagios.log"
    log.write_text(sa(0) + sa(1, state="OK"))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sink = Sink(f"127.0.0.1:{sock.getsockname()[1]}", "n", 600, Where())
    store = StateStore(tmp_path / "state")
    run = threading.Thread(
        target=follow_alerts,
        args=([str(log)], sink, store),
        kwargs={"duration": 3.0, "interval": 0.05, "from_start": True, "report": lambda _: None},
    )
    run.start()
    time.sleep(0.5)
    line = sa(2, "NTP")
    appended(log, line[:20])  # Nagios caught in the middle of a line
    time.sleep(0.3)
    appended(log, line[20:])
    with log.open("a") as old:  # Nagios rotates: the old file renamed, a new one created
        (tmp_path / "archives").mkdir()
        log.rename(tmp_path / "archives/nagios-11-14-2023-22.log")
        old.write(sa(3))  # the last line into the old file, through its open descriptor
    log.write_text(f"[{T0 + 4}] LOG ROTATION: HOURLY\n[{T0 + 4}] LOG VERSION: 2.0\n" + sa(5))
    run.join(timeout=20)
    first = received(sock)
    assert first["n.service.Load.alerts"] == 4 and first["n.service.NTP.alerts"] == 1
    assert first["n.lines"] == 7 and first["n.malformed"] == 0

    appended(log, sa(6) + sa(7, "NTP"))  # written while stackwatch was not running
    stats = follow_alerts([str(log)], sink, StateStore(tmp_path / "state"), duration=0.2,
                          interval=0.05, report=lambda _: None)  # fmt: skip
    again = received(sock)
    sock.close()
    assert stats.lines == 2 and again["n.lines"] == 2
    assert again["n.service.Load.alerts"] == 1 and again["n.service.NTP.alerts"] == 1


def test_cli_follow_needs_statsd_and_says_why(tmp_path: Path) -> None:
    log = tmp_path / "nagios.log"
    log.write_text(sa(0))
    done = run_stackwatch("nagios", "alerts", str(log), "--follow")
    assert done.returncode == 2 and "--statsd" in done.stderr and "Traceback" not in done.stderr
    bad = run_stackwatch("nagios", "alerts", str(log), "--follow", "--statsd", "127.0.0.1:1",
                         "--duration", "soon")  # fmt: skip
    assert bad.returncode == 2 and "--duration" in bad.stderr
    missing = run_stackwatch("nagios", "alerts", str(tmp_path / "nope.log"), "--follow",
                             "--statsd", "127.0.0.1:1")  # fmt: skip
    assert missing.returncode == 2 and "nope.log: no such log" in missing.stderr


def test_cli_follow_sends_and_says_what_it_did(tmp_path: Path) -> None:
    log = tmp_path / "nagios.log"
    log.write_text(sa(0) + sa(1, state="OK"))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    with sock:
        address = f"127.0.0.1:{sock.getsockname()[1]}"
        done = run_stackwatch("nagios", "alerts", str(log), "--follow", "--from-start",
                              "--statsd", address, "--duration", "1s", "--interval", "0.1",
                              "--state-dir", str(tmp_path / "s"))  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("2 lines (0 malformed)")
        assert received(sock)["nagios.alerts.service.Load.alerts"] == 2


def test_a_log_rotated_into_log_archive_path_while_stopped_is_read_to_its_end(
    tmp_path: Path,
) -> None:
    """Nagios rotated nagios.log into its log_archive_path (another directory, its own name)
    while stackwatch was stopped: on restart the lines written before the rotation come from
    the archive, then the new log from its start."""
    from stackwatch.core.host import Host
    from stackwatch.nagios.alerts_follow import archive_path

    log, archives = tmp_path / "log" / "nagios.log", tmp_path / "var" / "archives"
    log.parent.mkdir()
    archives.mkdir(parents=True)
    config = tmp_path / "nagios.cfg"
    config.write_text(f"log_file={log}\n# log_archive_path=/nowhere\nlog_archive_path={archives}\n")
    log.write_text(sa(0))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sink = Sink(f"127.0.0.1:{sock.getsockname()[1]}", "n", 600, Where())
    found = archive_path(Host(), str(config))
    assert found == [str(archives)]
    first = follow_alerts([str(log)], sink, StateStore(tmp_path / "state"), duration=0.2,
                          interval=0.05, from_start=True, report=lambda _: None,
                          archives=found)  # fmt: skip
    assert first.lines == 1
    received(sock)

    appended(log, sa(1, "NTP"))  # written, then rotated, while stackwatch was stopped
    log.rename(archives / "nagios-11-14-2023-22.log")
    log.write_text(f"[{T0 + 2}] LOG ROTATION: HOURLY\n" + sa(3))
    events: list[str] = []
    again = follow_alerts([str(log)], sink, StateStore(tmp_path / "state"), duration=0.2,
                          interval=0.05, report=events.append, archives=found)  # fmt: skip
    counted = received(sock)
    sock.close()
    assert again.lines == 3 and counted["n.lines"] == 3
    assert counted["n.service.NTP.alerts"] == 1 and counted["n.service.Load.alerts"] == 1
    assert any("nagios-11-14-2023-22.log" in event for event in events)


def test_without_the_archive_directory_the_rotated_rest_is_not_invented(tmp_path: Path) -> None:
    log = tmp_path / "nagios.log"
    log.write_text(sa(0))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sink = Sink(f"127.0.0.1:{sock.getsockname()[1]}", "n", 600, Where())
    follow_alerts([str(log)], sink, StateStore(tmp_path / "state"), duration=0.1,
                  interval=0.05, from_start=True, report=lambda _: None)  # fmt: skip
    appended(log, sa(1, "NTP"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    log.rename(elsewhere / "nagios-11-14-2023-22.log")  # not an archive directory we know
    log.write_text(sa(3))
    again = follow_alerts([str(log)], sink, StateStore(tmp_path / "state"), duration=0.1,
                          interval=0.05, report=lambda _: None)  # fmt: skip
    sock.close()
    assert again.lines == 1
