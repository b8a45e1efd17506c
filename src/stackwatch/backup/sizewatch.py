"""Watching the size: a backup much smaller than the one before it is a warning, naming what
shrank: a database gone, a table gone or emptied, a database's rows or SQL bytes, the SQL bytes
of all databases together.

A dump that ends with its trailer and whose tables checksum fine can still be the wrong backup:
a database dropped by mistake, a table truncated by a bad migration, an application writing
somewhere else. Those look like success everywhere else; only the comparison with the backup
before shows them. Facts come from the catalog (file sizes before compression, rows per table at
dump time), so old backups compare too.

``threshold`` is the fraction a figure may lose before it is named (0.5: half); 0 turns the watch
off. Small figures are left out of the fractions (MIN_ROWS, MIN_BYTES): a database of 10 rows
losing 6 is no news, a table emptied always is.
"""

from __future__ import annotations

from collections.abc import Sequence

from stackwatch.backup.catalog import Backup, Catalog
from stackwatch.backup.dump import DumpedFile, TableStats
from stackwatch.core.record import dataclass

MIN_ROWS = 100
MIN_BYTES = 64 * 1024


@dataclass(frozen=True)
class Shape:
    """What one backup holds: SQL bytes per database, rows per table."""

    sql_bytes: dict[str, int]
    rows: dict[tuple[str, str], int]

    def database_rows(self, database: str) -> int:
        return sum(n for (db, _), n in self.rows.items() if db == database)


def shape(files: Sequence[DumpedFile], stats: Sequence[TableStats]) -> Shape:
    return Shape(
        {f.database: f.raw_size for f in files if f.database is not None},
        {(s.database, s.table): s.rows for s in stats},
    )


def shrinkage(before: Shape, after: Shape, threshold: float) -> list[str]:
    """What shrank from ``before`` to ``after`` beyond ``threshold``, one phrase each."""
    if threshold <= 0:
        return []
    found = [f"database {db} gone" for db in before.sql_bytes if db not in after.sql_bytes]
    found += _tables(before, after)
    for db in (d for d in before.sql_bytes if d in after.sql_bytes):
        rows = _shrunk(before.database_rows(db), after.database_rows(db), threshold, MIN_ROWS)
        if rows:
            found.append(f"database {db}: rows {rows}")
        sql = _shrunk(before.sql_bytes[db], after.sql_bytes[db], threshold, MIN_BYTES)
        if sql:
            found.append(f"database {db}: SQL bytes {sql}")
    total = _shrunk(
        sum(before.sql_bytes.values()), sum(after.sql_bytes.values()), threshold, MIN_BYTES
    )
    if total:
        found.append(f"all databases: SQL bytes {total}")
    return found


def _tables(before: Shape, after: Shape) -> list[str]:
    """Tables gone (in a database still there) or emptied."""
    found = []
    for (db, table), rows in before.rows.items():
        if db not in after.sql_bytes:
            continue  # the database is named once, not each of its tables
        now = after.rows.get((db, table))
        if now is None:
            found.append(f"table {db}.{table} gone")
        elif rows > 0 and now == 0:
            found.append(f"table {db}.{table} emptied ({rows} rows before)")
    return found


def _shrunk(before: int, after: int, threshold: float, floor: int) -> str | None:
    """ "1000 -> 300 (-70%)" when ``after`` lost more than ``threshold`` of ``before``."""
    if before < floor or after >= before * (1 - threshold):
        return None
    return f"{before} -> {after} (-{100 * (before - after) / before:.0f}%)"


def compare_with_previous(
    catalog: Catalog, backup: Backup, threshold: float
) -> tuple[str | None, list[str]]:
    """The good backup of the same job just before ``backup`` (catalog sequence), and what
    shrank since; (None, []) for a job's first backup."""
    if threshold <= 0:
        return None, []
    older = [b for b in catalog.backups(job=backup.job, status="good") if b.seq < backup.seq]
    if not older:
        return None, []
    previous = older[0]
    return previous.id, shrinkage(
        shape(catalog.files(previous.id), catalog.table_stats(previous.id)),
        shape(catalog.files(backup.id), catalog.table_stats(backup.id)),
        threshold,
    )


def warning(previous: str, shrunk: Sequence[str], most: int = 6) -> str:
    """One line: what shrank since ``previous``, the first ``most`` things named."""
    named = "; ".join(shrunk[:most])
    more = f"; and {len(shrunk) - most} more" if len(shrunk) > most else ""
    return f"smaller than backup {previous}: {named}{more}"
