"""CPU per scrape and memory of `stackwatch serve` (the six host checks) against Debian's
prometheus-node-exporter with its default collectors, side by side in one run on this machine.

Both are scraped the way Prometheus scrapes (one kept-alive connection, Prometheus's Accept,
Accept-Encoding: gzip and X-Prometheus-Scrape-Timeout-Seconds headers), alternately, at the same
pace; the figure is each process's CPU time (user + system, its children included: smartctl)
divided by the number of scrapes. stackwatch runs with its default schedule: links,
tcp-retransmits, memory-ecc and temperature on every scrape, processes at most once a minute,
disk-smart every 30 minutes (so the measurement lasts at least a minute). Then 10 scrapers at 10
scrapes/s each for 60 s against stackwatch: every answer must be a 200 with the metrics, and the
resident memory must not grow.

    python3 bench/serve_cpu.py [--seconds 60] [--rate 5] [--load-seconds 60]
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HOST_CHECKS = ["links", "processes", "tcp-retransmits", "memory-ecc", "disk-smart", "temperature"]
NODE_EXPORTER = "prometheus-node-exporter"
PROMETHEUS_HEADERS = {
    "Accept": "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
    "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    "Accept-Encoding": "gzip",
    "User-Agent": "Prometheus/2.42.0",
    "X-Prometheus-Scrape-Timeout-Seconds": "10",
}
# As installed copies run: with compiled bytecode.
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system time of the process, its threads and its waited-for children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Scraper:
    """One kept-alive connection, as Prometheus holds one per target."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.port = port
        self.headers = headers
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)

    def scrape(self) -> tuple[int, bytes]:
        try:
            self.connection.request("GET", "/metrics", headers=self.headers)
            response = self.connection.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException):
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
            raise


