"""The size watch: what counts as "much smaller" than the backup before, and how it is said."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from stackwatch.backup.catalog import Catalog
from stackwatch.backup.dump import DumpedFile, TableStats
from stackwatch.backup.sizewatch import Shape, compare_with_previous, shrinkage, warning


def shape(sql: dict[str, int], rows: dict[tuple[str, str], int]) -> Shape:
    return Shape(sql, rows)


BEFORE = shape(
    {"shop": 10_000_000, "blog": 2_000_000, "tiny": 1_000},
    {("shop", "orders"): 50_000, ("shop", "queue"): 3, ("blog", "posts"): 900, ("tiny", "t"): 5},
)


def test_the_same_backup_or_growth_is_silent() -> None:
    assert shrinkage(BEFORE, BEFORE, 0.5) == []
    grown = shape({k: v * 2 for k, v in BEFORE.sql_bytes.items()}, dict(BEFORE.rows))
    assert shrinkage(BEFORE, grown, 0.5) == []


def test_each_kind_of_shrinking_is_named() -> None:
    after = shape(
        {"shop": 9_000_000, "tiny": 10},
        {("shop", "orders"): 10_000, ("shop", "queue"): 0, ("tiny", "t"): 1},
    )
    found = shrinkage(BEFORE, after, 0.5)
    assert "database blog gone" in found
    assert "table shop.queue emptied (3 rows before)" in found
    assert "database shop: rows 50003 -> 10000 (-80%)" in found
    assert "all databases: SQL bytes 12001000 -> 9000010 (-25%)" not in found  # under 50%
    # Small figures are no news in fractions: tiny lost 99% of 1000 bytes and 4 of 5 rows.
    assert not [f for f in found if "tiny" in f]
    assert not [f for f in found if "blog.posts" in f]  # named once, with its database


def test_the_threshold_decides_and_zero_turns_the_watch_off() -> None:
    after = shape(dict(BEFORE.sql_bytes, shop=6_000_000), dict(BEFORE.rows))
    assert shrinkage(BEFORE, after, 0.5) == []
    assert shrinkage(BEFORE, after, 0.3) == [
        "database shop: SQL bytes 10000000 -> 6000000 (-40%)",
        "all databases: SQL bytes 12001000 -> 8001000 (-33%)",
    ]
    gone = shape({}, {})
    assert shrinkage(BEFORE, gone, 0) == []


@given(
    st.dictionaries(st.text(min_size=1, max_size=5), st.integers(0, 10**9), max_size=5),
    st.dictionaries(st.text(min_size=1, max_size=5), st.integers(0, 10**9), max_size=5),
    st.floats(0, 0.99),
)
def test_never_fails_and_names_only_what_shrank(
    before: dict[str, int], after: dict[str, int], threshold: float
) -> None:
    found = shrinkage(Shape(before, {}), Shape(after, {}), threshold)
    for db, size in after.items():
        if db in before and size >= before[db]:
            assert not [f for f in found if f.startswith(f"database {db}:")]


def test_warning_names_the_first_few() -> None:
    text = warning("20260101T000000Z", [f"thing {n}" for n in range(8)], most=3)
    assert text == "smaller than backup 20260101T000000Z: thing 0; thing 1; thing 2; and 5 more"


def test_compared_with_the_good_backup_before_in_catalog_order(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "c.sqlite")

    def add(backup_id: str, started: float, rows: int, ok: bool = True) -> None:
        cat.start(backup_id, "nightly", started)
        files = [DumpedFile("shop.sql.zst", "shop", 10, rows * 100, "a" * 64)]
        cat.record_dump(backup_id, files, [TableStats("shop", "t", rows, "x")], {})
        cat.finish(backup_id, ok, None)

    add("a", 100.0, 1000)
    add("b", 50.0, 900, ok=False)  # a failed run is not compared with; the clock went back
    add("c", 10.0, 100)
    newest = cat.get("c")
    assert newest is not None
    previous, shrunk = compare_with_previous(cat, newest, 0.5)
    assert previous == "a"
    assert "database shop: rows 1000 -> 100 (-90%)" in shrunk
    first = cat.get("a")
    assert first is not None and compare_with_previous(cat, first, 0.5) == (None, [])
    cat.close()
