"""Open vSwitch: reading OVSDB, manager/controller and kernel-module checks, bridge layouts."""

from stackwatch.core.capability import Capability

CAPABILITY = Capability(
    name="ovs",
    summary="Open vSwitch bridge layouts: plan, apply, verify, export, show.",
    order=20,
    checks={
        "ovs-managers": "checks",
        "ovs-controllers": "checks",
        "ovs-bridges": "checks",
        "ovs-kmod": "kmod",
    },
    commands="cli",
    settings="settings:OvsSettings",
)
