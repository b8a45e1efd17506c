#!/usr/bin/env python3
"""Benchmark: `stackwatch backup restore` against `myloader -t 2` on the same data, in one run.

Starts its own MariaDB (temporary data directory, 127.0.0.1, stopped at the end; see
backup_speed.py), loads about --size-mb of data in --databases databases, takes one
`stackwatch backup run` and one `mydumper -t 2` of it, then restores both --rounds times,
alternating (so a noisy neighbour slows both alike), every restore into the databases' own
names over the ones there:
  - myloader -t 2 --overwrite-tables                 (no binary log: myloader's default)
  - stackwatch backup restore --replace --no-binlog   (the same, no binary log)
  - myloader -t 2 --enable-binlog / stackwatch backup restore --replace (both binary-logged)
and prints the best of each and the ratios (goal: stackwatch / myloader <= 1.0).

    python3 bench/backup_restore.py --size-mb 512 --databases 8 --rounds 2
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
from collections.abc import Callable
from functools import partial
from pathlib import Path

from backup_speed import (
    Scratch,
    loaded_server,
    prepare_dumps,
    time_stackwatch,
    timed,
    write_stackwatch_config,
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=512)
    parser.add_argument("--databases", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2, help="restores of each (best counts)")
    parser.add_argument("--no-binlogged", action="store_true", help="skip the binlogged pair")
    parser.add_argument("--dir", help="work directory (default: a temporary one, removed)")
    return parser.parse_args()


def myloader(scratch: Scratch, target: Path, *extra: str) -> float:
    conn = [f"--defaults-file={scratch.option_file}", f"--socket={scratch.sock}", "-t", "2"]
    return timed(["myloader", *conn, "--overwrite-tables", *extra, "-d", str(target)])


def server_cpu(pid: int) -> float:
    """CPU seconds the server has used (user + system): less disturbed by a busy machine than
    the wall clock, so the two together tell where a difference comes from."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measured(pid: int, run: Callable[[], float]) -> tuple[float, float, float]:
    """(wall seconds, server CPU seconds, client CPU seconds: the restoring program and every
    process it started) of one restore."""
    before, client_before = server_cpu(pid), children_cpu()
    wall = run()
    return wall, server_cpu(pid) - before, children_cpu() - client_before


def rounds(scratch: Scratch, pid: int, config: Path, target: Path, n: int, binlogged: bool) -> None:
    """Each pair ``n`` times, alternating; the best of each and their ratio."""
    pairs: dict[str, tuple[list[str], list[str]]] = {"no binary log": (["--no-binlog"], [])}
    if binlogged:
        pairs["binary-logged"] = ([], ["--enable-binlog"])
    for label, (ours_extra, theirs_extra) in pairs.items():
        ours, theirs = [], []
        for _ in range(n):
            theirs.append(measured(pid, partial(myloader, scratch, target, *theirs_extra)))
            restore = partial(time_stackwatch, "restore", config, "--replace", *ours_extra)
            ours.append(measured(pid, restore))
        say(label, ours, theirs)


Runs = list[tuple[float, float, float]]


def say(label: str, ours: Runs, theirs: Runs) -> None:
    wall, server, client = (min(r[i] for r in ours) / min(r[i] for r in theirs) for i in range(3))
    print(f"{label}: myloader -t 2 {min(theirs)[0]:.2f} s {fmt(theirs)}; "
          f"stackwatch restore {min(ours)[0]:.2f} s {fmt(ours)}; "
          f"ratio {wall:.2f} (goal <= 1.0), server CPU ratio {server:.2f}, "
          f"client CPU ratio {client:.2f}")  # fmt: skip


def make_backups(scratch: Scratch, config: Path, target: Path) -> None:
    """One stackwatch backup and one mydumper -t 2 dump of the loaded data."""
    print(f"stackwatch backup run: {time_stackwatch('run', config):.2f} s")
    conn = [f"--defaults-file={scratch.option_file}", f"--socket={scratch.sock}", "-t", "2"]
    dumped = timed(["mydumper", *conn, "--regex", "^site", "-o", str(target)])
    print(f"mydumper -t 2: {dumped:.2f} s")


def fmt(runs: Runs) -> str:
    """Every run as wall/server CPU/client CPU seconds."""
    shown = ", ".join(f"{w:.1f}/{s:.1f}/{c:.1f}" for w, s, c in runs)
    return f"(runs, wall/server CPU/client CPU s: {shown})"


def main() -> int:
    args = parse_args()
    if shutil.which("myloader") is None or shutil.which("mydumper") is None:
        print("myloader: not installed (Debian package mydumper); nothing to compare")
        return 1
    # --dir of an earlier run: its data and dumps reused
    with loaded_server(args.dir, args.size_mb, args.databases, reuse=True) as loaded:
        scratch, server, fresh = loaded
        target = scratch.out / "mydumper"
        prepare_dumps(scratch)
        config = write_stackwatch_config(scratch)  # this run's port
        if fresh:
            make_backups(scratch, config, target)
        rounds(scratch, server.pid, config, target, args.rounds, not args.no_binlogged)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
