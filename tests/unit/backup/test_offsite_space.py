"""Free space of ssh destinations: ``df -Pk`` read from whatever the remote host says (a lying
or odd host gives "not measured", never a wrong figure), the figures a run recorded judged by
the forecast, stale ones left out."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from stackwatch.backup.catalog import Catalog
from stackwatch.backup.destinations import df_available
from stackwatch.backup.forecast import MEASURED_MAX_AGE, Estimate, Room, forecast_lines, recent
from stackwatch.backup.forecast import refusal as refused

HEADER = "Filesystem     1024-blocks      Used Available Capacity Mounted on"


def test_df_output_gives_the_available_bytes() -> None:
    line = "/dev/vda 263174212 42431004 207286136 17% /"
    assert df_available(f"{HEADER}\n{line}\n") == 207286136 * 1024
    spaced = "//nas/back ups 1000 10 990 1% /mnt/back ups"
    assert df_available(f"{HEADER}\n{spaced}\n") == 990 * 1024


def test_anything_else_is_not_a_figure() -> None:
    assert df_available("") is None
    assert df_available(HEADER) is None
    assert df_available(f"{HEADER}\nDid you mean: df?\n") is None
    two = "/dev/a 1 1 1 1% /\n/dev/b 2 2 2 2% /b"
    assert df_available(f"{HEADER}\n{two}\n") is None  # which one? neither
    tricky = "fs 9 9 9 9% x 105 5 100 3% /mnt"  # a name that looks like figures
    assert df_available(f"{HEADER}\n{tricky}\n") is None


@given(st.text(max_size=300))
def test_df_available_never_fails_and_is_never_negative(text: str) -> None:
    found = df_available(text)
    assert found is None or found >= 0


@given(
    st.integers(0, 2**60),
    st.text(
        alphabet=st.characters(blacklist_characters="\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"),
        min_size=1,
        max_size=30,
    ).filter(lambda t: t.strip() == t and t),
)
def test_the_available_column_is_read_whatever_the_names(avail: int, name: str) -> None:
    line = f"{name} {avail + 5} 5 {avail} 3% {name}"
    found = df_available(f"{HEADER}\n{line}\n")
    assert found == avail * 1024 or (found is None and "%" in name)  # never another figure


def test_a_run_records_and_the_forecast_judges_recent_figures(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.sqlite")
    try:
        assert catalog.space_measured() == {}
        catalog.record_space("offsite", 500)
        measured = catalog.space_measured()
    finally:
        catalog.close()
    ((at, free),) = measured.values()
    assert free == 500 and recent(measured, at + 60) == measured
    assert recent(measured, at + MEASURED_MAX_AGE + 1) == {}
    estimate = Estimate(1000, "newest 1000 B", True)
    room = Room("offsite", free, 1100, at)
    assert "offsite has 500 B free" in str(refused(estimate, [room]))
    assert "measured over ssh at " in forecast_lines(estimate, [room])[1]
