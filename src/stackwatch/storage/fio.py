"""Running fio with the operators' profile on a directory or a device, within bounds.

Four tests one after the other (``stonewall``): sequential write and read in 1 MiB blocks,
random read and write in 4 KiB blocks, each with ``jobs`` processes summed (group_reporting), a
file of ``size`` per process and at most ``runtime`` seconds. A directory gets a scratch
directory of its own, removed afterwards. A device is written over, so it is used only when
asked for explicitly, and never while it or one of its partitions is mounted or used as swap.
"""

from __future__ import annotations

import os
import stat
import time
import uuid

from stackwatch.core.host import Host, HostError
from stackwatch.storage.results import FIO_TESTS, ResultError, Run, parse_fio_json


class TargetRefused(ValueError):
    """A target fio must not run on: one line saying why (a usage error)."""


def fio_argv(target_option: str, jobs: int, size: str, runtime: int, ioengine: str) -> list[str]:
    argv = [
        "fio",
        "--output-format=json",
        "--group_reporting",
        target_option,
        f"--size={size}",
        f"--numjobs={jobs}",
        f"--runtime={runtime}",
        f"--ioengine={ioengine}",
        "--direct=0",
        "--unlink=1",
    ]
    for name, rw, block in FIO_TESTS:
        argv += [f"--name={name}", f"--rw={rw}", f"--bs={block}", "--stonewall"]
    return argv


def _device_numbers(host: Host, rdev: int) -> set[int]:
    """The device and its partitions (from sysfs), as device numbers."""
    numbers = {rdev}
    base = f"/sys/dev/block/{os.major(rdev)}:{os.minor(rdev)}"
    for entry in host.listdir(base):
        dev = (
            host.read_optional(f"{base}/{entry}/dev")
            if host.exists(f"{base}/{entry}/partition")
            else None
        )
        if dev and ":" in dev:
            major, minor = dev.strip().split(":", 1)
            numbers.add(os.makedev(int(major), int(minor)))
    return numbers


def _in_use_sources(host: Host) -> list[str]:
    mounts = host.read_optional("/proc/self/mounts") or ""
    swaps = host.read_optional("/proc/swaps") or ""
    sources = [line.split()[0] for line in mounts.splitlines() if line.split()]
    sources += [line.split()[0] for line in swaps.splitlines()[1:] if line.split()]
    return [s.replace("\\040", " ") for s in sources if s.startswith("/")]


def check_device(host: Host, device: str, rdev: int) -> None:
    """Refuse a device that is mounted or swap, or has a partition that is."""
    ours = _device_numbers(host, rdev)
    for source in _in_use_sources(host):
        status = host.stat_optional(source)
        if status is not None and stat.S_ISBLK(status.st_mode) and status.st_rdev in ours:
            raise TargetRefused(f"{device} is in use ({source} is mounted or swap): not touched")


def target_option(host: Host, target: str, allow_device: bool) -> tuple[str, str | None]:
    """fio's option for the target, and the scratch directory to remove afterwards (if any)."""
    status = host.stat_optional(target)
    if status is None:
        raise TargetRefused(f"{target}: no such directory or device")
    if stat.S_ISDIR(status.st_mode):
        scratch = os.path.join(target, f".stackwatch-fio-{uuid.uuid4().hex[:8]}")
        return f"--directory={scratch}", scratch
    if stat.S_ISBLK(status.st_mode):
        if not allow_device:
            raise TargetRefused(f"{target} is a device: fio writes over it; add --destroy-device")
        check_device(host, target, status.st_rdev)
        return f"--filename={target}", None
    raise TargetRefused(f"{target} is neither a directory nor a block device")


def run_fio(
    host: Host,
    name: str,
    target: str,
    *,
    jobs: int,
    size: str,
    runtime: int,
    ioengine: str,
    allow_device: bool = False,
) -> Run:
    """Run the profile on ``target`` and return what it measured."""
    option, scratch = target_option(host, target, allow_device)
    if scratch:
        host.make_dir(scratch)
    try:
        # four tests of at most ``runtime`` seconds each, plus laying out the files
        done = host.run(
            fio_argv(option, jobs, size, runtime, ioengine), timeout=4 * runtime + 120, what="fio"
        )
    finally:
        if scratch:
            host.remove_tree(scratch)
    try:
        throughput, iops = parse_fio_json(done.stdout)
    except ResultError as exc:
        raise HostError(str(exc)) from None
    return Run(name, "fio", target, jobs, throughput, iops, time.time())
