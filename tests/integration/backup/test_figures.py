"""The table figures on a real server: what they tell apart, that COUNT + CHECKSUM TABLE ('tbl:')
reads the snapshot of the transaction it runs in, and that backups recorded with the round-2
('crc:') and round-3 ('row:') forms are still verified by their own function."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from stackwatch.backup.config import Server
from stackwatch.backup.dump import Client
from stackwatch.backup.snapshot import Session, list_tables, table_figures
from tests.conftest import run_stackwatch
from tests.integration.backup.conftest import MariaDB
from tests.integration.backup.test_backup_run import catalog_rows, write_config

pytestmark = pytest.mark.integration


def _client(mariadb: MariaDB) -> Client:
    return Client(Server(socket=mariadb.socket, option_file=str(mariadb.root_option_file)))


@pytest.mark.parametrize("kind", ["tbl", "row"])
def test_figures_tell_rows_apart(mariadb: MariaDB, kind: str) -> None:
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
            (stats,) = table_figures(client.query, tables, kind=kind)
            assert stats.checksum.startswith(f"{kind}:")
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


@pytest.mark.parametrize("kind", ["crc", "row"])
def test_older_figures_are_verified_by_their_own_function(
    tmp_path: Path, mariadb: MariaDB, kind: str
) -> None:
    config = write_config(tmp_path, mariadb, destinations=("local",), databases='["shop"]')
    run = run_stackwatch("backup", "run", "--config", str(config))
    assert run.returncode == 0, run.stdout + run.stderr
    assert {r[0].split(":")[0] for r in catalog_rows(tmp_path, "SELECT checksum FROM tables")} <= {
        "tbl",
        "tbl-nontx",
    }
    # Rewrite the catalog as a round-2/3 run would have recorded it (the data has not changed).
    client = _client(mariadb)
    legacy = table_figures(client.query, list_tables(client.query, ["shop"]), kind=kind)
    assert all(s.checksum.startswith(f"{kind}:") for s in legacy)
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
        wrong = "crc:1:2" if kind == "crc" else "row:12"
        con.execute("UPDATE tables SET checksum = ? WHERE name = 'orders'", (wrong,))
    assert catalog_rows(tmp_path, "SELECT checksum FROM tables WHERE name = 'orders'")
    verify = run_stackwatch("backup", "verify", "--config", str(config))
    assert verify.returncode == 1, verify.stdout + verify.stderr
    assert "shop.orders:" in verify.stdout


def test_checksum_table_reads_the_snapshot(mariadb: MariaDB) -> None:
    """Committed writes after START TRANSACTION WITH CONSISTENT SNAPSHOT do not move the
    'tbl:' figures of an InnoDB table read in that transaction (CHECKSUM TABLE is a consistent
    read and does not end the transaction); a MyISAM table is read as it is, tagged -nontx."""
    mariadb.sql(
        "CREATE DATABASE snap;"
        "CREATE TABLE snap.t (id INT PRIMARY KEY, v VARCHAR(20), n INT) ENGINE=InnoDB;"
        "CREATE TABLE snap.m (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=MyISAM;"
        "INSERT INTO snap.t SELECT seq, CONCAT('v', seq), NULL FROM snap.seq_1_to_500;"
        "INSERT INTO snap.m SELECT seq, CONCAT('v', seq) FROM snap.seq_1_to_50;"
    )
    server = Server(socket=mariadb.socket, option_file=str(mariadb.root_option_file))
    session = Session(server, timeout=60)
    try:
        client = _client(mariadb)
        tables = list_tables(client.query, ["snap"])
        assert [(t.table, t.transactional) for t in tables] == [("m", False), ("t", True)]
        before = {s.table: s for s in table_figures(client.query, tables)}
        assert before["t"].checksum.startswith("tbl:") and before["t"].rows == 500
        assert before["m"].checksum.startswith("tbl-nontx:") and before["m"].rows == 50
        session.query("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        session.query("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        writes = [
            "UPDATE snap.t SET v = 'changed' WHERE id = 7",  # an update in place
            "UPDATE snap.t SET n = 1 WHERE id = 8",  # NULL -> value
            "INSERT INTO snap.t VALUES (1000, 'new', 3)",
            "DELETE FROM snap.t WHERE id = 9",
        ]
        for n, write in enumerate(writes):  # each committed alone, after the snapshot
            mariadb.sql(f"{write}; INSERT INTO snap.m VALUES ({100 + n}, 'x');")
            (now,) = table_figures(session.query, [tables[1]])
            assert (now.rows, now.checksum) == (before["t"].rows, before["t"].checksum), write
        twice = {s.table: s for s in table_figures(session.query, tables)}  # still in it
        assert (twice["t"].rows, twice["t"].checksum) == (500, before["t"].checksum)
        assert twice["m"].rows == 54  # MyISAM: not in any snapshot, hence -nontx
        session.query("COMMIT")
        after = {s.table: s for s in table_figures(client.query, tables)}
        assert after["t"].rows == 500 and after["t"].checksum != before["t"].checksum
        mariadb.sql(
            "UPDATE snap.t SET v = CONCAT('v', id), n = NULL WHERE id IN (7, 8);"
            "DELETE FROM snap.t WHERE id = 1000;"
            "INSERT INTO snap.t VALUES (9, 'v9', NULL);"
        )
        (back,) = table_figures(client.query, [tables[1]])
        assert back.checksum == before["t"].checksum  # the same rows, the same figure
    finally:
        session.close()
        mariadb.sql("DROP DATABASE IF EXISTS snap;")
