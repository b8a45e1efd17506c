"""One consistent point in time for every database of a job, the way mysqldump --master-data
takes it, but for several dump processes at once.

A control session takes FLUSH TABLES WITH READ LOCK (writers and commits wait), opens its own
consistent snapshot and reads the binlog/GTID position; then every per-database mariadb-dump is
started (each with --single-transaction) and the lock is released only when each of them has
opened its snapshot. Each dump says so itself: with ``--verbose`` it prints "-- Starting
transaction..." before ``START TRANSACTION WITH CONSISTENT SNAPSHOT`` and its next progress line
only once the server has answered it (one statement after the other). Nothing is read from the
server's process list, where any other connection of the same user could pass for a dump. As no
transaction can commit while the lock is held, all these snapshots and the control session's
see the same data, at the recorded position. The table figures (row count and CHECKSUM
TABLE, tagged ``tbl:``) are computed in the control session's snapshot, so a busy server gives
no false verify mismatch: on InnoDB, CHECKSUM TABLE is a consistent read of the transaction's
snapshot like a SELECT (tests/integration/backup/test_figures.py writes after the snapshot and
sees no figure move), and it hashes the record buffer in C, about half the server CPU of the
SQL row hash of round 3 (``row:``, still verified).

Non-transactional tables (MyISAM, Aria, MEMORY...) cannot be in a snapshot: they are read after
the lock is released and their figures are marked as such (``tbl-nontx:``); verify reports a
difference for them as a note, not a failure.
"""

from __future__ import annotations

import contextlib
import queue
import secrets
import threading
import time
from collections.abc import Callable, Sequence

from stackwatch.backup.config import Server
from stackwatch.backup.dump import (
    Client,
    DumpError,
    ServerError,
    TableStats,
    client_argv,
    parse_row,
    server_error,
    sql_ident,
    sql_string,
)
from stackwatch.core.host import CommandTimeout, Host, HostError, Process
from stackwatch.core.record import dataclass

Rows = list[list[str | None]]
Query = Callable[[str], Rows]
TRANSACTIONAL_ENGINES = frozenset({"innodb", "rocksdb"})
# Figure kinds, by the tag before the value; each is verified by the function that made it.
TABLE_KIND = "tbl"  # COUNT(*) + CHECKSUM TABLE EXTENDED (current)
ROW_KIND = "row"  # COUNT(*) + one CRC32 per length-prefixed row text (round 3)
LEGACY_KIND = "crc"  # COUNT(*) + two sums over per-column CRCs (round 2)
COUNT_KIND = "cnt"  # COUNT(*) alone: physical copies (pages checked by CHECK TABLE on verify)
KINDS = (TABLE_KIND, ROW_KIND, LEGACY_KIND, COUNT_KIND)
CONSISTENT_PREFIX = "row:"
NONTX_PREFIX = "row-nontx:"
LEGACY_PREFIX = "crc:"
LEGACY_NONTX_PREFIX = "crc-nontx:"
TABLE_PREFIX = "tbl:"
TABLE_NONTX_PREFIX = "tbl-nontx:"
_PREFIXES = tuple(f"{k}{nontx}:" for k in KINDS for nontx in ("-nontx", ""))


@dataclass(frozen=True)
class TableInfo:
    database: str
    table: str
    engine: str
    columns: tuple[str, ...]

    @property
    def transactional(self) -> bool:
        return self.engine.lower() in TRANSACTIONAL_ENGINES


def figures_sql(database: str, table: str, columns: Sequence[str], *, legacy: bool = False) -> str:
    """One result row: row count and an order-independent sum of a per-row CRC32 over every
    column. Runs as a plain SELECT, so it reads the snapshot of the transaction it is in,
    unlike CHECKSUM TABLE (whose strength it has: 32 bits per row). Each value goes in as its
    bytes (no collation mix can fail) behind its length, NULL as ``N``: unambiguous, and the row
    text is built once. Needs MariaDB 10.8+ (CRC32C in the ``legacy`` form of round-2 backups:
    two sums over per-column CRCs, about 1.7 times the server CPU)."""
    name = f"{sql_ident(database)}.{sql_ident(table)}"
    if legacy:
        parts = ", ".join(f"IFNULL(CRC32({sql_ident(c)}), 'N')" for c in columns) or "''"
        return (
            "SELECT COUNT(*), COALESCE(SUM(CRC32(r)), 0), COALESCE(SUM(CRC32C(r)), 0) "
            f"FROM (SELECT CONCAT_WS(',', {parts}) AS r FROM {name}) AS stackwatch_rows;"
        )
    fields = [
        f"IFNULL(LENGTH({sql_ident(c)}), 'N'), CAST({sql_ident(c)} AS BINARY)" for c in columns
    ]
    row = f"CONCAT_WS(',', {', '.join(fields)})" if fields else "''"
    return f"SELECT COUNT(*), COALESCE(SUM(CRC32({row})), 0) FROM {name};"


