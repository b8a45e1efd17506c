"""Nova runbooks: the console plumbing probe (nova-api -> compute RPC -> console auth -> proxy),
judged per cell or availability zone, and the recovery of a failed compute host's instances."""

from stackwatch.core.capability import Capability

CAPABILITY = Capability(
    name="nova",
    summary="Nova console plumbing per cell (nova-console) and recovery of a host's instances.",
    order=85,
    checks={"nova-console": "check"},
    commands="cli",
    settings="settings:NovaSettings",
)
