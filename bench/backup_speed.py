#!/usr/bin/env python3
"""Benchmark: `stackwatch backup run` against the shell script it replaces, on the same data.

Starts its own MariaDB (temporary data directory, 127.0.0.1, stopped at the end), loads about
--size-mb of data in --databases databases, then times, in one run:
  1. the cron script:            mysqldump --all-databases | gzip > file
  2. the bare modern pipeline:   mysqldump --single-transaction --all-databases | zstd -T0 > file
  3. stackwatch backup run       (per-database dumps in parallel, zstd, SHA-256, table checksums,
                                  catalog, users file, manifest; one local destination)
  4. stackwatch backup verify    (restore of every database into scratch, compare checksums)
then the restores of the same data, each into the databases' own names:
  5. the README's way:           each database file piped into `mariadb`, one after another
  6. mydumper -t 2 / myloader -t 2 (when Debian's package `mydumper` is installed)
  7. stackwatch backup restore --replace (SHA-256 check, databases several at once)
and prints the ratios and the verify time.

    python3 bench/backup_speed.py --size-mb 1024 --databases 8
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from stackwatch.core.record import dataclass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sql(sock: str, text: str) -> None:
    subprocess.run(
        ["mariadb", "--no-defaults", "-uroot", f"--socket={sock}"],
        input=text,
        text=True,
        check=True,
        timeout=3600,
    )


def timed(argv: list[str], **kwargs: object) -> float:
    start = time.monotonic()
    subprocess.run(argv, check=True, **kwargs)  # type: ignore[call-overload]
    return time.monotonic() - start


@dataclass(frozen=True)
class Scratch:
    """Where one run keeps its MariaDB and its dumps."""

    base: Path
    port: int

    @property
    def datadir(self) -> Path:
        return self.base / "data"

    @property
    def sock(self) -> str:
        return str(self.base / "sock")

    @property
    def option_file(self) -> Path:
        return self.base / "client.cnf"

    @property
    def out(self) -> Path:
        return self.base / "out"


@dataclass(frozen=True)
class Timings:
    """Seconds each contender took."""

    shell: float
    bare: float
    ours: float
    verify: float
    figures: float
    piped: float
    restore: float
    restore_nobinlog: float
    mydumper: float | None
    myloader: float | None
    myloader_binlog: float | None


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--databases", type=int, default=8)
    parser.add_argument("--dir", help="work directory (default: a temporary one, removed)")
    return parser.parse_args()


def install_datadir(datadir: Path) -> None:
    subprocess.run(
        ["mariadb-install-db", "--no-defaults", f"--datadir={datadir}", "--user=root",
         "--auth-root-authentication-method=normal", "--skip-test-db"],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip


def start_mariadb(scratch: Scratch, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """Start the server on the installed data directory, listening on 127.0.0.1 only."""
    datadir, sock, port, base = scratch.datadir, scratch.sock, scratch.port, scratch.base
    return subprocess.Popen(
        ["mariadbd", "--no-defaults", f"--datadir={datadir}", f"--socket={sock}",
         f"--port={port}", "--bind-address=127.0.0.1", "--user=root",
         "--innodb-buffer-pool-size=1G", "--innodb-log-file-size=256M",
         "--innodb-flush-log-at-trx-commit=2", f"--log-bin={base}/binlog", "--server-id=1"],
        stdout=log, stderr=log,
    )  # fmt: skip


def wait_for_socket(sock: str) -> None:
    deadline = time.monotonic() + 60
    while not os.path.exists(sock) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)


def stop_mariadb(server: subprocess.Popen[bytes]) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=120)
    except subprocess.TimeoutExpired:
        server.kill()


def load_data(scratch: Scratch, size_mb: int, databases: int) -> None:
    """Fill `databases` databases with about `size_mb` MiB of rows together, and say how much."""
    # Rows of about 300 bytes: numbers, dates, a name, an e-mail, a text of random words.
    rows_per_db = size_mb * 1024 * 1024 // 300 // databases
    start = time.monotonic()
    for n in range(databases):
        db = f"site{n}"
        sql(
            scratch.sock,
            f"CREATE DATABASE {db}; USE {db};\n"
            "CREATE TABLE orders (id INT PRIMARY KEY, customer INT, placed DATETIME, "
            "total DECIMAL(10,2), email VARCHAR(100), note VARCHAR(255), KEY (customer)) "
            "ENGINE=InnoDB;\n"
            f"INSERT INTO orders SELECT seq, seq % 9973, "
            f"'2024-01-01' + INTERVAL (seq % 500000) MINUTE, (seq % 100000) / 100, "
            f"CONCAT('user', seq % 77777, '@example.net'), "
            f"CONCAT_WS(' ', MD5(seq), SHA1(seq % 1000), 'order', seq, MD5(seq * 7), "
            f"LEFT(SHA2(seq, 256), 20 + seq % 40)) "
            f"FROM seq_1_to_{rows_per_db};\n",
        )
    print(f"loaded {databases} databases x {rows_per_db} rows "
          f"in {time.monotonic() - start:.0f} s")  # fmt: skip
    datadir = scratch.datadir
    size = sum(f.stat().st_size for f in datadir.rglob("*.ibd") if "site" in str(f.parent))
    print(f"data size on disk: {size / 2**20:.0f} MiB")


def prepare_dumps(scratch: Scratch) -> str:
    """Write the client option file and the output folder; return the mysqldump connection flags."""
    opt = scratch.option_file
    opt.write_text("[client]\nuser=root\n")
    scratch.out.mkdir(exist_ok=True)
    sql(scratch.sock, "FLUSH TABLES;")
    return f"--defaults-extra-file={opt} --protocol=tcp --host=127.0.0.1 --port={scratch.port}"


def time_shell_script(conn: str, out: Path) -> float:
    return timed(
        ["bash", "-o", "pipefail", "-c",
         f"mysqldump {conn} --all-databases | gzip > {out}/all.sql.gz"],
    )  # fmt: skip


def time_bare_pipeline(conn: str, out: Path) -> float:
    return timed(
        ["bash", "-o", "pipefail", "-c",
         f"mysqldump {conn} --single-transaction --routines --triggers --events "
         f"--all-databases | zstd -q -T0 > {out}/all.sql.zst"],
    )  # fmt: skip


def write_stackwatch_config(scratch: Scratch) -> Path:
    """One server, one local destination, one job; the destination folder exists."""
    base, out = scratch.base, scratch.out
    config = base / "stackwatch.toml"
    config.write_text(
        f'[backup]\ncatalog = "{base}/catalog.sqlite"\nlock_dir = "{base}/lock"\n'
        f'work_dir = "{base}/work"\n'
        f'[backup.servers.db1]\nhost = "127.0.0.1"\nport = {scratch.port}\n'
        f'option_file = "{scratch.option_file}"\n'
        f'[backup.destinations.local]\nkind = "directory"\npath = "{out}/stackwatch"\n'
        f'[backup.jobs.nightly]\nserver = "db1"\ndestinations = ["local"]\n'
        f"idle_priority = false\n"
    )
    (out / "stackwatch").mkdir(exist_ok=True)
    return config


def time_stackwatch(command: str, config: Path, *extra: str) -> float:
    cli = [sys.executable, "-m", "stackwatch.cli", "backup"]
    return timed([*cli, command, "--config", str(config), *extra], stdout=subprocess.DEVNULL)


def time_piped_one_by_one(scratch: Scratch) -> float:
    """The README's restore: every database's file through zstd into the client, in turn."""
    files = sorted((scratch.out / "stackwatch").rglob("site*.sql.zst"))
    start = time.monotonic()
    for f in files:
        database = f.name.split(".")[0]
        subprocess.run(
            ["bash", "-o", "pipefail", "-c",
             f"zstd -dc {f} | mariadb --defaults-extra-file={scratch.option_file} "
             f"--socket={scratch.sock} --database={database}"],
            check=True, timeout=3600,
        )  # fmt: skip
    return time.monotonic() - start


def time_mydumper(scratch: Scratch) -> tuple[float | None, float | None, float | None]:
    """mydumper -t 2, then myloader -t 2 (overwriting) as it is (no binary log) and with
    --enable-binlog; Nones without Debian's mydumper."""
    if shutil.which("mydumper") is None or shutil.which("myloader") is None:
        return None, None, None
    target = scratch.out / "mydumper"
    conn = [f"--defaults-file={scratch.option_file}", f"--socket={scratch.sock}", "-t", "2"]
    dump = timed(["mydumper", *conn, "--regex", "^site", "-o", str(target)])
    load = timed(["myloader", *conn, "--overwrite-tables", "-d", str(target)])
    logged = timed(["myloader", *conn, "--overwrite-tables", "--enable-binlog", "-d", str(target)])
    return dump, load, logged


