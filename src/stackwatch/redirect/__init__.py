"""Temporary DNAT redirects for testing, in nftables' own table, expired by the kernel."""

from stackwatch.core.capability import Capability

CAPABILITY = Capability(
    name="redirect",
    summary="Send this host's traffic for an old address to a new one, for a while (nftables).",
    order=71,
    commands="cli",
)
