"""Web log defence: parsing access logs, growth, Referer-flood detection, block rules, following."""

from stackwatch.core.capability import Capability

CAPABILITY = Capability(
    name="weblog",
    summary="Web log defence: which log grows, which Referer drives it, and blocking it.",
    order=30,
    checks={"weblog-flood": "check"},
    commands="cli",
    quick_commands={"top": "topcmd:quick"},
    settings="config:WeblogConfig",
)
