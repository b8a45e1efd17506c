"""overlay: iperf3, tracepath and nstat output read; the ratio and fragmentation judged."""

from __future__ import annotations

import contextlib
import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackwatch.core.result import Status
from stackwatch.overlay.check import OverlayOptions, judge
from stackwatch.overlay.measure import (
    MeasureError,
    Measurement,
    Plan,
    parse_iperf3,
    parse_nstat,
    parse_tracepath,
)
from tests.conftest import run_stackwatch

TRACEPATH = """\
 1?: [LOCALHOST]                      pmtu 1450
 1:  198.18.7.2                                            0.071ms reached
 1:  198.18.7.2                                            0.036ms reached
     Resume: pmtu 1450 hops 1 back 1
"""


def test_iperf3_result_and_error() -> None:
    done = {"end": {"sum_received": {"bits_per_second": 9.1e9}, "sum_sent": {}}}
    assert parse_iperf3(json.dumps(done)) == 9.1e9
    with pytest.raises(MeasureError, match="unable to connect"):
        parse_iperf3(json.dumps({"error": "unable to connect to server: Connection refused"}))


@given(
    st.one_of(
        st.text(max_size=200),
        st.sampled_from(
            [
                '{"end": {"sum_received": {"bits_per_second": NaN}}}',
                '{"end": {"sum_received": {"bits_per_second": -5}}}',
                '{"end": []}',
                "[]",
            ]
        ),
    )
)
def test_any_iperf3_output_is_a_number_or_one_error(text: str) -> None:
    with contextlib.suppress(MeasureError):
        value = parse_iperf3(text)
        assert math.isfinite(value) and value >= 0


def test_tracepath_and_nstat() -> None:
    assert parse_tracepath(TRACEPATH) == 1450
    assert parse_tracepath("no reply\n") is None
    assert parse_nstat("#kernel\nIpFragCreates                   12                 0.0\n") == 12
    assert parse_nstat("#kernel\n") is None


def _facts(underlay: float, overlay: float, fragments: int | None = 0) -> Measurement:
    return Measurement(
        Plan("198.18.6.2", "198.18.7.2"), (underlay,) * 3, (overlay,) * 3, 1500, 1450, fragments
    )


@pytest.mark.parametrize(
    ("overlay", "status"), [(9.1e9, Status.OK), (8.0e9, Status.WARNING), (5e9, Status.CRITICAL)]
)
def test_the_ratio_against_thresholds(overlay: float, status: Status) -> None:
    result = judge(_facts(10e9, overlay), OverlayOptions())
    assert result.status is status
    assert f"{overlay / 1e8:.0f}% of the underlay" in result.summary


def test_fragments_warn_with_the_mtu_that_fits() -> None:
    result = judge(_facts(10e9, 9.5e9, fragments=40), OverlayOptions())
    assert result.status is Status.WARNING
    assert "the overlay fragments: 40 IP fragments" in result.summary
    assert result.hint is not None and "MTU to 1450" in result.hint


def test_measure_needs_both_addresses() -> None:
    result = run_stackwatch("overlay", "measure", "--underlay", "198.18.6.2")
    assert result.returncode == 2 and "--overlay" in result.stderr


def test_bad_options_are_usage_errors() -> None:
    result = run_stackwatch(
        "overlay", "measure", "--underlay", "198.18.6.2", "--overlay", "x", "--rounds", "1"
    )
    assert result.returncode == 2 and "not an IP address" in result.stderr
