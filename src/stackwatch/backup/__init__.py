"""MySQL/MariaDB backups: dump jobs, destinations, retention, catalog, verification."""

from stackwatch.core.capability import Capability

CAPABILITY = Capability(
    name="backup",
    summary="MySQL/MariaDB backups that can be trusted: dump, copy, verify, retain.",
    order=40,
    checks={"backup-age": "check"},
    commands="cli",
    settings="config:BackupConfig",
)
