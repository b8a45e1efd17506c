"""tcp profile: the buffers that keep Linux's window scale at N or below."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackwatch.tcp.profile import ProfileError, profile
from tests.conftest import run_stackwatch


def _offered_scale(space: int) -> int:
    """Linux's choice (tcp_select_initial_window): ilog2(space) - 15, clamped to 0..14."""
    return min(max(space.bit_length() - 1 - 15, 0), 14)


@pytest.mark.parametrize("scale", range(15))
def test_the_cap_keeps_the_offered_scale_at_most_n(scale: int) -> None:
    chosen = profile(scale)
    assert _offered_scale(chosen.largest) == scale
    assert f"net.ipv4.tcp_rmem = 4096 {min(131072, chosen.largest)} {chosen.largest}\n" in (
        chosen.sysctl()
    )


def test_out_of_range_is_refused() -> None:
    with pytest.raises(ProfileError):
        profile(15)
    result = run_stackwatch("tcp", "profile", "--max-scale", "-1")
    assert result.returncode == 2 and "between 0 and 14" in result.stderr


def test_write_puts_the_sysctl_file_in_place(tmp_path: Path) -> None:
    target = tmp_path / "60-stackwatch-tcp.conf"
    result = run_stackwatch("tcp", "profile", "--max-scale", "2", "--write", str(target))
    assert result.returncode == 0, result.stderr
    text = target.read_text()
    assert "net.core.rmem_max = 262140\n" in text
    assert "net.ipv4.tcp_wmem = 4096 16384 262140\n" in text
