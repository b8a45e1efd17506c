"""Storage baselines: fio runs and iozone results stored by name, compared side by side."""

from stackwatch.core.capability import Capability

CAPABILITY = Capability(
    name="storage",
    summary="Storage baselines: fio runs, iozone imports, side-by-side comparison.",
    order=75,
    checks={"storage-baseline": "check"},
    commands="cli",
    settings="settings:StorageSettings",
)
