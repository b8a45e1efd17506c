"""The sysctl.d file that caps the window scale Linux offers, by capping the receive buffers.

Linux picks the shift it offers in its SYN from the largest receive buffer a socket could get,
max(tcp_rmem[2], net.core.rmem_max): the smallest shift that makes it fit in 16 bits. Capping both
at 65535 << N keeps the shift at N or below; tcp_wmem is capped alike so send buffers match.
"""

from __future__ import annotations

from stackwatch.core.record import dataclass

MAX_SCALE = 14
MIN_BUFFER = 4096
DEFAULT_RMEM = 131072  # Linux's default tcp_rmem[1]
DEFAULT_WMEM = 16384  # Linux's default tcp_wmem[1]


class ProfileError(ValueError):
    """A scale the kernel cannot offer."""


@dataclass(frozen=True)
class Profile:
    max_scale: int
    largest: int  # bytes: the cap of every buffer and so of every window

    def sysctl(self) -> str:
        largest = self.largest
        rmem = f"{MIN_BUFFER} {min(DEFAULT_RMEM, largest)} {largest}"
        wmem = f"{MIN_BUFFER} {min(DEFAULT_WMEM, largest)} {largest}"
        return (
            f"# Written by stackwatch tcp profile --max-scale {self.max_scale}.\n"
            f"# Caps TCP buffers at {largest} bytes so that this host offers window scale "
            f"{self.max_scale} at most:\n"
            "# a middlebox that strips the option then shrinks windows by "
            f"{1 << self.max_scale}x at worst.\n"
            f"# Cost: at most {largest} bytes in flight per connection and round trip.\n"
            f"net.ipv4.tcp_rmem = {rmem}\n"
            f"net.ipv4.tcp_wmem = {wmem}\n"
            f"net.core.rmem_max = {largest}\n"
            f"net.core.wmem_max = {largest}\n"
        )


def profile(max_scale: int) -> Profile:
    if not 0 <= max_scale <= MAX_SCALE:
        raise ProfileError(f"--max-scale must be between 0 and {MAX_SCALE}, got {max_scale}")
    return Profile(max_scale, 65535 << max_scale)
