"""Talking to the server and dumping one database into one compressed, checksummed file.

A dump is good only when mariadb-dump exited 0, every stage after it (compression, writing,
fsync) succeeded, and the text ends with the completion trailer ("-- Dump completed"). The
password stays in the option file (``--defaults-extra-file``): never on a command line.
"""

from __future__ import annotations

import hashlib
import os
import re
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from stackwatch.backup.config import SYSTEM_DATABASES, Job, Server
from stackwatch.core.host import CommandFailed, Drained, Host, HostError, Process
from stackwatch.core.record import dataclass

if TYPE_CHECKING:
    from stackwatch.core.host import Encoder

TRAILER = re.compile(rb"\n-- Dump completed(?: on [0-9: -]+)?\s*$")
_BINLOG_POS = re.compile(
    r"^-- CHANGE MASTER TO MASTER_LOG_FILE='([^']{1,255})', MASTER_LOG_POS=(\d{1,20});", re.M
)
_GTID_POS = re.compile(r"^-- SET GLOBAL gtid_slave_pos='([0-9,-]{0,4000})';", re.M)
EXTENSIONS = {"zstd": ".zst", "gzip": ".gz", "none": ""}


class DumpError(Exception):
    """A dump that cannot be trusted; the message says why, in an operator's words."""


class ServerError(DumpError):
    """The server refused or could not be reached."""


@dataclass(frozen=True)
class DumpedFile:
    name: str  # file name inside the backup directory
    database: str | None  # None for the users/grants file and the file archive
    size: int  # bytes on disk (compressed)
    raw_size: int  # bytes of SQL before compression
    sha256: str
    binlog_file: str | None = None
    binlog_pos: int | None = None
    gtid: str | None = None


@dataclass(frozen=True)
class TableStats:
    database: str
    table: str
    rows: int
    checksum: str


def has_trailer(tail: bytes) -> bool:
    """True when the last bytes of a dump hold mariadb-dump's completion trailer."""
    return TRAILER.search(tail) is not None


def parse_position(head: str) -> tuple[str | None, int | None, str | None]:
    """The binlog file, position and GTID that mariadb-dump --master-data=2 --gtid wrote as
    comments; Nones where absent (binary log disabled). Input is untrusted text."""
    binlog = _BINLOG_POS.search(head)
    gtid = _GTID_POS.search(head)
    return (
        binlog.group(1) if binlog else None,
        int(binlog.group(2)) if binlog else None,
        gtid.group(1) if gtid else None,
    )


def connection_args(server: Server, program: str) -> list[str]:
    """argv for a client program: the option file first (a MySQL rule), then where to connect."""
    argv = [program]
    if server.option_file:
        argv.append(f"--defaults-extra-file={server.option_file}")
    if server.socket:
        argv += ["--protocol=socket", f"--socket={server.socket}"]
    else:
        argv += ["--protocol=tcp", f"--host={server.host}", f"--port={server.port}"]
    return argv


def _error_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def client_argv(server: Server) -> list[str]:
    """The ``mariadb`` client speaking tab-separated rows without a header."""
    return [*connection_args(server, server.client_program), "--batch", "-N"]


def server_error(server: Server, stderr: str) -> ServerError:
    """The client's last error line, with the server it came from."""
    where = server.socket or f"{server.host}:{server.port}"
    return ServerError(f"server {where}: {_error_line(stderr)}")


def parse_row(line: str) -> list[str | None]:
    """One row of ``--batch`` output: tab-separated, backslash-escaped, NULL as ``NULL``."""
    return [None if cell == "NULL" else _unescape(cell) for cell in line.split("\t")]


