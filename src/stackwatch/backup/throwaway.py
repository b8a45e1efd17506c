"""A throwaway MariaDB server that stackwatch starts itself (``backup verify`` off production).

It runs from the installed server binaries on a data directory of its own under the work
directory (private, 0700), listens on a unix socket in a private temporary directory and on no
network port (``--skip-networking``), with small buffers, no binary log, no grant tables (only
the socket's owner reaches it) and no event scheduler. It is stopped and its directories removed
when the verify ends, whatever ended it. A verify killed outright (SIGKILL, a crash) leaves its
directory behind with the stackwatch process id in it: the next verify or run stops the server
still running there (its pid file, checked against its command line) and removes the directory.
Nothing of it ever reaches the production server.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import time
from pathlib import Path

from stackwatch.backup.config import Server
from stackwatch.backup.dump import Client, DumpError
from stackwatch.core.host import Host, HostError, Process

PREFIX = ".throwaway-"
FETCH_PREFIX = ".fetch-"  # + the verify's pid: the copies it fetched from off-site (offprod.py)
SERVER_PROGRAMS = ("mariadbd", "mysqld")
SBIN = ("/usr/sbin", "/usr/libexec", "/usr/local/sbin", "/usr/local/mysql/bin")
START_TIMEOUT = 120.0
KILL_WAIT = 10.0  # a killed server is gone in well under a second
STOP_GRACE = 60.0  # a clean shutdown, where the files are kept (physrestore's replay server)
INSTALL_TIMEOUT = 300.0


def server_program(host: Host) -> str | None:
    """The installed server binary (often outside a user's PATH), None when there is none."""
    for name in SERVER_PROGRAMS:
        found = host.which(name)
        if found:
            return found
        for directory in SBIN:
            if host.exists(f"{directory}/{name}"):
                return f"{directory}/{name}"
    return None


def server_args(program: str, datadir: Path, run: Path, *, grant_tables: bool) -> list[str]:
    """The throwaway's command line: its own files, a socket only, small, quiet. Without
    ``grant_tables`` (a physical copy, whose users are the production's) only the socket's owner
    reaches it; with them (an empty server: root without a password) events can be created."""
    argv = [
        program,
        "--no-defaults",
        f"--datadir={datadir}",
        f"--socket={run / 'sock'}",
        f"--pid-file={run / 'server.pid'}",
        f"--log-error={run / 'error.log'}",
        f"--tmpdir={run}",
        "--skip-networking",
        "--skip-log-bin",
        "--skip-slave-start",
        "--innodb-buffer-pool-size=64M",
        "--innodb-flush-log-at-trx-commit=0",
        "--innodb-doublewrite=0",
        "--key-buffer-size=8M",
        "--max-connections=32",
    ]
    argv.append("--event-scheduler=OFF" if grant_tables else "--skip-grant-tables")
    if os.geteuid() == 0:  # the server refuses root unless told; it runs as who started it
        argv.append("--user=root")
    return argv


class Throwaway:
    """One throwaway server: ``install`` (an empty one) or files put in ``datadir``, then
    ``start``; ``close`` stops it and removes everything it had."""

    def __init__(self, host: Host, base: Path, program: str, client_program: str) -> None:
        self.host = host
        self.program = program
        self.client_program = client_program
        self.dir = base / f"{PREFIX}{secrets.token_hex(8)}"
        self.datadir = self.dir / "data"
        self.process: Process | None = None
        self.installed = False
        host.make_dir(self.dir)
        try:
            # A unix socket path has at most 107 bytes: a short private directory of its own.
            self.run = Path(host.make_temp_dir("stackwatch-verify-"))
            self.host.write_atomic(self.dir / "owner", f"{os.getpid()}\n{self.run}\n", 0o600)
            self.host.write_atomic(self.run / "client.cnf", "[client]\nuser=root\n", 0o600)
        except BaseException:
            for where in (self.dir, getattr(self, "run", None)):
                if where is not None:
                    with contextlib.suppress(HostError):
                        host.remove_tree(where)
            raise

    @property
    def server(self) -> Server:
        """How to reach it: its socket, as root (an installed one: no password)."""
        return Server(
            socket=str(self.run / "sock"),
            option_file=str(self.run / "client.cnf"),
            client_program=self.client_program,
        )

    def install(self) -> None:
        """An empty server's system tables (mariadb-install-db)."""
        installer = os.path.join(os.path.dirname(self.program), "mariadb-install-db")
        if not self.host.exists(installer):
            installer = "mariadb-install-db"
        argv = [installer, "--no-defaults", f"--datadir={self.datadir}", "--skip-test-db"]
        argv += ["--auth-root-authentication-method=normal"]
        if os.geteuid() == 0:
            argv.append("--user=root")
        try:
            self.host.run(argv, timeout=INSTALL_TIMEOUT, what="mariadb-install-db")
        except HostError as exc:
            raise DumpError(f"throwaway server: {exc}") from None
        self.installed = True

    def start(self) -> None:
        """Start it and wait until it answers (or says why it could not start)."""
        argv = server_args(self.program, self.datadir, self.run, grant_tables=self.installed)
        self.process = self.host.spawn(argv, stdout=False, what="throwaway server")
        client = Client(self.server, timeout=10, host=self.host)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise DumpError(f"throwaway server did not start: {self._last_log_line()}")
            if self.host.exists(str(self.run / "sock")):
                with contextlib.suppress(DumpError):
                    client.query("SELECT 1")
                    return
            time.sleep(0.1)
        raise DumpError(f"throwaway server did not answer within {START_TIMEOUT:g} s")

    def _last_log_line(self) -> str:
        text = self.host.read_optional(str(self.run / "error.log")) or ""
        errors = [line for line in text.splitlines() if "[ERROR]" in line]
        return (errors or text.splitlines() or ["no message"])[-1].strip()

    def close(self) -> None:
        """Stop the server and remove its directories. Its data is thrown away, so it is
        killed (SIGKILL), not shut down: a clean shutdown only costs time, and a server that
        got SIGTERM while starting may never act on it (MariaDB ignores one that arrives
        before its signal thread runs). Whatever still runs on its data directory goes too:
        a server whose start was interrupted before its pid was known, or the bootstrap of an
        interrupted mariadb-install-db."""
        if self.process is not None:
            self.process.kill()
            self.process.stop()
            self.process = None
        kill_servers_on(self.host, self.datadir)
        for where in (self.dir, self.run):
            with contextlib.suppress(HostError):
                self.host.remove_tree(where)

    def __enter__(self) -> Throwaway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def clean_stale(host: Host, base: Path) -> list[str]:
    """Remove what verifies killed outright left under ``base``: their server stopped when it
    still runs, their directories removed. Their names."""
    removed = clean_owned(host, base, (FETCH_PREFIX,))
    for name in host.listdir(str(base)):
        if not name.startswith(PREFIX):
            continue
        where = base / name
        owner = (host.read_optional(str(where / "owner")) or "").split("\n")
        if owner[0].isascii() and owner[0].isdigit() and host.exists(f"/proc/{owner[0]}"):
            continue  # its verify still runs
        run = Path(owner[1]) if len(owner) > 1 and owner[1].startswith("/") else None
        if run is not None:
            _stop_stale_server(host, run, where)
        with contextlib.suppress(HostError):
            host.remove_tree(where)
            if run is not None and run.name.startswith("stackwatch-verify-"):
                host.remove_tree(run)
        removed.append(name)
    return removed


def clean_owned(host: Host, base: Path, prefixes: tuple[str, ...]) -> list[str]:
    """Remove the directories under ``base`` named PREFIX + PID + "-..." whose process is gone
    (scratch copies of customer data a killed run left); their names."""
    removed = []
    for name in host.listdir(str(base)):
        prefix = next((p for p in prefixes if name.startswith(p)), None)
        pid = "" if prefix is None else name[len(prefix) :].partition("-")[0]
        if not (pid.isascii() and pid.isdigit()) or host.exists(f"/proc/{pid}"):
            continue
        with contextlib.suppress(HostError):
            host.remove_tree(base / name)
            removed.append(name)
    return removed


def _stop_stale_server(host: Host, run: Path, where: Path) -> None:
    """The server of a killed verify killed too (its data is thrown away), with whatever else
    still runs on its data directory."""
    pid = (host.read_optional(str(run / "server.pid")) or "").strip()
    if pid.isascii() and pid.isdigit():
        cmdline = host.read_optional(f"/proc/{pid}/cmdline") or ""
        if f"--datadir={where}/data" in cmdline.split("\0"):  # else the pid is someone else's
            with contextlib.suppress(OSError):
                os.kill(int(pid), signal.SIGKILL)
    kill_servers_on(host, where / "data")


def kill_servers_on(host: Host, datadir: Path) -> None:
    """SIGKILL to every process started with ``--datadir=DATADIR``, waiting (a few seconds at
    most) until none is left, so that the directory can be removed."""
    deadline = time.monotonic() + KILL_WAIT
    while pids := host.processes_with_argument(f"--datadir={datadir}"):
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            return
        time.sleep(0.05)
