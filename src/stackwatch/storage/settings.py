"""The [storage] section: where runs are kept, the fio profile, what the check compares."""

from __future__ import annotations

from stackwatch.core.config import ConfigError
from stackwatch.core.record import dataclass


@dataclass(frozen=True)
class StorageSettings:
    results_dir: str = "/var/lib/stackwatch/storage"  # one JSON file per named run
    jobs: int = 32  # fio numjobs of each test (iozone's "32 initial writers")
    size: str = "256M"  # file size per job (fio size=); bounds the space a run takes
    runtime: int = 30  # seconds each test may run at most (fio runtime=)
    ioengine: str = "psync"  # fio ioengine
    baseline: str = ""  # storage-baseline check: the stored run to compare against
    current: str = ""  # storage-baseline check: the stored run of today
    warning: float = 80.0  # % of the baseline below which a test is WARNING
    critical: float = 50.0  # % of the baseline below which a test is CRITICAL

    def validate(self, where: str) -> None:
        if self.jobs < 1 or self.runtime < 1:
            raise ConfigError(f"{where}: jobs and runtime must be at least 1")
        if not 0 <= self.critical <= self.warning:
            raise ConfigError(f"{where}: critical must be between 0 and warning")