def checksum_kind(checksum: str) -> str | None:
    """The figure kind of a recorded checksum (one of KINDS), None for untagged round-1
    figures (CHECKSUM TABLE read by ``Client.table_stats``)."""
    for kind in KINDS:
        if checksum.startswith((f"{kind}:", f"{kind}-nontx:")):
            return kind
    return None


def checksum_value(checksum: str) -> str:
    """The comparable part of a recorded checksum (without the kind and consistency marker)."""
    for prefix in _PREFIXES:
        if checksum.startswith(prefix):
            return checksum[len(prefix) :]
    return checksum


def is_snapshot_consistent(checksum: str) -> bool:
    return not checksum.startswith(tuple(f"{kind}-nontx:" for kind in KINDS))


def list_tables(query: Query, databases: Sequence[str]) -> list[TableInfo]:
    """Base tables of ``databases`` with engine and columns in order."""
    if not databases:
        return []
    names = ", ".join(sql_string(d) for d in databases)
    tables = query(
        "SELECT TABLE_SCHEMA, TABLE_NAME, IFNULL(ENGINE, '') FROM information_schema.TABLES "
        f"WHERE TABLE_SCHEMA IN ({names}) AND TABLE_TYPE = 'BASE TABLE' "
        "ORDER BY TABLE_SCHEMA, TABLE_NAME"
    )
    columns: dict[tuple[str, str], list[str]] = {}
    for row in query(
        "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS "
        f"WHERE TABLE_SCHEMA IN ({names}) ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION"
    ):
        if len(row) >= 3 and None not in row[:3]:
            columns.setdefault((str(row[0]), str(row[1])), []).append(str(row[2]))
    result = []
    for row in tables:
        if len(row) < 3 or row[0] is None or row[1] is None:
            raise ServerError("table list: unexpected answer from the server")
        db, table = str(row[0]), str(row[1])
        result.append(TableInfo(db, table, str(row[2] or ""), tuple(columns.get((db, table), []))))
    return result


def checksum_sql(database: str, table: str) -> str:
    """Two result rows: (row count) and (db.table, CHECKSUM TABLE). EXTENDED: always read the
    rows (never a MyISAM live checksum, which is not a figure of the data read)."""
    name = f"{sql_ident(database)}.{sql_ident(table)}"
    return f"SELECT COUNT(*) FROM {name};\nCHECKSUM TABLE {name} EXTENDED;"


def table_figures(
    query: Query,
    tables: Sequence[TableInfo],
    *,
    kind: str = TABLE_KIND,
    legacy: bool = False,
) -> list[TableStats]:
    """Row count and checksum of every table, in one request (one snapshot if the session is
    in a transaction with a consistent snapshot). ``kind`` chooses the function (KINDS); the
    figures are tagged with it, ``-nontx`` for tables that cannot be in a snapshot."""
    if legacy:
        kind = LEGACY_KIND
    if kind not in KINDS:
        raise ValueError(f"unknown figure kind {kind!r}")
    if not tables:
        return []
    answer = query(_figures_request(tables, kind))
    per_table = 2 if kind == TABLE_KIND else 1
    if len(answer) != per_table * len(tables):
        raise ServerError("table checksums: unexpected answer from the server")
    stats = []
    for i, info in enumerate(tables):
        where = f"table checksums of {info.database}.{info.table}"
        row = answer[per_table * i]
        values: list[str | None]
        if kind == TABLE_KIND:
            checksum_row = answer[per_table * i + 1]
            values = checksum_row[1:2]
        else:
            values = row[1:3] if kind == LEGACY_KIND else row[1:2]
        wanted = 2 if kind == LEGACY_KIND else 1
        if not row or row[0] is None or len(values) < wanted or None in values:
            raise ServerError(f"{where}: bad answer")
        tag = kind if info.transactional else f"{kind}-nontx"
        try:
            count = int(str(row[0]))
        except ValueError:
            raise ServerError(f"{where}: bad answer") from None
        stats.append(
            TableStats(info.database, info.table, count, f"{tag}:{':'.join(map(str, values))}")
        )
    return stats