class Client:
    """SQL queries through the ``mariadb`` command-line client (no driver needed)."""

    def __init__(self, server: Server, timeout: float = 600.0, *, host: Host | None = None) -> None:
        self.server = server
        self.timeout = timeout
        self.host = host or Host()

    def query(self, sql: str, database: str | None = None) -> list[list[str | None]]:
        argv = client_argv(self.server)
        if database:
            argv.append(f"--database={database}")
        try:
            done = self.host.run(
                argv, input_text=sql, timeout=self.timeout, check=False, what="query"
            )
        except HostError as exc:  # not found, no answer in time: the server is not reached
            raise ServerError(str(exc)) from None
        if done.returncode != 0:
            raise server_error(self.server, done.stderr)
        return [parse_row(line) for line in done.stdout.splitlines()]

    def binlog_enabled(self) -> bool:
        rows = self.query("SELECT @@log_bin")
        return bool(rows) and rows[0][0] == "1"

    def table_stats(self, database: str) -> list[TableStats]:
        """Row count and CHECKSUM TABLE of every base table, read in one consistent snapshot
        (InnoDB). The same query on a restored copy must give the same figures."""
        rows = self.query(
            "SELECT TABLE_NAME FROM information_schema.TABLES "
            f"WHERE TABLE_SCHEMA = {sql_string(database)} AND TABLE_TYPE = 'BASE TABLE' "
            "ORDER BY TABLE_NAME"
        )
        tables = [str(row[0]) for row in rows if row and row[0] is not None]
        if not tables:
            return []
        statements = ["SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ;"]
        statements.append("START TRANSACTION WITH CONSISTENT SNAPSHOT;")
        for table in tables:
            statements.append(stats_sql(database, table))
        statements.append("COMMIT;")
        result = self.query("\n".join(statements))
        if len(result) != 2 * len(tables):
            raise ServerError(f"table checksums of {database}: unexpected answer from the server")
        stats = []
        for i, table in enumerate(tables):
            count, checksum = result[2 * i], result[2 * i + 1]
            if len(count) < 2 or len(checksum) < 2:
                raise ServerError(f"table checksums of {database}.{table}: unexpected answer")
            stats.append(TableStats(database, table, int(count[1] or 0), str(checksum[1])))
        return stats


def _unescape(cell: str) -> str:
    if "\\" not in cell:
        return cell
    return re.sub(
        r"\\(.)", lambda m: {"t": "\t", "n": "\n", "0": "\0", "\\": "\\"}.get(m[1], m[1]), cell
    )


def sql_ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def sql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def stats_sql(database: str, table: str) -> str:
    """Two result rows: (table, row count) and (db.table, CHECKSUM TABLE). In a transaction
    with a consistent snapshot both read the snapshot; CHECKSUM TABLE runs inside the server,
    several times faster than any checksum expression over the rows."""
    name = f"{sql_ident(database)}.{sql_ident(table)}"
    return f"SELECT {sql_string(table)}, COUNT(*) FROM {name};\nCHECKSUM TABLE {name} EXTENDED;"


def select_databases(
    available: Sequence[str], wanted: str | Sequence[str], exclude: Sequence[str]
) -> list[str]:
    """The databases of a job: "all" (minus system schemas) or the list, minus exclusions.
    A listed database the server lacks is an error: a job must not silently back up less."""
    if isinstance(wanted, str):
        chosen = [d for d in available if d not in SYSTEM_DATABASES]
    else:
        missing = [d for d in wanted if d not in available]
        if missing:
            raise DumpError(f"database not found on the server: {', '.join(missing)}")
        chosen = list(dict.fromkeys(wanted))
    return [d for d in chosen if d not in set(exclude)]


DEFAULT_LEVEL = 3
PHYSICAL_LEVEL = 1  # method = "physical" (Compression.of)


@dataclass(frozen=True)
class Compression:
    kind: str  # zstd, gzip, none
    level: int
    threads: int  # zstd workers; 0 = one per CPU

    @classmethod
    def of(cls, job: Job) -> Compression:
        """The job's compression. A physical copy holds every page as it is (indexes, free
        space: 655 MB where the dump of the same data is 412 MB in bench/backup_methods.py)
        and is chosen for speed: level 1 by default (zstd: about 2/3 of level 3's CPU, the
        file a fifth larger)."""
        level = job.compression_level
        if level is None:
            level = PHYSICAL_LEVEL if job.method == "physical" else DEFAULT_LEVEL
        return cls(job.compression, level, job.threads)

    def encoder(self) -> Encoder | None:
        """A streaming compressor (None: the bytes as they are)."""
        if self.kind == "zstd":
            import zstandard

            workers = self.threads if self.threads > 0 else (os.cpu_count() or 1)
            cctx = zstandard.ZstdCompressor(level=self.level, threads=workers if workers > 1 else 0)
            return cctx.compressobj()
        if self.kind == "gzip":
            return zlib.compressobj(min(self.level, 9), zlib.DEFLATED, 31)
        return None


