"""Talking to the server and dumping one database into one compressed, checksummed file.

A dump is good only when mariadb-dump exited 0, every stage after it (compression, writing,
fsync) succeeded, and the text ends with the completion trailer ("-- Dump completed"). The
password stays in the option file (``--defaults-extra-file``): never on a command line.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import subprocess
import tempfile
import threading
import typing
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from stackwatch.backup.config import SYSTEM_DATABASES, Server
from stackwatch.core.files import fsync_directory

CHUNK = 1 << 20
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

    def __init__(self, server: Server, timeout: float = 600.0) -> None:
        self.server = server
        self.timeout = timeout

    def query(self, sql: str, database: str | None = None) -> list[list[str | None]]:
        argv = client_argv(self.server)
        if database:
            argv.append(f"--database={database}")
        try:
            done = subprocess.run(
                argv,
                input=sql,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=self.timeout,
                check=False,
            )
        except FileNotFoundError:
            raise ServerError(f"{self.server.client_program}: command not found") from None
        except subprocess.TimeoutExpired:
            raise ServerError(f"query did not finish within {self.timeout:g} s") from None
        if done.returncode != 0:
            raise server_error(self.server, done.stderr)
        return [parse_row(line) for line in done.stdout.splitlines()]

    def databases(self) -> list[str]:
        return [str(row[0]) for row in self.query("SHOW DATABASES") if row and row[0]]

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


class _Sink(Protocol):
    def compress(self, data: bytes) -> bytes: ...
    def flush(self) -> bytes: ...


class _Plain:
    def compress(self, data: bytes) -> bytes:
        return data

    def flush(self) -> bytes:
        return b""


def make_compressor(kind: str, level: int, threads: int) -> _Sink:
    if kind == "zstd":
        import zstandard

        workers = threads if threads > 0 else (os.cpu_count() or 1)
        cctx = zstandard.ZstdCompressor(level=level, threads=workers if workers > 1 else 0)
        return cctx.compressobj()
    if kind == "gzip":
        return zlib.compressobj(min(level, 9), zlib.DEFLATED, 31)
    return _Plain()


def open_decompressed(path: Path) -> bytes:
    """The SQL text of a dump file, whatever its compression (by extension)."""
    data = path.read_bytes()
    if path.name.endswith(".zst"):
        import zstandard

        with zstandard.ZstdDecompressor().stream_reader(data) as reader:
            return bytes(reader.read())
    if path.name.endswith(".gz"):
        return zlib.decompress(data, 47)
    return data


@dataclass
class Started:
    """A program started with its output on a pipe, not yet read (see ``drain_to_file``)."""

    argv: list[str]
    proc: subprocess.Popen[bytes]
    stderr: typing.IO[bytes]


def spawn(argv: Sequence[str]) -> Started:
    """Start ``argv`` with stdout on a pipe and stderr in a temporary file."""
    stderr_file = tempfile.TemporaryFile()  # noqa: SIM115 (closed by drain_to_file or stop)
    try:
        proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=stderr_file)
    except FileNotFoundError:
        stderr_file.close()
        raise DumpError(f"{argv[0]}: command not found") from None
    return Started(list(argv), proc, stderr_file)


def stop(started: Started) -> None:
    """Kill a started program that will not be drained, and release what it holds."""
    if started.proc.poll() is None:
        started.proc.kill()
    with contextlib.suppress(Exception):
        started.proc.wait(timeout=10)
    if started.proc.stdout is not None:
        started.proc.stdout.close()
    started.stderr.close()


def stream_to_file(
    argv: Sequence[str],
    directory: Path,
    name: str,
    *,
    compression: str,
    level: int,
    threads: int,
    timeout: float,
    require_trailer: bool = True,
    what: str = "dump",
) -> tuple[int, int, str, bytes]:
    """Run ``argv`` and compress its output into ``directory/name`` (see ``drain_to_file``)."""
    return drain_to_file(
        spawn(argv),
        directory,
        name,
        compression=compression,
        level=level,
        threads=threads,
        timeout=timeout,
        require_trailer=require_trailer,
        what=what,
    )


def drain_to_file(
    started: Started,
    directory: Path,
    name: str,
    *,
    compression: str,
    level: int,
    threads: int,
    timeout: float,
    require_trailer: bool = True,
    what: str = "dump",
) -> tuple[int, int, str, bytes]:
    """Compress the output of a started program into ``directory/name`` (temporary name, fsync,
    rename, mode 0600). Returns (size, raw size, sha256, head). Nothing is left behind on
    failure, and the program is stopped whatever happens."""
    proc, stderr_file = started.proc, started.stderr
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".partial", dir=directory)
    except OSError:
        stop(started)
        raise
    os.fchmod(fd, 0o600)
    tmp = Path(tmp_name)
    killed = threading.Event()

    def kill() -> None:
        killed.set()
        proc.kill()

    timer = threading.Timer(timeout, kill)
    timer.start()
    sink = make_compressor(compression, level, threads)
    digest = hashlib.sha256()
    size = raw = 0
    head = b""
    tail = b""
    ok = False
    try:
        assert proc.stdout is not None
        with os.fdopen(fd, "wb", buffering=0) as out:

            def write(block: bytes) -> None:
                nonlocal size
                if block:
                    view = memoryview(block)
                    while view:
                        written = out.write(view)
                        view = view[written or 0 :]
                    digest.update(block)
                    size += len(block)

            try:
                while True:
                    chunk = proc.stdout.read(CHUNK)
                    if not chunk:
                        break
                    raw += len(chunk)
                    if len(head) < 65536:
                        head += chunk[: 65536 - len(head)]
                    tail = (tail + chunk)[-512:]
                    write(sink.compress(chunk))
                write(sink.flush())
                os.fsync(out.fileno())
            except OSError as exc:
                proc.kill()
                raise DumpError(f"writing {name}: {exc.strerror or exc}") from None
        returncode = proc.wait()
        stderr_file.seek(0)
        stderr = stderr_file.read().decode(errors="replace")
        if killed.is_set():
            raise DumpError(f"{what} did not finish within {timeout:g} s")
        if returncode != 0:
            raise DumpError(f"{what} exited with status {returncode}: {_error_line(stderr)}")
        if require_trailer and not has_trailer(tail):
            raise DumpError(f"{what} ended without its completion trailer (cut short)")
        os.replace(tmp, directory / name)
        fsync_directory(directory)
        ok = True
        return size, raw, digest.hexdigest(), head
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(Exception):
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
        stderr_file.close()
        if not ok:
            with contextlib.suppress(OSError):
                tmp.unlink()


def dump_argv(server: Server, database: str, extra: Sequence[str]) -> list[str]:
    """One database, in its own --single-transaction snapshot. No --master-data: the binlog
    position is read once by the control session (see snapshot.py), under the read lock that
    all the dumps' snapshots are opened under."""
    argv = connection_args(server, server.dump_program)
    argv += [
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


def dump_file_name(database: str, compression: str) -> str:
    return f"{safe_file_name(database)}.sql{EXTENSIONS[compression]}"


def safe_file_name(database: str) -> str:
    """A file name for any database name (they may hold characters a path should not)."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "_", database)
    if cleaned != database or cleaned.startswith("."):
        cleaned = f"{cleaned.lstrip('.')}-{hashlib.sha256(database.encode()).hexdigest()[:8]}"
    return cleaned
