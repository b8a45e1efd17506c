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
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from backup_speed import Scratch, loaded_server, prepare_dumps

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
        "--base-src", help="an earlier tree's src/: its physical run and restore beside these"
    )
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


BASE_SRC: list[str] = []  # --base-src: an earlier tree's src/, run beside this one


def stackwatch(*args: str, src: str | None = None) -> tuple[float, float]:
    """A stackwatch command with its compiled modules cached, as an installed one has them:
    where PYTHONDONTWRITEBYTECODE is set, every start would compile them all again (0.5 s).
    ``src``: another tree's sources (its own cache)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYCACHE)
    if src is not None:
        env["PYTHONPATH"] = src
        env["PYTHONPYCACHEPREFIX"] = f"{PYCACHE['PYTHONPYCACHEPREFIX']}-base"
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
    for src in BASE_SRC:  # the same physical job run by the earlier tree, in every round
        contenders[f"physical run ({Path(src).parent.name})"] = partial(
            stackwatch, "run", "physical", "--config", str(config), src=src
        )
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
        (bare, ours, bare_phys, phys) = (took[name][0] for name in list(contenders)[:4])
        paired.append((ours / bare, phys / bare_phys))
        print(f"round {i + 1}: logical run / bare {ours / bare:.2f}, "
              f"physical run / bare {phys / bare_phys:.2f}")  # fmt: skip
    logical = statistics.median(p[0] for p in paired)
    physical = statistics.median(p[1] for p in paired)
    print(f"median of the rounds' ratios (each run beside its baseline): logical run / bare "
          f"{logical:.2f} (goal <= 1.10), physical run / bare {physical:.2f}")  # fmt: skip
    return best


def ratios(best: dict[str, tuple[float, float]]) -> None:
    (bare, ours, bare_phys, phys) = list(best.values())[:4]
    print(f"logical run / bare mysqldump | zstd: wall {ours[0] / bare[0]:.2f}, "
          f"cpu {ours[1] / bare[1]:.2f} (goal <= 1.10)")  # fmt: skip
    print(f"physical run / bare mariadb-backup | zstd: wall {phys[0] / bare_phys[0]:.2f}, "
          f"cpu {phys[1] / bare_phys[1]:.2f}")  # fmt: skip
    print(f"logical run / physical run: wall {ours[0] / phys[0]:.2f}x, "
          f"cpu {ours[1] / phys[1]:.2f}x (goal >= 2)")  # fmt: skip
    for name, (wall, cpu) in list(best.items())[4:]:
        print(f"logical run / {name}: wall {ours[0] / wall:.2f}x, cpu {ours[1] / cpu:.2f}x")


def phases(conn: str, out: Path) -> None:
    """Where a physical run's and restore's time goes: each piece alone, on the same data
    (wall and CPU seconds, client + server)."""
    scratch, raw, packed = out / "mb-tmp", out / "phase.mbstream", out / "phase.mbstream.zst"
    work, datadir = out / "phase-extract", out / "phase-datadir"
    mb = f"mariadb-backup {conn} --backup --stream=mbstream --target-dir={scratch}"
    steps = {
        "backup: mariadb-backup --parallel=2 > /dev/null": f"{mb} --parallel=2 2>/dev/null "
        "> /dev/null",
        "backup: mariadb-backup > /dev/null": f"{mb} 2>/dev/null > /dev/null",
        "backup: mariadb-backup --parallel=2 > file": f"{mb} --parallel=2 2>/dev/null > {raw}",
        "backup: zstd -T0 -3 of the stream (alone)": f"zstd -q -f -T0 -3 {raw} -o {packed}",
        "backup: zstd -T0 -1 of the stream (alone)": f"zstd -q -f -T0 -1 {raw} -o {packed}",
        "backup: SHA-256 of the level-1 file (python)": f"{sys.executable} -c 'import hashlib,"
        f'sys; hashlib.file_digest(open(sys.argv[1], "rb"), "sha256")\' {packed}',
        "backup: fsync of the level-1 file (after a fresh copy)": f"cp {packed} {packed}.2 && "
        f"sync {packed}.2; rm -f {packed}.2",
        "restore: zstd -d | mbstream -x": f"rm -rf {work} && mkdir {work} && zstd -q -d -c "
        f"{packed} | mbstream -x -C {work}",
        "restore: mariadb-backup --prepare": f"mariadb-backup --prepare --target-dir={work} "
        "2>/dev/null",
        "restore: mariadb-backup --move-back": f"rm -rf {datadir} && mkdir {datadir} && "
        f"mariadb-backup --move-back --target-dir={work} --datadir={datadir} 2>/dev/null",
    }
    for name, command in steps.items():
        wall, cpu = timed(["bash", "-o", "pipefail", "-c", command])
        print(f"  {name:<56} {wall:6.2f} s  cpu {cpu:6.2f} s", flush=True)
    print(f"  (stream {raw.stat().st_size >> 20} MiB, level 1 {packed.stat().st_size >> 20} MiB)")
    for path in (raw, packed):
        path.unlink()
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(datadir, ignore_errors=True)


def stackwatch_said(*args: str) -> tuple[float, float, str]:
    """``stackwatch backup ARGS`` timed like ``stackwatch``, with what it printed."""
    log = Path(tempfile.mkstemp(prefix="stackwatch-said-")[1])
    try:
        with log.open("wb") as out:
            env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
            env.update(PYCACHE)
            argv = [sys.executable, "-m", "stackwatch.cli", "backup", *args]
            wall, cpu = timed(argv, stdout=out, env=env)
        return wall, cpu, log.read_text()
    finally:
        log.unlink()


def server_start(datadir: Path) -> tuple[float, float]:
    """A server started on a restored data directory until it answers a query, then stopped:
    the physical restore's figure leaves this out, the logical one restores into a running
    server; so the like-with-like comparison adds it."""
    sock = datadir.parent / "restored.sock"
    argv = [
        "mariadbd", "--no-defaults", f"--datadir={datadir}", f"--socket={sock}",
        "--skip-networking", "--user=root", "--skip-log-bin", "--innodb-buffer-pool-size=1G",
        f"--pid-file={datadir.parent}/restored.pid",
    ]  # fmt: skip
    start = time.monotonic()
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while subprocess.run(["mariadb", "--no-defaults", "-uroot", f"--socket={sock}", "-e",
                              "SELECT 1"], capture_output=True).returncode != 0:  # fmt: skip
            if server.poll() is not None or time.monotonic() - start > 120:
                raise RuntimeError("the restored server did not start")
            time.sleep(0.02)
        wall = time.monotonic() - start
    finally:
        server.terminate()
        server.wait(120)
    return wall, 0.0


def restores(scratch: Scratch, config: Path) -> dict[str, tuple[float, float]]:
    target = scratch.base / "restored-datadir"
    shutil.rmtree(target, ignore_errors=True)
    logical = stackwatch("restore", "--job", "logical", "--replace", "--config", str(config))
    *physical, said = stackwatch_said(
        "restore", "--job", "physical", "--datadir", str(target), "--config", str(config)
    )
    for line in said.splitlines():
        if line.startswith(("extracted", "prepared", "restored:")):
            print(f"  physical restore said: {line}")
    started = server_start(target)
    for src in BASE_SRC:  # the same copy restored by the earlier tree
        shutil.rmtree(target, ignore_errors=True)
        base = stackwatch("restore", "--job", "physical", "--datadir", str(target), "--config",
                          str(config), src=src)  # fmt: skip
        print(f"  restore physical ({Path(src).parent.name}): {base[0]:.2f} s, cpu {base[1]:.2f} "
              f"s; logical restore / it {logical[0] / base[0]:.2f}x")  # fmt: skip
    both = (physical[0] + started[0], physical[1])
    print(f"logical restore / physical restore: wall {logical[0] / physical[0]:.2f}x "
          f"(goal >= 10); with a server started on the copy (like with like: the logical "
          f"restore goes into a running server) {logical[0] / both[0]:.2f}x")  # fmt: skip
    return {
        "restore logical (--replace, same server)": logical,
        "restore physical (--datadir, new directory)": (physical[0], physical[1]),
        "  + a server started on it (cpu not counted)": started,
        "verify both jobs (throwaway servers)": stackwatch("verify", "--config", str(config)),
    }


def main() -> int:
    args = parse_args()
    BASE_SRC.extend([os.path.abspath(args.base_src)] if args.base_src else [])
    global SERVER_PID
    with loaded_server(args.dir, args.size_mb, args.databases, reuse=True) as (scratch, server, _):
        SERVER_PID = server.pid
        config = write_config(scratch)
        (scratch.out / "methods").mkdir(parents=True, exist_ok=True)
        PYCACHE["PYTHONPYCACHEPREFIX"] = str(scratch.base / "pycache")
        stackwatch("list", "--config", str(config))  # compiles and caches the modules
        best = rounds(scratch, config, args.rounds)
        print(f"best of {args.rounds}:")
        for name, (wall, cpu) in best.items():
            print(f"  {name:<44} {wall:6.2f} s  cpu {cpu:6.2f} s")
        ratios(best)
        print("where the time goes (each piece alone, load average "
              f"{os.getloadavg()[0]:.1f}):")  # fmt: skip
        phases(prepare_dumps(scratch), scratch.out)
        for name, (wall, cpu) in ({} if args.no_restores else restores(scratch, config)).items():
            print(f"  {name:<46} {wall:6.2f} s  cpu {cpu:6.2f} s")
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
