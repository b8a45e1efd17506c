"""TCP window scaling: diagnose a capture (options, windows, verdict), write a sysctl profile."""

from stackwatch.core.capability import Capability

CAPABILITY = Capability(
    name="tcp",
    summary="TCP window scaling stripped by a middlebox: diagnose a capture, cap the scale.",
    order=70,
    commands="cli",
)