def _figures_request(tables: Sequence[TableInfo], kind: str) -> str:
    """The statements of ``table_figures`` for ``kind``."""
    if kind == TABLE_KIND:
        return "\n".join(checksum_sql(t.database, t.table) for t in tables)
    if kind == COUNT_KIND:
        return "\n".join(
            f"SELECT COUNT(*), 0 FROM {sql_ident(t.database)}.{sql_ident(t.table)};" for t in tables
        )
    return "\n".join(
        figures_sql(t.database, t.table, t.columns, legacy=kind == LEGACY_KIND) for t in tables
    )


class Session:
    """One long-lived connection through the ``mariadb`` client (statements on its stdin, a
    marker row after each request): what a lock and a snapshot need, without a driver.
    ``--skip-reconnect``: a silent reconnect would lose the lock and the snapshot."""

    def __init__(self, server: Server, timeout: float, *, host: Host | None = None) -> None:
        self.server = server
        self.timeout = timeout
        self.host = host or Host()
        # No --force: the first error ends the client, so a lost server is seen at once.
        argv = [*client_argv(server), "--unbuffered", "--skip-reconnect"]
        try:
            self.process = self.host.spawn(argv, stdin=True, what="control session")
        except HostError as exc:
            raise ServerError(str(exc)) from None
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        self._token = secrets.token_hex(6)
        self._n = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.rstrip(b"\n"))
        self._lines.put(None)

    def _new_errors(self) -> str:
        return self.process.new_stderr()

    def query(self, sql: str, timeout: float | None = None) -> Rows:
        self._n += 1
        marker = f"stackwatch-end-{self._token}-{self._n}".encode()
        text = sql.strip().rstrip(";") + f";\nSELECT '{marker.decode()}';\n"
        where = self.server.socket or f"{self.server.host}:{self.server.port}"  # for timeouts
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(text.encode())
            self.process.stdin.flush()
        except (BrokenPipeError, ValueError):
            time.sleep(0.05)
            raise server_error(self.server, self._new_errors()) from None
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        rows: Rows = []
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise ServerError(f"server {where}: no answer within {limit:g} s") from None
            if line is None:  # the client ended: wait for its last words on stderr
                with contextlib.suppress(CommandTimeout):
                    self.process.wait(5)
                self._lines.put(None)
                raise server_error(self.server, self._new_errors())
            if line == marker:
                break
            rows.append(parse_row(line.decode("utf-8", errors="replace")))
        errors = self._new_errors()
        if errors.strip():
            raise server_error(self.server, errors)
        return rows

    def close(self) -> None:
        """End the connection (end of input first, so the client quits on its own); the server
        then releases its lock and snapshot."""
        self.process.close_input()
        with contextlib.suppress(CommandTimeout):  # at the deadline it is ended for us
            self.process.wait(5)
        self._reader.join(5)  # the output read to its end before the pipe is closed
        self.process.stop()


@dataclass
class Snapshot:
    """The dumps, started and holding their snapshots, and what the control session read."""

    dumps: dict[str, Process]
    tables: list[TableInfo]
    position: dict[str, object]
    lock_seconds: float
    stalls_are_safe: bool  # dumps may wait for their turn (net_write_timeout raised for them)