def time_table_figures(scratch: Scratch, databases: int) -> float:
    """What the snapshot-consistent table figures (COUNT + CHECKSUM TABLE) cost on their own,
    in one session, as `backup run` computes them while the dumps are read."""
    from stackwatch.backup.config import Server
    from stackwatch.backup.dump import Client
    from stackwatch.backup.snapshot import list_tables, table_figures

    target = Server(host="127.0.0.1", port=scratch.port, option_file=str(scratch.option_file))
    client = Client(target, timeout=3600)
    names = [f"site{n}" for n in range(databases)]
    start = time.monotonic()
    table_figures(client.query, list_tables(client.query, names))
    return time.monotonic() - start


def mib(path: Path) -> float:
    files = [path] if path.is_file() else list(path.rglob("*"))
    return sum(f.stat().st_size for f in files if f.is_file()) / 2**20


def print_results(t: Timings, out: Path) -> None:
    print(f"{'mysqldump --all-databases | gzip':<44} {t.shell:7.1f} s "
          f"{mib(out / 'all.sql.gz'):8.0f} MiB")  # fmt: skip
    print(f"{'mysqldump --single-transaction | zstd -T0':<44} {t.bare:7.1f} s "
          f"{mib(out / 'all.sql.zst'):8.0f} MiB")  # fmt: skip
    print(f"{'stackwatch backup run':<44} {t.ours:7.1f} s "
          f"{mib(out / 'stackwatch'):8.0f} MiB")  # fmt: skip
    print(f"{'stackwatch backup verify':<44} {t.verify:7.1f} s")
    print(f"{'table figures alone (CHECKSUM TABLE)':<44} {t.figures:7.1f} s")
    print(f"speed-up over the shell script (mysqldump | gzip): {t.shell / t.ours:.2f}x "
          f"(goal >= 1.5x)")  # fmt: skip
    print(f"time relative to bare mysqldump | zstd: {t.ours / t.bare:.2f} (goal <= 1.10)")
    print_restores(t)


