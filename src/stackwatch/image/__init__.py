"""Appliance images into Glance: a vendor's VMDK, OVA or zip inspected with qemu-img, converted
where the cloud needs it, the conversion proved, uploaded with openstacksdk, its hash verified."""

from stackwatch.core.capability import Capability

CAPABILITY = Capability(
    name="image",
    summary="Appliance images (VMDK, OVA, zip) into Glance: converted, compared, verified.",
    order=80,
    commands="cli",
    settings="settings:ImageSettings",
)
