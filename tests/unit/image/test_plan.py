"""The plan of an import and the judgement of `image check`: no I/O, all decided from facts."""

from __future__ import annotations

import pytest

from stackwatch.image.check import ImageFacts, judge
from stackwatch.image.plan import GIB, check_scratch, plan_disks, target_format
from stackwatch.image.qemu import ImageError, ImageInfo

VMDK = ImageInfo("vmdk", 10 * GIB, 1 * GIB, "streamOptimized")
QCOW2 = ImageInfo("qcow2", 10 * GIB, 1 * GIB)


@pytest.mark.parametrize(
    ("info", "wanted", "formats", "expected"),
    [
        (VMDK, "auto", ("qcow2", "raw"), "qcow2"),
        (VMDK, "auto", ("raw",), "raw"),
        (VMDK, "auto", ("vmdk", "qcow2"), "vmdk"),
        (QCOW2, "auto", ("qcow2", "raw"), "qcow2"),
        (VMDK, "keep", ("qcow2",), "vmdk"),
        (QCOW2, "raw", ("qcow2",), "raw"),
    ],
)
def test_target_format(
    info: ImageInfo, wanted: str, formats: tuple[str, ...], expected: str
) -> None:
    assert target_format(info, wanted, formats) == expected


def test_a_disk_too_small_for_the_conversion_is_found_before_converting() -> None:
    plans = plan_disks("x", [("/a.vmdk", VMDK)], None, "qcow2", ("qcow2",))
    with pytest.raises(ImageError, match=r"needs up to 10\.2 GiB .* 5\.0 GiB are available"):
        check_scratch(plans, 5 * GIB)
    check_scratch(plans, 11 * GIB)


def test_kept_disks_need_no_scratch_and_keep_the_vmware_disk_type() -> None:
    (plan,) = plan_disks("x", [("/a.vmdk", VMDK)], None, "keep", ("qcow2",))
    assert plan.scratch_needed == 0 and plan.properties == {"vmware_disktype": "streamOptimized"}
    check_scratch([plan], 0)


def _image(**changes: object) -> ImageFacts:
    base = {
        "id": "i",
        "name": "n",
        "status": "active",
        "disk_format": "qcow2",
        "size": 10,
        "hash_algo": "sha512",
        "hash_value": "abc",
    }
    base.update(changes)
    return ImageFacts(**base)


def test_check_same_only_when_active_same_size_same_hash() -> None:
    assert judge(_image(), 10, "abc").same
    assert judge(_image(status="queued"), 10, "abc").problems == (
        "the image is queued, not active",
    )
    assert "sizes differ" in judge(_image(), 11, "abc").problems[0]
    assert "differs from Glance's os_hash_value" in judge(_image(), 10, "abd").problems[0]
    assert judge(_image(hash_value=None), 10, None).problems == ("Glance gives no os_hash_value",)
