"""MySQL/MariaDB backups: dump jobs, destinations, retention, catalog, verification."""
