"""One setting across every container root: read it, compare it, name those that differ."""

from stackwatch.core.capability import Capability

CAPABILITY = Capability(
    name="audit",
    summary="A configuration key read in every container root, and those that differ.",
    order=65,
    checks={"config-drift": "check"},
    commands="cli",
    settings="settings:AuditSettings",
)
