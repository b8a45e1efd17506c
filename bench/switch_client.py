"""Choosing the SNMP library of issue 13: ezsnmp (net-snmp's C code) against pysnmp 7 (asyncio,
pure Python), on the same agents and the same columns (what ``switch verify`` reads).

For each library: the CPU and wall time of importing it (in a fresh interpreter: a Nagios check
pays it on every run), and of reading N devices (snmpsim serving the real recordings, see
bench/_snmpsim.py), one after the other and all at once (ezsnmp: a thread per device, as
stackwatch does; pysnmp: one asyncio task per device).

Run: python3 bench/switch_client.py [--devices 8]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _snmpsim import PROJECT, Simulator

sys.path.insert(0, str(PROJECT / "src"))
from stackwatch.switch.client import Credentials, Request, Target, fetch, read_all
from stackwatch.switch.device import request_for

IMPORTS = {
    "ezsnmp": "import ezsnmp",
    "pysnmp": "from pysnmp.hlapi.v3arch.asyncio import SnmpEngine, bulk_walk_cmd",
}


def import_cost(statement: str) -> tuple[float, float]:
    """Wall and CPU seconds of a fresh interpreter importing, minus one that imports nothing."""

    def run(code: str) -> tuple[float, float]:
        script = f"import time,os;{code};t=os.times();print(t.user+t.system)"
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        )
        return time.perf_counter() - started, float(done.stdout)

    bare = min((run("pass") for _ in range(3)), key=lambda r: r[1])
    used = min((run(statement) for _ in range(3)), key=lambda r: r[1])
    return used[0] - bare[0], used[1] - bare[1]


async def _pysnmp_device(engine: Any, port: int, community: str, columns: Sequence[str]) -> int:
    from pysnmp.hlapi.v3arch.asyncio import (
        CommunityData,
        ContextData,
        ObjectIdentity,
        ObjectType,
        UdpTransportTarget,
        bulk_walk_cmd,
    )

    target = await UdpTransportTarget.create(("127.0.0.1", port), timeout=30, retries=0)
    rows = 0
    for column in columns:
        async for error, status, _, binds in bulk_walk_cmd(
            engine,
            CommunityData(community),
            target,
            ContextData(),
            0,
            10,
            ObjectType(ObjectIdentity(column)),
            lexicographicMode=False,
        ):
            if error or status:
                raise RuntimeError(f"{community}: {error or status}")
            rows += len(binds)
    return rows


def pysnmp_read(sim: Simulator, columns: Sequence[str], together: bool) -> int:
    from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

    async def main() -> int:
        engine = SnmpEngine()
        jobs = [_pysnmp_device(engine, sim.ports[d], d, columns) for d in sim.devices]
        if together:
            return sum(await asyncio.gather(*jobs))
        return sum([await job for job in jobs])

    return asyncio.run(main())


def ezsnmp_read(sim: Simulator, request: Request, together: bool) -> int:
    targets = [
        Target(d, "127.0.0.1", sim.ports[d], Credentials("2c", community=d)) for d in sim.devices
    ]
    if together:
        readings = read_all(targets, request)
        return sum(sum(len(c) for c in r.walked.columns.values()) for r in readings if r.walked)
    return sum(sum(len(c) for c in fetch(t, request).columns.values()) for t in targets)


def measure(read: Callable[[], int]) -> tuple[float, float, int]:
    started, cpu = time.perf_counter(), time.process_time()
    rows = read()
    return time.perf_counter() - started, time.process_time() - cpu, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=8)
    count = parser.parse_args().devices
    for name, statement in IMPORTS.items():
        wall, cpu = import_cost(statement)
        print(f"import {name:7} {1000 * wall:7.1f} ms wall {1000 * cpu:7.1f} ms CPU")
    # the same columns walked in full by both libraries (not the rows switch verify skips)
    request = Request(request_for({"vlans", "lldp"}, 60).columns, timeout=60)
    with Simulator(count) as sim:
        pysnmp_read(sim, request.columns[:1], False)  # warm: imports, engine
        ezsnmp_read(sim, request, False)
        results = {}
        for together in (False, True):
            how = "all at once" if together else "one by one "
            for name, read in (
                ("ezsnmp", lambda t=together: ezsnmp_read(sim, request, t)),
                ("pysnmp", lambda t=together: pysnmp_read(sim, request.columns, t)),
            ):
                wall, cpu, rows = measure(read)
                results[(name, together)] = (wall, cpu)
                print(
                    f"{count} devices {how} {name}: {wall:6.2f} s wall {cpu:6.2f} s CPU "
                    f"({1000 * cpu / count:6.1f} ms CPU per device, {rows} rows)"
                )
        for together in (False, True):
            ez, py = results[("ezsnmp", together)], results[("pysnmp", together)]
            print(
                f"pysnmp / ezsnmp ({'all at once' if together else 'one by one'}): "
                f"{py[0] / ez[0]:.1f}x wall, {py[1] / ez[1]:.1f}x CPU"
            )


if __name__ == "__main__":
    main()
