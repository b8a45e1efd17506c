#!/usr/bin/env python3
"""Benchmark: `stackwatch backup run` (logical and physical) side by side with the bare pipelines
they replace, best of --rounds, on the same data in one run; then the restores and verifies.

Starts its own MariaDB (backup_speed.py's: temporary data directory, 127.0.0.1, stopped at the
end), loads about --size-mb in --databases databases, then, each round, in turn:
  bare logical:   mysqldump --single-transaction --routines --triggers --events --all-databases
                  | zstd -q -T0 (level 3, every core) > file
  stackwatch logical run (per-database dumps, zstd level 3 on every core, SHA-256, table
                  figures, users, catalog, manifest; one local destination)
  bare physical:  mariadb-backup --backup --stream=mbstream | zstd -q -T0 > file
  stackwatch physical run (the same copy, zstd, SHA-256, table figures beside it, catalog)
and prints each best time with the ratios (goal: logical <= 1.10 x bare; physical >= 2 x faster
than logical). Then the restores (logical `restore --replace` into the same server, physical
`restore --datadir` into a new directory) and both verifies (throwaway servers).

    python3 bench/backup_methods.py --size-mb 512 --databases 8 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from backup_speed import (
    Scratch,
    free_port,
    install_datadir,
    load_data,
    prepare_dumps,
    start_mariadb,
    stop_mariadb,
    wait_for_socket,
)

SERVER_PID = 0  # the benchmark's mariadbd: its CPU is counted too
LAST_SPLIT = [0.0, 0.0]  # the last command's CPU seconds: its own (and children's), the server's


def server_cpu() -> float:
    """CPU seconds the benchmark's server has used so far (utime + stime)."""
    fields = Path(f"/proc/{SERVER_PID}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(argv: list[str], **kwargs: object) -> tuple[float, float]:
    """Wall seconds and CPU seconds (the command and its children, plus the server): on a
    shared machine CPU seconds move far less than wall time from run to run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server = server_cpu()
    start = time.monotonic()
    subprocess.run(argv, check=True, **kwargs)  # type: ignore[call-overload]
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    server = server_cpu() - server
    LAST_SPLIT[:] = [cpu, server]
    return wall, cpu + server


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=512)
    parser.add_argument("--databases", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-restores", action="store_true", help="the backups alone")
    parser.add_argument(
        "--dir", help="work directory, kept (loaded once, reused); default: a temporary one"
    )
    return parser.parse_args()


def write_config(scratch: Scratch) -> Path:
    """Two jobs on one server and one local destination: logical and physical."""
    base, out = scratch.base, scratch.out
    config = base / "methods.toml"
    job = 'server = "db1"\ndestinations = ["local"]\nidle_priority = false\nkeep_last = 1\n'
    config.write_text(
        f'[backup]\ncatalog = "{base}/methods.sqlite"\nlock_dir = "{base}/lock"\n'
        f'work_dir = "{base}/work"\n'
        f'[backup.servers.db1]\nhost = "127.0.0.1"\nport = {scratch.port}\n'
        f'option_file = "{scratch.option_file}"\n'
        f'[backup.destinations.local]\nkind = "directory"\npath = "{out}/methods"\n'
        f"[backup.jobs.logical]\n{job}"
        f'[backup.jobs.physical]\n{job}method = "physical"\n'
    )
    return config


PYCACHE: dict[str, str] = {}


def stackwatch(*args: str) -> tuple[float, float]:
    """A stackwatch command with its compiled modules cached, as an installed one has them:
    where PYTHONDONTWRITEBYTECODE is set, every start would compile them all again (0.5 s)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYCACHE)
    argv = [sys.executable, "-m", "stackwatch.cli", "backup", *args]
    return timed(argv, stdout=subprocess.DEVNULL, env=env)


def bare_logical(conn: str, out: Path) -> tuple[float, float]:
    return timed(
        ["bash", "-o", "pipefail", "-c",
         f"mysqldump {conn} --single-transaction --routines --triggers --events "
         f"--all-databases | zstd -q -T0 > {out}/bare.sql.zst"],
    )  # fmt: skip


def bare_physical(conn: str, out: Path) -> tuple[float, float]:
    scratch = out / "mb-tmp"
    scratch.mkdir(exist_ok=True)
    return timed(
        ["bash", "-o", "pipefail", "-c",
         f"mariadb-backup {conn} --backup --stream=mbstream --target-dir={scratch} "
         f"2>/dev/null | zstd -q -T0 > {out}/bare.mbstream.zst"],
    )  # fmt: skip


