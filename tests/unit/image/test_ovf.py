"""The OVF parser: disks in the hardware's order, the properties Glance gets, and hostile
descriptors refused in one line."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackwatch.image.ovf import OvfError, parse_ovf
from tests.integration.image.appliance import ovf


def test_disks_follow_the_hardware_order_and_properties_come_from_the_ovf() -> None:
    parsed = parse_ovf(ovf(["boot.vmdk", "data.vmdk"]))
    assert [d.href for d in parsed.disks] == ["boot.vmdk", "data.vmdk"]
    assert parsed.disks[0].capacity == 16 << 20
    assert parsed.disks[0].bus == "scsi"
    assert parsed.properties == {
        "vmware_ostype": "ubuntu64Guest",
        "os_type": "linux",
        "os_distro": "ubuntu",
        "min_ram": "2048",
        "ovf_cpus": "2",
        "hw_disk_bus": "scsi",
        "hw_firmware_type": "uefi",
    }


def test_hardware_order_wins_over_the_disk_section() -> None:
    text = ovf(["a.vmdk", "b.vmdk"]).decode()
    # Attach disk 2 first in the hardware section.
    text = text.replace("ovf:/disk/vmdisk1", "ovf:/disk/TMP").replace(
        "ovf:/disk/vmdisk2", "ovf:/disk/vmdisk1"
    )
    text = text.replace("ovf:/disk/TMP", "ovf:/disk/vmdisk2")
    assert [d.href for d in parse_ovf(text.encode()).disks] == ["b.vmdk", "a.vmdk"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaa'>]><x>&a;</x>", "DOCTYPE"),
        (b"<Envelope><unclosed></Envelope>", "not well-formed"),
        (b"<other/>", "not an OVF"),
        (
            b'<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1"><References/></Envelope>',
            "names no disk",
        ),
        (ovf(["a.vmdk"]).replace(b'ovf:fileRef="file1"', b'ovf:fileRef="nope"'), "lacks"),
        (b"x" * (5 << 20), "larger than"),
    ],
)
def test_hostile_or_broken_descriptors_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(OvfError, match=message):
        parse_ovf(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_give_a_descriptor_or_one_ovf_error(data: bytes) -> None:
    try:
        parse_ovf(data)
    except OvfError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.text(
            alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=30
        ),
        max_size=4,
    )
)
def test_mutated_real_descriptors_never_crash(values: list[str]) -> None:
    from xml.sax.saxutils import quoteattr

    text = ovf(["a.vmdk"]).decode()
    for index, value in enumerate(values):
        target = ['"16"', '"byte * 2^20"', '"ubuntu64Guest"', '"efi"'][index]
        text = text.replace(target, quoteattr(value), 1)
    try:
        parsed = parse_ovf(text.encode())
    except OvfError:
        return
    assert parsed.disks[0].href == "a.vmdk"
