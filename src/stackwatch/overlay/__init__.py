"""Overlay against underlay throughput: iperf3 over both, the ratio, path MTUs, fragmentation."""

from stackwatch.core.capability import Capability

CAPABILITY = Capability(
    name="overlay",
    summary="What a virtual network (VXLAN, GRE, a VPN) costs: throughput against the underlay.",
    order=72,
    checks={"overlay-throughput": "check"},
    commands="cli",
    settings="settings:OverlaySettings",
)