@contextmanager
def started(argv: list[str], port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    # The log goes to a file: node_exporter logs a line per scrape here (its systemd collector
    # finds no systemd), and a pipe nobody reads would stop it once full.
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env=CHILD_ENV, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    err = log.read_text(errors="replace").strip()
                    raise SystemExit(f"{argv[0]} did not start: {err}") from None
                time.sleep(0.05)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def paced(rate: float, seconds: float) -> Iterator[int]:
    """Yield at ``rate`` per second for ``seconds`` (never faster; late ticks are not caught up)."""
    start = time.monotonic()
    for i in range(int(rate * seconds)):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        yield i


def side_by_side(ours: int, theirs: int, ports: tuple[int, int], rate: float, seconds: float):
    """CPU ms per scrape of each, scraped alternately at the same pace."""
    a, b = Scraper(ports[0], PROMETHEUS_HEADERS), Scraper(ports[1], PROMETHEUS_HEADERS)
    for _ in range(20):  # warm up: imports, first runs, Go's heap
        a.scrape(), b.scrape()
    cpu_a, cpu_b = cpu_seconds(ours), cpu_seconds(theirs)
    count = 0
    for _ in paced(rate, seconds):
        for scraper, name in ((a, "stackwatch serve"), (b, NODE_EXPORTER)):
            try:
                status, _ = scraper.scrape()
            except (OSError, http.client.HTTPException) as exc:
                raise SystemExit(f"scrape {count + 1} of {name} failed: {exc!r}") from None
            if status != 200:
                raise SystemExit(f"scrape {count + 1} of {name} answered {status}")
        count += 1
    per_a = 1000 * (cpu_seconds(ours) - cpu_a) / count
    per_b = 1000 * (cpu_seconds(theirs) - cpu_b) / count
    return per_a, per_b, count, len(a.scrape()[1]), len(b.scrape()[1])


def on_cpu_by_thread(pid: int) -> dict[str, int]:
    """Nanoseconds on CPU of each live thread (/proc/PID/task/*/schedstat): an idle process
    uses less than one clock tick in a while."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found[task.name] = int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # a thread that ended meanwhile
    return found


def idle_cpu_ms_per_s(pid: int, seconds: float = 10.0) -> float:
    """CPU while nobody scrapes; threads that end meanwhile (closed connections) count with
    what they used before, never negatively."""
    time.sleep(2.0)  # the connections of the side-by-side run close
    before = on_cpu_by_thread(pid)
    time.sleep(seconds)
    after = on_cpu_by_thread(pid)
    used = sum(ns - before.get(tid, 0) for tid, ns in after.items())
    return used / 1e6 / seconds


def load(port: int, scrapers: int, rate: float, seconds: float) -> tuple[int, int, list[str]]:
    """``scrapers`` threads at ``rate`` scrapes/s each; (answers, errors, first errors)."""
    counts = {"ok": 0, "errors": 0}
    problems: list[str] = []
    lock = threading.Lock()

    def one() -> None:
        scraper = Scraper(port, PROMETHEUS_HEADERS)
        for _ in paced(rate, seconds):
            try:
                status, body = scraper.scrape()
                good = status == 200 and b"stackwatch_check_status" in body
                problem = None if good else f"status {status}"
            except (OSError, http.client.HTTPException) as exc:
                good, problem = False, f"{type(exc).__name__}: {exc}"
            with lock:
                counts["ok" if good else "errors"] += 1
                if problem and len(problems) < 5:
                    problems.append(problem)

    threads = [threading.Thread(target=one) for _ in range(scrapers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return counts["ok"], counts["errors"], problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="side-by-side measurement")
    parser.add_argument("--rate", type=float, default=5.0, help="scrapes/s of each, side by side")
    parser.add_argument("--load-seconds", type=float, default=60.0)
    parser.add_argument("--scrapers", type=int, default=10)
    parser.add_argument("--scraper-rate", type=float, default=10.0)
    args = parser.parse_args()
    if shutil.which(NODE_EXPORTER) is None:
        raise SystemExit(f"{NODE_EXPORTER} is not installed (apt-get install {NODE_EXPORTER})")
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp, "stackwatch.toml")
        checks = ", ".join(f'"{name}"' for name in HOST_CHECKS)
        config.write_text(f'[serve]\nchecks = [{checks}]\n\n[checks.processes]\nroles = ["ovs"]\n')
        ports = free_port(), free_port()
        ours_argv = [
            sys.executable, "-m", "stackwatch.cli", "serve",
            "--web.listen-address", f"127.0.0.1:{ports[0]}",
            "--config", str(config), "--state-dir", str(Path(tmp, "state")),
        ]  # fmt: skip
        theirs_argv = [NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{ports[1]}"]
        logs = Path(tmp, "stackwatch.log"), Path(tmp, "node_exporter.log")
        with (
            started(ours_argv, ports[0], logs[0]) as ours,
            started(theirs_argv, ports[1], logs[1]) as theirs,
        ):
            report(args, ours.pid, theirs.pid, ports)
    return 0


def report(args: argparse.Namespace, ours: int, theirs: int, ports: tuple[int, int]) -> None:
    per_a, per_b, count, size_a, size_b = side_by_side(ours, theirs, ports, args.rate, args.seconds)
    print(f"side by side: {count} scrapes each at {args.rate:g}/s, Prometheus's request headers")
    print(
        f"  stackwatch serve ({', '.join(HOST_CHECKS)}; {size_a} bytes): {per_a:.2f} ms CPU/scrape"
    )
    print(f"  {NODE_EXPORTER} (default collectors; {size_b} bytes gzip): {per_b:.2f} ms CPU/scrape")
    print(f"  ratio stackwatch / node_exporter: {per_a / per_b:.2f}")
    verdict = "met" if per_a <= per_b and per_a < 4 else "NOT met"
    print(f"  goal: at most node_exporter's and under 4 ms -> {verdict}")
    print(
        f"idle CPU: stackwatch {idle_cpu_ms_per_s(ours):.2f} ms/s, "
        f"node_exporter {idle_cpu_ms_per_s(theirs):.2f} ms/s"
    )
    rss_ours, rss_theirs = rss_mb(ours), rss_mb(theirs)
    verdict = "met" if rss_ours <= 60 else "NOT met"
    print(f"resident memory: stackwatch {rss_ours:.1f} MB (goal <= 60 MB -> {verdict}), ", end="")
    print(f"node_exporter {rss_theirs:.1f} MB")
    report_load(args, ours, ports[0])


def report_load(args: argparse.Namespace, ours: int, port: int) -> None:
    """The load run, after a short one that lets the process reach its working size (threads for
    the scrapers' connections, buffers): growth is measured from there."""
    rss_before = rss_mb(ours)
    load(port, args.scrapers, args.scraper_rate, 5.0)
    rss_start, cpu_start = rss_mb(ours), cpu_seconds(ours)
    ok, errors, problems = load(port, args.scrapers, args.scraper_rate, args.load_seconds)
    per_load = 1000 * (cpu_seconds(ours) - cpu_start) / max(1, ok + errors)
    rss_end = rss_mb(ours)
    print(
        f"load: {args.scrapers} scrapers x {args.scraper_rate:g}/s for {args.load_seconds:g} s: "
        f"{ok} answers, {errors} errors{': ' + '; '.join(problems) if problems else ''}; "
        f"{per_load:.2f} ms CPU/scrape (concurrent scrapes share runs)"
    )
    growth = rss_end - rss_start
    verdict = "met" if errors == 0 and growth <= 1.0 else "NOT met"
    print(
        f"  RSS before {rss_before:.1f} MB, after a 5 s warm-up (start) {rss_start:.1f} MB, "
        f"at end {rss_end:.1f} MB ({growth:+.1f} MB) -> {verdict}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
