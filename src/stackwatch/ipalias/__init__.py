"""Many addresses on one interface: planned, checked, written for the network stack, applied."""

from stackwatch.core.capability import Capability

CAPABILITY = Capability(
    name="ipalias",
    summary="Many IP addresses on one interface: plan, write (ifupdown, netplan, networkd), apply.",
    order=70,
    commands="cli",
)
