"""The host checks: links and bonds, processes, TCP, ECC memory, SMART, temperatures."""

from stackwatch.core.capability import Capability

CAPABILITY = Capability(
    name="host",
    summary="Health of the host itself: NICs and bonds, daemons, TCP, memory, disks, sensors.",
    order=10,
    checks={
        "links": "links",
        "processes": "processes",
        "tcp-retransmits": "tcp_retransmits",
        "memory-ecc": "memory_ecc",
        "disk-smart": "disk_smart",
        "temperature": "temperature",
    },
)
