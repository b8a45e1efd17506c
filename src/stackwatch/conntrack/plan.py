"""Sizing the connection-tracking table for an expected load: both max keys, hash buckets, memory.

The kernel checks each namespace's entries against ``nf_conntrack_max``; ``net.nf_conntrack_max``
is the older name of the same limit, and both are set so that whichever a distribution's tooling
reads agrees. Lookups stay fast with about four entries per hash bucket or fewer.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from stackwatch.core.record import dataclass

ENTRIES_PER_BUCKET = 4
DEFAULT_ENTRY_BYTES = 320  # sizeof(struct nf_conn) slab object on x86_64 kernels 5.x/6.x
BUCKET_BYTES = 8  # one hlist_nulls_head pointer per bucket
MIN_BUCKETS = 1 << 10
# What the kernel accepts. nf_conntrack_max is a C int (proc_dointvec_minmax, 0..INT_MAX).
# nf_ct_alloc_hashtable() refuses more than INT_MAX / sizeof(struct hlist_nulls_head) buckets
# (268435455): the largest power of two below that is 2**27, for the nf_conntrack_buckets sysctl
# and the hashsize module option alike.
INT_MAX = (1 << 31) - 1
MAX_BUCKETS = 1 << 27
MAX_ENTRIES = MAX_BUCKETS * ENTRIES_PER_BUCKET  # beyond it lookups slow down: refused
MAX_HEADROOM = 10


class PlanError(ValueError):
    pass


@dataclass(frozen=True)
class ConntrackPlan:
    connections: int
    headroom: float
    conntrack_max: int
    buckets: int
    entry_bytes: int
    entry_bytes_measured: bool

    @property
    def memory_bytes(self) -> int:
        """Kernel memory of a full table: the entries plus the bucket array."""
        return self.conntrack_max * self.entry_bytes + self.buckets * BUCKET_BYTES


def parse_slabinfo_entry_size(text: str) -> int | None:
    """The object size of the nf_conntrack slab from /proc/slabinfo, None where not listed."""
    for line in text.splitlines():
        fields = line.split()
        if len(fields) > 3 and re.fullmatch(r"nf_conntrack(_\d+)?", fields[0]):
            try:
                size = int(fields[3])
            except ValueError:
                return None
            return size if 0 < size < 65536 else None
    return None


def parse_connections(text: str) -> int:
    """--connections: a whole number of connections, written in plain digits."""
    value = text.strip()
    if not (value.isascii() and value.isdigit()) or int(value) <= 0:
        raise PlanError(
            f"--connections must be a positive number of connections (plain digits), got {text!r}"
        )
    return int(value)


def plan_conntrack(
    connections: int, headroom: float = 0.25, entry_bytes: int | None = None
) -> ConntrackPlan:
    """The table for ``connections`` at peak plus ``headroom``, within what the kernel accepts:
    absurd input (zero, negative, not finite, beyond the kernel's limits) is a PlanError."""
    if connections <= 0:
        raise PlanError("--connections must be a positive number of connections")
    # "not (0 <= x <= 10)" also refuses NaN, for which every comparison is false.
    if not 0 <= headroom <= MAX_HEADROOM:
        raise PlanError("--headroom must be between 0 and 10 (0.25 means 25% above the load)")
    # Exact arithmetic: 100000 connections with headroom 0.1 want 110000 entries, not 110001.
    wanted = math.ceil(connections * (1 + Fraction(repr(headroom))))
    if wanted > MAX_ENTRIES:
        raise _too_large(connections, headroom)
    buckets = MIN_BUCKETS
    while buckets * ENTRIES_PER_BUCKET < wanted:  # the smallest power of two that serves it
        buckets <<= 1
    conntrack_max = max(wanted, buckets)  # never fewer entries than buckets
    return ConntrackPlan(
        connections=connections,
        headroom=headroom,
        conntrack_max=conntrack_max,
        buckets=buckets,
        entry_bytes=entry_bytes or DEFAULT_ENTRY_BYTES,
        entry_bytes_measured=entry_bytes is not None,
    )


def _too_large(connections: int, headroom: float) -> PlanError:
    most = math.floor(MAX_ENTRIES / (1 + Fraction(repr(headroom))))
    return PlanError(
        f"--connections {connections} with {headroom:.0%} headroom needs more than the "
        f"{MAX_ENTRIES} entries the kernel's largest hash table ({MAX_BUCKETS} buckets) serves at "
        f"{ENTRIES_PER_BUCKET} per bucket; at most {most} connections with this headroom"
    )


def human_bytes(value: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def render_sysctl(plan: ConntrackPlan) -> str:
    source = "measured in /proc/slabinfo" if plan.entry_bytes_measured else "typical x86_64 size"
    return (
        f"# Connection tracking sized by stackwatch conntrack plan for {plan.connections} "
        f"connections with {plan.headroom:.0%} headroom.\n"
        f"# A full table costs about {human_bytes(plan.memory_bytes)} of kernel memory "
        f"({plan.entry_bytes} bytes per entry, {source}).\n"
        f"net.netfilter.nf_conntrack_max = {plan.conntrack_max}\n"
        f"net.nf_conntrack_max = {plan.conntrack_max}\n"
        f"# Hash buckets (writable at run time on kernels 5.x and later; for older kernels put\n"
        f"# 'options nf_conntrack hashsize={plan.buckets}' in /etc/modprobe.d/nf_conntrack.conf).\n"
        f"net.netfilter.nf_conntrack_buckets = {plan.buckets}\n"
    )
