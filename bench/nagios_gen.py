"""A synthetic nagios.log: hypervisors in cells whose services change state, with notifications,
flapping, current states at rotation and the other lines a real log holds (the bench's input).

    python3 bench/nagios_gen.py LINES OUT [--seed N]
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SERVICES = ("Load", "Disk /", "stackwatch-links", "NTP", "Memory", "nova-compute", "libvirtd")
BAD = ("WARNING", "CRITICAL", "UNKNOWN")


def lines(count: int, seed: int = 1, hosts: int = 2000, start: int = 1_700_000_000) -> list[str]:
    """``count`` lines over about a week, about 70% of them SERVICE ALERTs."""
    rng = random.Random(seed)
    names = [f"cmp-c{1 + i % 100:04d}-{i:05d}" for i in range(hosts)]
    state: dict[tuple[str, str], str] = {}
    out: list[str] = []
    step = max(1, 7 * 86400 // max(count, 1))
    now = start
    while len(out) < count:
        now += rng.randint(0, step * 2)
        host = rng.choice(names)
        service = rng.choice(SERVICES)
        roll = rng.random()
        if roll < 0.70:
            old = state.get((host, service), "OK")
            new = "OK" if old != "OK" else rng.choice(BAD)
            state[(host, service)] = new
            kind = rng.choice(("SOFT", "HARD"))
            output = f"{new} - value {rng.randint(0, 99)}; threshold 80;90"
            out.append(f"[{now}] SERVICE ALERT: {host};{service};{new};{kind};1;{output}")
        elif roll < 0.80:
            new = state.get((host, service), "CRITICAL")
            out.append(
                f"[{now}] SERVICE NOTIFICATION: admins;{host};{service};{new};notify-by-email;"
                f"{new} - paged"
            )
        elif roll < 0.83:
            out.append(f"[{now}] HOST ALERT: {host};DOWN;SOFT;1;PING CRITICAL - 100% loss")
        elif roll < 0.85:
            change = rng.choice(("STARTED", "STOPPED"))
            out.append(
                f"[{now}] SERVICE FLAPPING ALERT: {host};{service};{change}; Service appears to "
                "have started flapping (24.2% change >= 20.0% threshold)"
            )
        elif roll < 0.95:
            out.append(f"[{now}] CURRENT SERVICE STATE: {host};{service};OK;HARD;1;fine")
        else:
            out.append(f"[{now}] Auto-save of retention data completed successfully.")
    return out


# What the benches hold stackwatch to: the one-liner counting SERVICE ALERTs per host and service.
PIPELINE = "grep 'SERVICE ALERT' {log} | awk -F';' '{{print $1\";\"$2}}' | sort | uniq -c"


@contextmanager
def generated_log(count: int) -> Iterator[Path]:
    """A nagios.log of ``count`` lines in a temporary directory, removed afterwards. Written by
    a child process: a large parent would count in the peak memory of each child it forks."""
    tmp = Path(tempfile.mkdtemp(prefix="sw-bench-nagios-"))
    try:
        log = tmp / "nagios.log"
        subprocess.run([sys.executable, __file__, str(count), str(log)], check=True)
        yield log
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    count, path = int(sys.argv[1]), sys.argv[2]
    seed = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "--seed" else 1
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines(count, seed)) + "\n")


if __name__ == "__main__":
    main()
