"""The ``[image]`` section: which cloud, what its hypervisors boot, where and how much scratch."""

from __future__ import annotations

from stackwatch.core.config import ConfigError
from stackwatch.core.record import dataclass

FORMATS = ("qcow2", "raw", "vmdk")


@dataclass(frozen=True)
class ImageSettings:
    """Bringing appliance images into Glance."""

    cloud: str | None = None  # the clouds.yaml entry (unset: OS_CLOUD or the OS_* environment)
    hypervisor_formats: tuple[str, ...] = ("qcow2", "raw")  # disk formats the hypervisors boot
    scratch_dir: str = "/var/tmp"  # where archives are unpacked and conversions written
    scratch_limit_gib: float = 100.0  # most scratch space one import may use, in GiB
    qemu_img: str = "qemu-img"  # the qemu-img program
    qemu_timeout: float = 3600.0  # seconds one qemu-img convert or compare may take
    upload_timeout: float = 3600.0  # seconds the upload and import may take until active
    api_timeout: float = 600.0  # seconds one request to the cloud may wait for an answer

    def validate(self, where: str) -> None:
        unknown = [f for f in self.hypervisor_formats if f not in FORMATS]
        if unknown or not self.hypervisor_formats:
            raise ConfigError(
                f"{where}.hypervisor_formats: one or more of {', '.join(FORMATS)}, not {unknown}"
            )
        for key in ("scratch_limit_gib", "qemu_timeout", "upload_timeout", "api_timeout"):
            if getattr(self, key) <= 0:
                raise ConfigError(f"{where}.{key}: must be more than 0")
