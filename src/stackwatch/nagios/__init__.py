"""Nagios at scale: configuration assembled from one repository and generated from the inventory,
coverage of what each role needs, and analytics of the alerts in nagios.log."""

from stackwatch.core.capability import Capability

CAPABILITY = Capability(
    name="nagios",
    summary="Nagios configuration from one repository and the inventory; which alerts cry wolf.",
    order=60,
    commands="cli",
    quick_commands={"alerts": "alertscmd:quick"},
    settings="settings:NagiosSettings",
)
