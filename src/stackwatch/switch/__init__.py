"""Switches over SNMP: links, the VLANs each trunk carries, and which hypervisor NIC is on it."""

from stackwatch.core.capability import Capability

CAPABILITY = Capability(
    name="switch",
    summary="Switch links, trunk VLANs and LLDP neighbours over SNMP, against an inventory.",
    order=50,
    checks={"switch-ports": "check", "switch-vlans": "check"},
    commands="cli",
    settings="settings:SwitchSettings",
)
