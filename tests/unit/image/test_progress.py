"""The upload's body: every byte passed on, a progress bar only where asked (a terminal)."""

from __future__ import annotations

import io

import pytest

from stackwatch.image.glance import Progress


def _drain(body: Progress) -> bytes:
    out = b""
    while block := body.read(1000):
        out += block
    return out


def test_progress_passes_every_byte_and_draws_to_100(capsys: pytest.CaptureFixture[str]) -> None:
    data = bytes(range(256)) * 40
    body = Progress(io.BytesIO(data), len(data), "img", show=True)
    assert len(body) == len(data)
    assert _drain(body) == data
    drawn = capsys.readouterr().err
    assert drawn.endswith("100%\n") and drawn.count("\r") <= 101


def test_no_bar_when_not_on_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    body = Progress(io.BytesIO(b"x" * 5000), 5000, "img", show=False)
    assert _drain(body) == b"x" * 5000
    assert capsys.readouterr().err == ""