def print_restores(t: Timings) -> None:
    if t.mydumper is not None:
        print(f"{'mydumper -t 2':<44} {t.mydumper:7.1f} s")
    print(f"{'restore: files piped into mariadb in turn':<44} {t.piped:7.1f} s")
    if t.myloader is not None and t.myloader_binlog is not None:
        print(f"{'restore: myloader -t 2 (no binary log)':<44} {t.myloader:7.1f} s")
        print(f"{'restore: myloader -t 2 --enable-binlog':<44} {t.myloader_binlog:7.1f} s")
    print(f"{'restore: stackwatch backup restore':<44} {t.restore:7.1f} s")
    print(f"{'restore: stackwatch ... --no-binlog':<44} {t.restore_nobinlog:7.1f} s")
    print(f"restore speed-up over piping in turn: {t.piped / t.restore:.2f}x")
    if t.myloader is not None and t.myloader_binlog is not None:
        print(f"restore relative to myloader -t 2, both without binary log: "
              f"{t.restore_nobinlog / t.myloader:.2f}; both with: "
              f"{t.restore / t.myloader_binlog:.2f} (goal <= 1.0)")  # fmt: skip
    else:
        print("myloader: not installed (Debian package mydumper); no ratio")


def run_contenders(scratch: Scratch, databases: int) -> Timings:
    """Time the four contenders in the order the module docstring lists, then the figures."""
    conn = prepare_dumps(scratch)
    shell = time_shell_script(conn, scratch.out)
    bare = time_bare_pipeline(conn, scratch.out)
    config = write_stackwatch_config(scratch)
    ours = time_stackwatch("run", config)
    verify = time_stackwatch("verify", config)
    figures = time_table_figures(scratch, databases)
    piped = time_piped_one_by_one(scratch)
    mydumper, myloader, myloader_binlog = time_mydumper(scratch)
    restore = time_stackwatch("restore", config, "--replace")
    restore_nobinlog = time_stackwatch("restore", config, "--replace", "--no-binlog")
    return Timings(
        shell=shell, bare=bare, ours=ours, verify=verify, figures=figures, piped=piped,
        restore=restore, restore_nobinlog=restore_nobinlog, mydumper=mydumper,
        myloader=myloader, myloader_binlog=myloader_binlog,
    )  # fmt: skip


@contextmanager
def loaded_server(
    directory: str | None, size_mb: int, databases: int, *, reuse: bool = False
) -> Iterator[tuple[Scratch, subprocess.Popen[bytes], bool]]:
    """A MariaDB on 127.0.0.1 holding the benches' data, stopped afterwards: in ``directory``
    (kept; with ``reuse``, the server an earlier run loaded there is started again as it is) or
    in a temporary directory, removed. Yields (scratch, server, whether it was loaded now)."""
    base = Path(directory or tempfile.mkdtemp(prefix="stackwatch-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    scratch = Scratch(base=base, port=free_port())
    fresh = not (reuse and scratch.datadir.exists())
    if fresh:
        install_datadir(scratch.datadir)
    Path(scratch.sock).unlink(missing_ok=True)  # a stale one would pass for the server's
    log = (base / "mariadbd.log").open("ab")
    server = start_mariadb(scratch, log)
    try:
        wait_for_socket(scratch.sock)
        if fresh:
            load_data(scratch, size_mb, databases)
        yield scratch, server, fresh
    finally:
        stop_mariadb(server)
        log.close()
        if not directory:
            shutil.rmtree(base, ignore_errors=True)


def main() -> int:
    args = parse_args()
    with loaded_server(args.dir, args.size_mb, args.databases) as (scratch, _, _):
        print_results(run_contenders(scratch, args.databases), scratch.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