def open_snapshot(
    session: Session,
    databases: Sequence[str],
    argv_of: Callable[[str], list[str]],
    *,
    lock_timeout: float,
    snapshot_timeout: float,
    stall_timeout: float,
    wants_stalls: bool,
) -> Snapshot:
    """Lock, open the control snapshot, read the position, start one dump per database, wait
    until each has opened its snapshot, unlock. Raises DumpError with nothing started left
    running when the lock or a snapshot cannot be had in time (the caller closes the session,
    which releases the lock in every case)."""
    cid = session.query("SELECT CONNECTION_ID(), @@log_bin")
    conn_id, log_bin = cid[0][0], cid[0][1] == "1"
    tables = list_tables(session.query, databases)  # before the lock: it can be slow
    session.query(f"SET SESSION lock_wait_timeout = {max(1, int(lock_timeout))}")
    session.query("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    try:
        session.query("FLUSH TABLES WITH READ LOCK", timeout=lock_timeout + 5)
    except ServerError as exc:
        with contextlib.suppress(DumpError):  # a waiting FTWRL blocks every writer: end it
            Client(session.server, timeout=10, host=session.host).query(f"KILL {int(str(conn_id))}")
        raise DumpError(
            f"could not take the global read lock within {lock_timeout:g} s (a long-running "
            f"query or transaction holds tables); nothing was dumped ({exc})"
        ) from None
    locked = time.monotonic()
    session.query("START TRANSACTION WITH CONSISTENT SNAPSHOT")
    position: dict[str, object] = {"binlog": log_bin}
    if log_bin:
        status = session.query("SHOW MASTER STATUS")
        gtid = session.query("SELECT @@GLOBAL.gtid_binlog_pos")
        if status and len(status[0]) >= 2:
            position["file"] = status[0][0]
            position["pos"] = int(str(status[0][1]))
        position["gtid"] = gtid[0][0] if gtid and gtid[0] else None
    stalls_are_safe = False
    old_timeout: str | None = None
    if wants_stalls:
        # A dump waiting for its turn stops reading; the server would drop it after
        # net_write_timeout. Sessions copy the global value when they connect.
        # Another connection: an error (no privilege) must not end the control session.
        other = Client(session.server, timeout=30, host=session.host)
        try:
            old_timeout = str(other.query("SELECT @@GLOBAL.net_write_timeout")[0][0])
            wanted = max(int(old_timeout), min(int(stall_timeout), 31536000))
            other.query(f"SET GLOBAL net_write_timeout = {wanted}")
            stalls_are_safe = True
        except (ServerError, ValueError, IndexError):
            old_timeout = None
    dumps: dict[str, Process] = {}
    try:
        for database in databases:
            dumps[database] = session.host.spawn(argv_of(database), what=f"dump of {database}")
        _wait_for_snapshots(dumps, snapshot_timeout)
    except BaseException:
        for process in dumps.values():
            process.stop()
        raise
    finally:
        if old_timeout is not None:
            with contextlib.suppress(DumpError):
                Client(session.server, timeout=30, host=session.host).query(
                    f"SET GLOBAL net_write_timeout = {int(old_timeout)}"
                )
    session.query("UNLOCK TABLES")
    lock_seconds = time.monotonic() - locked
    position["lock_seconds"] = round(lock_seconds, 3)
    return Snapshot(dumps, tables, position, lock_seconds, stalls_are_safe)


STARTING = "-- Starting transaction..."


def opened_snapshot(progress: str) -> bool:
    """True when mariadb-dump's ``--verbose`` stderr shows its snapshot open: a progress line
    after "-- Starting transaction...", which it prints before its START TRANSACTION WITH
    CONSISTENT SNAPSHOT, its next one only after the server answered it."""
    at = ("\n" + progress).find(f"\n{STARTING}\n")  # at the start of a line
    if at < 0:
        return False
    after = progress[at + len(STARTING) + 1 :]
    return "\n-- " in "\n" + after


def _wait_for_snapshots(dumps: dict[str, Process], limit: float) -> None:
    """Until every dump has opened its snapshot, by its own word (``opened_snapshot``), or its
    program has ended (its exit status then says what happened)."""
    pending = set(dumps)
    deadline = time.monotonic() + limit
    pause = 0.005
    while True:
        pending = {
            d
            for d in pending
            if dumps[d].poll() is None and not opened_snapshot(dumps[d].stderr_text())
        }
        if not pending:
            return
        if time.monotonic() > deadline:
            names = ", ".join(sorted(pending))
            raise DumpError(f"dump of {names} did not open its snapshot within {limit:g} s")
        time.sleep(pause)
        pause = min(pause * 2, 0.1)
