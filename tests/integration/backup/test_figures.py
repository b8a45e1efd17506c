"""The table figures on a real server: what they tell apart, and that backups recorded with the
round-2 form ('crc:') are still verified by their own function."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from stackwatch.backup.config import Server
from stackwatch.backup.dump import Client
from stackwatch.backup.snapshot import list_tables, table_figures
from tests.conftest import run_stackwatch
from tests.integration.backup.conftest import MariaDB
from tests.integration.backup.test_backup_run import catalog_rows, write_config

pytestmark = pytest.mark.integration


def _client(mariadb: MariaDB) -> Client:
    return Client(Server(socket=mariadb.socket, option_file=str(mariadb.root_option_file)))


def test_figures_tell_rows_apart(mariadb: MariaDB) -> None:
    mariadb.sql(
        "CREATE DATABASE fig;"
        "CREATE TABLE fig.t (a VARCHAR(10) COLLATE utf8mb4_general_ci,"
        " b VARCHAR(10) COLLATE utf8mb4_unicode_ci, c VARCHAR(10) CHARACTER SET latin1,"
        " d BLOB) ENGINE=InnoDB;"
    )
    try:
        client = _client(mariadb)
        tables = list_tables(client.query, ["fig"])

        def figure(values: str) -> tuple[int, str]:
            mariadb.sql(f"DELETE FROM fig.t; INSERT INTO fig.t VALUES {values};")
            (stats,) = table_figures(client.query, tables)
            assert stats.checksum.startswith("row:")
            return stats.rows, stats.checksum

        rows = [
            "('a,b', 'c', 'é', 0x00)",  # a separator inside a value ...
            "('a', 'b,c', 'é', 0x00)",  # ... does not shift it to the next column
            "('a', NULL, 'é', 0x00)",  # NULL ...
            "('a', '', 'é', 0x00)",  # ... is not an empty string
            "('a', 'N', 'é', 0x00)",  # ... nor the letter N
            "('ä', 'ö', 'é', 0x00FF)",  # mixed collations and bytes: no error
        ]
        seen = [figure(r) for r in rows]
        assert len(set(seen)) == len(rows), seen
        assert figure(rows[5]) == seen[5]  # the same data, the same figures
        assert figure(f"{rows[0]}, {rows[1]}") == figure(f"{rows[1]}, {rows[0]}")  # no order
    finally:
        mariadb.sql("DROP DATABASE IF EXISTS fig;")


def test_round2_figures_are_verified_by_their_own_function(
    tmp_path: Path, mariadb: MariaDB
) -> None:
    config = write_config(tmp_path, mariadb, destinations=("local",), databases='["shop"]')
    run = run_stackwatch("backup", "run", "--config", str(config))
    assert run.returncode == 0, run.stdout + run.stderr
    # Rewrite the catalog as a round-2 run would have recorded it (the data has not changed).
    client = _client(mariadb)
    legacy = table_figures(client.query, list_tables(client.query, ["shop"]), legacy=True)
    assert all(s.checksum.startswith("crc:") for s in legacy)
    with sqlite3.connect(tmp_path / "catalog.sqlite") as con:
        for s in legacy:
            con.execute(
                "UPDATE tables SET checksum = ? WHERE database = ? AND name = ?",
                (s.checksum, s.database, s.table),
            )
    verify = run_stackwatch("backup", "verify", "--config", str(config))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "database shop: 3 tables restored, rows and checksums match" in verify.stdout
    # A wrong legacy figure is still caught.
    with sqlite3.connect(tmp_path / "catalog.sqlite") as con:
        con.execute("UPDATE tables SET checksum = 'crc:1:2' WHERE name = 'orders'")
    assert catalog_rows(tmp_path, "SELECT checksum FROM tables WHERE name = 'orders'")
    verify = run_stackwatch("backup", "verify", "--config", str(config))
    assert verify.returncode == 1, verify.stdout + verify.stderr
    assert "shop.orders:" in verify.stdout
