"""VLAN bitmaps, port lists, hex text and VLAN ranges: what an agent sends, decoded."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackwatch.switch.octets import (
    DecodeError,
    decode_portlist,
    decode_vtp_bitmaps,
    format_ranges,
    format_vlans,
    hex_text,
    parse_vlan_ranges,
    ranges_of,
)


def vtp_blocks(vlans: set[int], length: int = 128) -> list[bytes]:
    """Encode VLANs 0-4095 as the four CISCO-VTP blocks, MSB of byte 0 = first VLAN."""
    blocks = [bytearray(128) for _ in range(4)]
    for vlan in vlans:
        block, bit = divmod(vlan, 1024)
        blocks[block][bit // 8] |= 0x80 >> (bit % 8)
    return [bytes(b[:length]) for b in blocks]


def portlist(ports: set[int], length: int) -> bytes:
    data = bytearray(length)
    for port in ports:
        data[(port - 1) // 8] |= 0x80 >> ((port - 1) % 8)
    return bytes(data)


def test_msb_of_first_byte_is_vlan_0_so_0x7f_starts_at_vlan_1() -> None:
    # 0x7f = 0111 1111: VLAN 0 off, VLANs 1-7 on; VLAN 0 is reserved and never reported
    decoded = decode_vtp_bitmaps([b"\x7f" + bytes(127), bytes(128), bytes(128), bytes(128)])
    assert decoded.vlans == frozenset(range(1, 8))
    assert decoded.unknown == ()


def test_vlan_4095_and_0_are_never_carried() -> None:
    decoded = decode_vtp_bitmaps(vtp_blocks({0, 1, 4094, 4095}))
    assert decoded.vlans == frozenset({1, 4094})


def test_truncated_16_byte_bitmap_leaves_128_up_unknown_not_off() -> None:
    # 16 bytes = 128 bits = VLANs 0-127; the 2k/3k/4k columns absent: 128-4095 unknown
    decoded = decode_vtp_bitmaps([b"\x40" + bytes(1) + b"\x01" + bytes(13)])
    assert decoded.vlans == frozenset({1, 23})
    assert decoded.unknown_text == "128-4095"


def test_empty_companion_columns_leave_their_ranges_unknown() -> None:
    # what the Catalyst 3560 recording sends on its trunks: full base block, empty 2k/3k/4k
    decoded = decode_vtp_bitmaps([b"\x20" + bytes(127), b"", b"", b""])
    assert decoded.vlans == frozenset({2})
    assert decoded.unknown == ((1024, 4095),)


def test_oversized_bitmap_is_refused() -> None:
    with pytest.raises(DecodeError, match="at most 128"):
        decode_vtp_bitmaps([bytes(129)])


def test_bitmap_sent_as_hex_text_is_decoded() -> None:
    text = ("40" + "00" * 127).encode()
    assert decode_vtp_bitmaps([text, None, None, None]).vlans == frozenset({1})
    spaced = " ".join(["00", "01"] + ["00"] * 126).encode()
    assert decode_vtp_bitmaps([spaced]).vlans == frozenset({15})


@given(st.sets(st.integers(0, 4095)))
def test_vtp_round_trip(vlans: set[int]) -> None:
    decoded = decode_vtp_bitmaps(vtp_blocks(vlans))
    assert decoded.vlans == frozenset(v for v in vlans if 1 <= v <= 4094)
    assert decoded.unknown == ()


@given(st.sets(st.integers(0, 4095)), st.integers(0, 128))
def test_truncation_never_invents_vlans_and_says_what_is_unknown(
    vlans: set[int], length: int
) -> None:
    decoded = decode_vtp_bitmaps(vtp_blocks(vlans, length))
    for block in range(4):
        seen = range(block * 1024, block * 1024 + length * 8)
        assert {v for v in decoded.vlans if v // 1024 == block} == {
            v for v in vlans if v in seen and 1 <= v <= 4094
        }
    if length < 128:  # the rest of each block is inside an unknown range
        assert any(low <= length * 8 and high >= 1023 for low, high in decoded.unknown)
    else:
        assert decoded.unknown == ()


@given(st.lists(st.one_of(st.none(), st.binary(max_size=200)), max_size=4))
def test_any_bytes_decode_or_raise_decode_error(blocks: list[bytes | None]) -> None:
    try:
        decoded = decode_vtp_bitmaps(blocks)
    except DecodeError:
        return
    assert all(1 <= v <= 4094 for v in decoded.vlans)
    for low, high in decoded.unknown:
        assert 0 <= low <= high <= 4095


def test_portlist_msb_of_first_byte_is_bridge_port_1() -> None:
    # HPE recording, VLAN 50 current egress e1 eb 80: 1110 0001 / 1110 1011 / 1000 0000
    assert decode_portlist(bytes.fromhex("e1eb80")) == [1, 2, 3, 8, 9, 10, 11, 13, 15, 16, 17]


@given(st.sets(st.integers(1, 512)))
def test_portlist_round_trip(ports: set[int]) -> None:
    assert decode_portlist(portlist(ports, 64)) == sorted(ports)


def test_portlist_oversized_refused() -> None:
    with pytest.raises(DecodeError):
        decode_portlist(bytes(1025))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"06 04 FF", b"\x06\x04\xff"),
        (b"0x0604ff", b"\x06\x04\xff"),
        (b"06:04:ff", b"\x06\x04\xff"),
        (b"0604", b"\x06\x04"),
        (b"FF", None),  # two raw bytes that happen to be hex digits: taken as raw
        (b"\x06\x04", None),
        (b"zz zz", None),
    ],
)
def test_hex_text(text: bytes, expected: bytes | None) -> None:
    assert hex_text(text) == expected


@given(st.binary(max_size=64))
def test_hex_text_of_hex_round_trips(data: bytes) -> None:
    if len(data) >= 2:
        assert hex_text(data.hex(" ").encode()) == data
        assert hex_text(data.hex().encode()) == data


def test_vlan_ranges_parse_and_format() -> None:
    assert parse_vlan_ranges("15, 100-103") == frozenset({15, 100, 101, 102, 103})
    assert format_vlans({15, 100, 101, 102, 103}) == "15,100-103"
    assert format_vlans(set()) == "none"


@pytest.mark.parametrize("bad", ["0", "4095", "10-5", "x", "1-", "-3", "1.5"])
def test_vlan_ranges_refused(bad: str) -> None:
    with pytest.raises(DecodeError):
        parse_vlan_ranges(bad)


@given(st.sets(st.integers(1, 4094)))
def test_ranges_round_trip(vlans: set[int]) -> None:
    text = format_ranges(ranges_of(vlans))
    assert parse_vlan_ranges(text) == frozenset(vlans)


@given(st.text(max_size=40))
def test_parse_vlan_ranges_never_crashes(text: str) -> None:
    try:
        vlans = parse_vlan_ranges(text)
    except DecodeError:
        return
    assert all(1 <= v <= 4094 for v in vlans)
