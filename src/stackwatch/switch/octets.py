"""Pure decoders of the octet strings switches publish: VLAN bitmaps, port lists, hex text, MACs.

Everything here takes bytes an agent sent (untrusted) and returns plain values or raises
``DecodeError`` with one line saying what was wrong; nothing does I/O.

- CISCO-VTP-MIB bitmaps: one bit per VLAN, the most significant bit of the first byte is the
  first VLAN of the block (VLAN 0 for vlanTrunkPortVlansEnabled, 1024 for its 2k companion, 2048
  for 3k, 3072 for 4k); 128 bytes per block. A shorter bitmap (real devices send 16 bytes) says
  nothing about the VLANs past its end: they are *unknown*, never read as "off".
- Q-BRIDGE-MIB PortList: one bit per bridge port, the most significant bit of the first byte is
  bridge port 1.
- Some agents send these octet strings as hex text ("06 04 FF", "0x0604ff", "06:04:ff").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from stackwatch.core.record import dataclass

VTP_BLOCK_BYTES = 128  # one block of 1024 VLANs
VTP_BLOCK_VLANS = VTP_BLOCK_BYTES * 8
MAX_VLAN_ID = 4094  # 0 and 4095 are reserved: never carried
LAST_BITMAP_VLAN = 4095  # the last bit of the 4k block
MAX_PORTLIST_BYTES = 1024  # 8192 bridge ports; more is not a PortList but an attack

_HEX_TEXT = re.compile(r"^(?:0x)?[0-9A-Fa-f]{2}(?:[ :.-]?[0-9A-Fa-f]{2})*$")


class DecodeError(ValueError):
    """A value that cannot be what the MIB says it is."""


@dataclass(frozen=True)
class VlanSet:
    """VLANs carried (1-4094) and the VLAN ranges nothing was said about (inclusive pairs)."""

    vlans: frozenset[int]
    unknown: tuple[tuple[int, int], ...] = ()

    @property
    def unknown_text(self) -> str | None:
        return format_ranges(self.unknown) if self.unknown else None


def hex_text(raw: bytes) -> bytes | None:
    """The bytes that ``raw`` spells as hex text ("06 04 ff", "0x0604FF", "06:04:ff"), or None
    where it is not hex text. Two hex digits alone ("FF") are taken as text only with a 0x prefix
    or a separator, since two raw bytes may happen to be hex digits."""
    if not raw.isascii():
        return None
    text = raw.decode("ascii").strip()
    if not _HEX_TEXT.match(text):
        return None
    digits = re.sub(r"[ :.-]", "", text.removeprefix("0x"))
    if len(digits) < 4 and not text.startswith("0x"):
        return None
    return bytes.fromhex(digits)


def bitmap_octets(raw: bytes) -> bytes:
    """A bitmap as sent, or decoded from hex text where the agent sent it so."""
    decoded = hex_text(raw)
    return raw if decoded is None else decoded


def set_bits(data: bytes, first: int) -> list[int]:
    """The numbers of the bits that are on: the most significant bit of byte 0 is ``first``."""
    found = []
    for byte_index, byte in enumerate(data):
        if not byte:
            continue
        for bit in range(8):
            if byte & (0x80 >> bit):
                found.append(first + byte_index * 8 + bit)
    return found


def decode_vtp_bitmaps(blocks: Sequence[bytes | None]) -> VlanSet:
    """The VLANs enabled on a trunk from vlanTrunkPortVlansEnabled and its 2k, 3k and 4k
    companions (``blocks[0..3]``; None where the agent has no such column). A block shorter than
    128 bytes (or absent) leaves the rest of its range unknown; a longer one is refused."""
    if len(blocks) > 4:
        raise DecodeError(f"{len(blocks)} VTP bitmap blocks; there are 4 (VLANs 0-4095)")
    vlans: set[int] = set()
    unknown: list[tuple[int, int]] = []
    for number, block in enumerate(blocks):
        first = number * VTP_BLOCK_VLANS
        last = first + VTP_BLOCK_VLANS - 1
        if block is None:
            unknown.append((first, last))
            continue
        data = bitmap_octets(block)
        if len(data) > VTP_BLOCK_BYTES:
            raise DecodeError(
                f"VLAN bitmap of {len(data)} bytes for VLANs {first}-{last}; at most 128"
            )
        vlans.update(set_bits(data, first))
        if len(data) < VTP_BLOCK_BYTES:
            unknown.append((first + len(data) * 8, last))
    unknown.extend(_missing_blocks(len(blocks)))
    carried = frozenset(v for v in vlans if 1 <= v <= MAX_VLAN_ID)
    return VlanSet(carried, merge_ranges(unknown))


def _missing_blocks(count: int) -> list[tuple[int, int]]:
    return [
        (n * VTP_BLOCK_VLANS, n * VTP_BLOCK_VLANS + VTP_BLOCK_VLANS - 1) for n in range(count, 4)
    ]


def decode_portlist(raw: bytes) -> list[int]:
    """The bridge ports of a Q-BRIDGE PortList (most significant bit of byte 0 = port 1)."""
    data = bitmap_octets(raw)
    if len(data) > MAX_PORTLIST_BYTES:
        raise DecodeError(f"PortList of {len(data)} bytes; at most {MAX_PORTLIST_BYTES}")
    return set_bits(data, 1)


def merge_ranges(ranges: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Sorted inclusive ranges with overlapping and adjacent ones joined."""
    merged: list[tuple[int, int]] = []
    for low, high in sorted(r for r in ranges if r[0] <= r[1]):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return tuple(merged)


def ranges_of(numbers: Iterable[int]) -> tuple[tuple[int, int], ...]:
    """Runs of consecutive numbers as inclusive ranges: {1, 2, 3, 7} -> ((1, 3), (7, 7))."""
    return merge_ranges((n, n) for n in numbers)


def format_ranges(ranges: Iterable[tuple[int, int]]) -> str:
    """ "1-3,7" from ((1, 3), (7, 7))."""
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in ranges)


def format_vlans(vlans: Iterable[int]) -> str:
    return format_ranges(ranges_of(vlans)) or "none"


def parse_vlan_ranges(text: str) -> frozenset[int]:
    """VLAN ids from "15, 100-199" (or an int); each id 1-4094. Raises DecodeError."""
    vlans: set[int] = set()
    for part in str(text).split(","):
        item = part.strip()
        if not item:
            continue
        low_text, dash, high_text = item.partition("-")
        low = _vlan_id(low_text, item)
        high = _vlan_id(high_text, item) if dash else low
        if high < low:
            raise DecodeError(f"VLAN range {item!r} runs backwards")
        vlans.update(range(low, high + 1))
    return frozenset(vlans)


def _vlan_id(text: str, item: str) -> int:
    value = text.strip()
    if not (value.isascii() and value.isdigit()):
        raise DecodeError(f"{item!r} is not a VLAN id or range (like 15 or 100-199)")
    number = int(value)
    if not 1 <= number <= MAX_VLAN_ID:
        raise DecodeError(f"VLAN {number} out of range 1-{MAX_VLAN_ID}")
    return number


def mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def printable_or_hex(raw: bytes) -> str:
    """Text where the bytes are printable UTF-8 (a trailing NUL dropped), else hex with colons."""
    trimmed = raw.rstrip(b"\x00")
    try:
        text = trimmed.decode("utf-8")
    except UnicodeDecodeError:
        return mac_text(raw)
    return text if text.isprintable() else mac_text(raw)