def rounds(scratch: Scratch, config: Path, n: int) -> dict[str, tuple[float, float]]:
    """Best of ``n`` of each contender (wall and CPU seconds, each its own best), taken in
    turn in every round (the same noise)."""
    conn = prepare_dumps(scratch)
    contenders = {
        "mysqldump | zstd -T0 (bare logical)": lambda: bare_logical(conn, scratch.out),
        "stackwatch backup run (logical)": lambda: stackwatch("run", "logical", "--config",
                                                              str(config)),
        "mariadb-backup | zstd -T0 (bare physical)": lambda: bare_physical(conn, scratch.out),
        "stackwatch backup run (physical)": lambda: stackwatch("run", "physical", "--config",
                                                               str(config)),
    }  # fmt: skip
    best = {name: (float("inf"), float("inf")) for name in contenders}
    paired: list[tuple[float, float]] = []  # per round: logical and physical run / bare
    for i in range(n):
        took = {}
        for name, run in contenders.items():
            wall, cpu = took[name] = run()
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
            own, server = LAST_SPLIT
            print(f"round {i + 1}: {name:<44} {wall:6.2f} s  cpu {cpu:6.2f} s "
                  f"(client {own:5.2f} + server {server:5.2f})", flush=True)  # fmt: skip
        (bare, ours, bare_phys, phys) = (took[name][0] for name in contenders)
        paired.append((ours / bare, phys / bare_phys))
        print(f"round {i + 1}: logical run / bare {ours / bare:.2f}, "
              f"physical run / bare {phys / bare_phys:.2f}")  # fmt: skip
    logical = statistics.median(p[0] for p in paired)
    physical = statistics.median(p[1] for p in paired)
    print(f"median of the rounds' ratios (each run beside its baseline): logical run / bare "
          f"{logical:.2f} (goal <= 1.10), physical run / bare {physical:.2f}")  # fmt: skip
    return best


def ratios(best: dict[str, tuple[float, float]]) -> None:
    (bare, ours, bare_phys, phys) = best.values()
    print(f"logical run / bare mysqldump | zstd: wall {ours[0] / bare[0]:.2f}, "
          f"cpu {ours[1] / bare[1]:.2f} (goal <= 1.10)")  # fmt: skip
    print(f"physical run / bare mariadb-backup | zstd: wall {phys[0] / bare_phys[0]:.2f}, "
          f"cpu {phys[1] / bare_phys[1]:.2f}")  # fmt: skip
    print(f"logical run / physical run: wall {ours[0] / phys[0]:.2f}x, "
          f"cpu {ours[1] / phys[1]:.2f}x (goal >= 2)")  # fmt: skip


def restores(scratch: Scratch, config: Path) -> dict[str, tuple[float, float]]:
    target = scratch.base / "restored-datadir"
    shutil.rmtree(target, ignore_errors=True)
    return {
        "restore logical (--replace, same server)": stackwatch(
            "restore", "--job", "logical", "--replace", "--config", str(config)
        ),
        "restore physical (--datadir, new directory)": stackwatch(
            "restore", "--job", "physical", "--datadir", str(target), "--config", str(config)
        ),
        "verify both jobs (throwaway servers)": stackwatch("verify", "--config", str(config)),
    }


def main() -> int:
    args = parse_args()
    base = Path(args.dir or tempfile.mkdtemp(prefix="stackwatch-methods-"))
    base.mkdir(parents=True, exist_ok=True)
    scratch = Scratch(base=base, port=free_port())
    reuse = args.dir is not None and scratch.datadir.exists()  # loaded by an earlier run
    if not reuse:
        install_datadir(scratch.datadir)
    Path(scratch.sock).unlink(missing_ok=True)  # a stale one would pass for the server's
    log = (base / "mariadbd.log").open("ab")
    server = start_mariadb(scratch, log)
    global SERVER_PID
    SERVER_PID = server.pid
    try:
        wait_for_socket(scratch.sock)
        if not reuse:
            load_data(scratch, args.size_mb, args.databases)
        config = write_config(scratch)
        (scratch.out / "methods").mkdir(parents=True, exist_ok=True)
        PYCACHE["PYTHONPYCACHEPREFIX"] = str(base / "pycache")
        stackwatch("list", "--config", str(config))  # compiles and caches the modules
        best = rounds(scratch, config, args.rounds)
        print(f"best of {args.rounds}:")
        for name, (wall, cpu) in best.items():
            print(f"  {name:<44} {wall:6.2f} s  cpu {cpu:6.2f} s")
        ratios(best)
        for name, (wall, cpu) in ({} if args.no_restores else restores(scratch, config)).items():
            print(f"  {name:<44} {wall:6.2f} s  cpu {cpu:6.2f} s")
        return 0
    finally:
        stop_mariadb(server)
        log.close()
        if not args.dir:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
