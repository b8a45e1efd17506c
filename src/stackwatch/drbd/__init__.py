"""Clustered LVM on DRBD: replication state, dual-primary resources and the VGs that sit on them."""

from stackwatch.core.capability import Capability

CAPABILITY = Capability(
    name="drbd",
    summary="DRBD replication state and LVM cluster locking over dual-primary resources.",
    order=60,
    checks={"drbd-lvm": "check"},
)
