"""Connection tracking: the table of this host and its network namespaces, and sizing it."""

from stackwatch.core.capability import Capability

CAPABILITY = Capability(
    name="conntrack",
    summary="Connection-tracking table use, drops and sizing.",
    order=0,
    checks={"conntrack": "check"},
    commands="cli",
)
