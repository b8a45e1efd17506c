"""Pure pieces of the dump and verify path: trailer, position, names, SQL quoting, filtering."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackwatch.backup.config import Server
from stackwatch.backup.dump import (
    DumpError,
    connection_args,
    database_file_stem,
    dump_argv,
    has_trailer,
    parse_position,
    select_databases,
    sql_ident,
    sql_string,
    stats_sql,
)
from stackwatch.backup.verify import ProgramFilter

HEAD = """-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)
-- CHANGE MASTER TO MASTER_USE_GTID=slave_pos;
-- CHANGE MASTER TO MASTER_LOG_FILE='binlog.000001', MASTER_LOG_POS=1111;
-- SET GLOBAL gtid_slave_pos='0-1-42';
"""


def test_trailer() -> None:
    assert has_trailer(b"INSERT ...;\n\n-- Dump completed on 2026-11-21 10:32:39\n")
    assert has_trailer(b"x\n-- Dump completed\n")
    assert not has_trailer(b"INSERT INTO t VALUES (1),(2")
    assert not has_trailer(b"-- Dump completed on 2026-11-21 10:32:39\nINSERT INTO t")
    assert not has_trailer(b"")


def test_position() -> None:
    assert parse_position(HEAD) == ("binlog.000001", 1111, "0-1-42")
    assert parse_position("-- no binlog here\n") == (None, None, None)


@given(st.binary(max_size=600))
def test_trailer_never_crashes(data: bytes) -> None:
    assert has_trailer(data) in (True, False)


@given(st.text(max_size=2000))
def test_position_never_crashes(text: str) -> None:
    file, pos, gtid = parse_position(text)
    assert (file is None) == (pos is None)
    assert gtid is None or isinstance(gtid, str)


def test_password_is_never_on_the_command_line() -> None:
    server = Server(host="db.example", port=3307, option_file="/etc/stackwatch/db1.cnf")
    argv = dump_argv(server, "shop", [])
    assert argv[1] == "--defaults-extra-file=/etc/stackwatch/db1.cnf"  # must come first
    assert not any("password" in a for a in argv)
    assert {"--single-transaction", "--routines", "--triggers", "--events"} <= set(argv)
    # The position comes from the control session (snapshot.py), not from each dump.
    assert "--master-data=2" not in argv and argv[-2:] == ["--", "shop"]
    sock = connection_args(Server(socket="/run/mysqld/mysqld.sock"), "mariadb")
    assert sock == ["mariadb", "--protocol=socket", "--socket=/run/mysqld/mysqld.sock"]


def test_select_databases() -> None:
    available = ["information_schema", "mysql", "performance_schema", "shop", "sys", "test"]
    assert select_databases(available, "all", ["test"]) == ["shop"]
    assert select_databases(available, ["shop", "mysql"], []) == ["shop", "mysql"]
    with pytest.raises(DumpError, match="not found on the server: blog"):
        select_databases(available, ["shop", "blog"], [])


@given(st.text(min_size=1, max_size=64))
def test_safe_file_names(name: str) -> None:
    safe = database_file_stem(name)
    assert "/" not in safe and not safe.startswith(".") and safe
    assert all(c.isascii() and (c.isalnum() or c in "_%~-") for c in safe)


def test_distinct_names_stay_distinct() -> None:
    assert database_file_stem("a b") != database_file_stem("a_b")
    assert database_file_stem("shop") == "shop"


def test_sql_quoting() -> None:
    assert sql_ident("we`ird") == "`we``ird`"
    assert sql_string("O'Brien\\") == "'O''Brien\\\\'"
    sql = stats_sql("shop", "t`1")
    assert "FROM `shop`.`t``1`;" in sql and "CHECKSUM TABLE `shop`.`t``1` EXTENDED;" in sql


DUMP = b"""CREATE TABLE `t` (id int);
INSERT INTO `t` VALUES (1);
DELIMITER ;;
/*!50003 CREATE*/ /*!50003 TRIGGER shop.x AFTER INSERT ON shop.t FOR EACH ROW
  INSERT INTO shop.audit VALUES (1) */;;
DELIMITER ;
SELECT 1;
DELIMITER ;;
CREATE PROCEDURE p() SELECT 1 ;;
DELIMITER ;
-- Dump completed on 2026-11-21 10:32:39
"""


@pytest.mark.parametrize("size", [1, 7, 64, 4096])
def test_program_filter_drops_delimiter_blocks_across_chunks(size: int) -> None:
    f = ProgramFilter()
    out = b"".join(f.feed(DUMP[i : i + size]) for i in range(0, len(DUMP), size)) + f.flush()
    assert out == (
        b"CREATE TABLE `t` (id int);\nINSERT INTO `t` VALUES (1);\nSELECT 1;\n"
        b"-- Dump completed on 2026-11-21 10:32:39\n"
    )
    assert f.blocks == 2


@given(st.binary(max_size=3000), st.integers(1, 500))
def test_program_filter_never_crashes_and_keeps_plain_text(data: bytes, size: int) -> None:
    f = ProgramFilter()
    out = b"".join(f.feed(data[i : i + size]) for i in range(0, len(data), size)) + f.flush()
    if b"DELIMITER" not in data:
        assert out == data
    else:
        assert len(out) <= len(data)