def write_dump(
    host: Host,
    process: Process,
    path: Path,
    compression: Compression,
    timeout: float,
    *,
    require_trailer: bool = True,
) -> Drained:
    """Compress what a started dump program prints into ``path`` (Host.drain_to_file: temporary
    name, fsync, rename, mode 0600; nothing left behind on failure, the program stopped whatever
    happens). Good only when the program exited 0 and, with ``require_trailer``, its text ends
    with the completion trailer. Raises HostError (CommandFailed, CommandTimeout, writing) or
    DumpError (cut short)."""

    def complete(drained: Drained) -> None:
        if require_trailer and not has_trailer(drained.tail):
            raise DumpError(f"{process.what} ended without its completion trailer (cut short)")

    try:
        return host.drain_to_file(
            process, path, timeout=timeout, encoder=compression.encoder(), accept=complete
        )
    except CommandFailed as exc:  # its error line, not the last progress line (--verbose)
        stderr = without_progress(exc.stderr)
        raise CommandFailed(exc.argv, exc.returncode, stderr, process.what) from None


def without_progress(stderr: str) -> str:
    """mariadb-dump's stderr without its ``--verbose`` progress lines ("-- Retrieving rows...")."""
    return "\n".join(line for line in stderr.splitlines() if not line.startswith("-- "))


def stream_to_file(
    host: Host,
    argv: Sequence[str],
    path: Path,
    compression: Compression,
    timeout: float,
    *,
    what: str,
    require_trailer: bool = True,
) -> Drained:
    """Run ``argv`` and compress its output into ``path`` (see ``write_dump``)."""
    process = host.spawn(argv, what=what)
    return write_dump(host, process, path, compression, timeout, require_trailer=require_trailer)


def dump_argv(server: Server, database: str, extra: Sequence[str]) -> list[str]:
    """One database, in its own --single-transaction snapshot. No --master-data: the binlog
    position is read once by the control session (see snapshot.py), under the read lock that
    all the dumps' snapshots are opened under. ``--verbose``: its progress on stderr tells when
    its own snapshot is open (``snapshot.opened_snapshot``)."""
    argv = connection_args(server, server.dump_program)
    argv += [
        "--verbose",
        "--single-transaction",
        "--quick",
        "--routines",
        "--triggers",
        "--events",
        "--hex-blob",
        "--default-character-set=utf8mb4",
    ]
    argv += list(extra)
    argv += ["--", database]
    return argv


def users_argv(server: Server) -> list[str]:
    return [
        *connection_args(server, server.dump_program),
        "--system=users",
        "--insert-ignore",
        "--no-data",
        "--no-create-info",
        "--no-create-db",
        "--skip-triggers",
        "--databases",
        "mysql",
    ]


# The files stackwatch writes itself beside the dumps. Each starts with "_" or holds a "."
# before its last suffix, which no escaped database name does (see ``database_file_stem``).
USERS_STEM = "_users"
FILES_STEM = "_files"
MANIFEST = "manifest.json"
MAX_STEM = 200  # bytes: with ".sql.zst", far below the 255 a file name may have
_PLAIN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def dump_file_name(database: str, compression: str) -> str:
    return f"{database_file_stem(database)}.sql{EXTENSIONS[compression]}"


def database_file_stem(database: str) -> str:
    """The file name (before ``.sql``) of any database name, one to one: ASCII letters, digits,
    "_" and "-" stay, every other character becomes "%XX" per UTF-8 byte ("." and "%" too, and a
    leading "_" or "-"). So a stem holds no "." or "/", never starts with "_" (stackwatch's own
    files do) or "." (hidden and temporary files do), and two names never share a file. A stem
    longer than MAX_STEM is cut and ends in "~" and 32 hex digits of the name's SHA-256 ("~" is
    escaped everywhere else)."""
    stem = "".join(
        ch if ch in _PLAIN and not (i == 0 and ch in "_-") else _escaped(ch)
        for i, ch in enumerate(database)
    )
    if stem and len(stem) <= MAX_STEM:
        return stem
    digest = hashlib.sha256(database.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{stem[: MAX_STEM - 33]}~{digest}"


def _escaped(ch: str) -> str:
    return "".join(f"%{byte:02X}" for byte in ch.encode("utf-8", "surrogatepass"))
