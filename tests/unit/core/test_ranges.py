import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackwatch.core.ranges import Range, RangeError, parse_range


@pytest.mark.parametrize(
    ("text", "ok", "alert"),
    [
        ("10", [0, 5, 10], [-1, 10.5, 11]),
        ("10:", [10, 1e9], [9.99, -5]),
        ("~:10", [-1e9, 10], [10.01]),
        ("10:20", [10, 15, 20], [9, 21]),
        ("@10:20", [9, 21], [10, 15, 20]),
        ("-5:-1", [-3, -5, -1], [0, -6]),
        ("1.5:2.5", [2], [1.4, 2.6]),
        ("@~:0", [0.1], [0, -1]),
    ],
)
def test_nagios_semantics(text: str, ok: list[float], alert: list[float]) -> None:
    r = parse_range(text)
    assert [r.alerts(v) for v in ok] == [False] * len(ok)
    assert [r.alerts(v) for v in alert] == [True] * len(alert)


@pytest.mark.parametrize(
    "text", ["", "abc", "10:5", "1:2:3", "@", "-5", "nan", "inf:", ":x", "10::"]
)
def test_invalid_ranges_are_clear_errors(text: str) -> None:
    with pytest.raises(RangeError, match="invalid range"):
        parse_range(text)


def test_canonical_text() -> None:
    assert str(parse_range("10")) == "10"
    assert str(parse_range("0:10")) == "10"
    assert str(parse_range("10:")) == "10:"
    assert str(parse_range("~:10")) == "~:10"
    assert str(parse_range("@10:20")) == "@10:20"
    assert str(parse_range("1.5")) == "1.5"
    assert str(Range(0, math.inf)) == "0:"


def test_scaled_to_whole_counts() -> None:
    assert str(parse_range("90").scaled(65536 / 100, whole=True)) == "58982"


@given(st.text(max_size=30))
def test_any_text_is_a_range_or_a_clear_error(text: str) -> None:
    try:
        r = parse_range(text)
    except RangeError as exc:
        assert "invalid range" in str(exc)
    else:
        assert r.start <= r.end
        assert parse_range(str(r)) == r


finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False)


@given(finite, finite, st.booleans(), finite)
def test_rendered_range_means_the_same(a: float, b: float, inside: bool, value: float) -> None:
    start, end = sorted((round(a, 3), round(b, 3)))
    r = Range(start, end, inside)
    again = parse_range(str(r))
    assert again.alerts(value) == r.alerts(value)
