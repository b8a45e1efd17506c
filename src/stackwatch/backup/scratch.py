"""The scratch databases of ``backup verify``: how they are named and marked, how one that a
verify still uses is told from one an interrupted verify left behind, and how those are removed.

A verify restores each dump into a database of its own, ``stackwatch_verify_<token>_<n>``,
created with the comment MARKER, while one session of that verify holds the server's named lock
``stackwatch_verify_<token>`` (GET_LOCK). The server releases the lock when the session ends,
whatever ended it (a verify killed with SIGKILL included). So a database with such a name and
that comment whose lock is free belongs to a verify that is over: the next ``backup verify`` or
``backup run`` on that server drops it. A database with such a name and that comment is never
one to back up (``databases = "all"``), live or not. Schema comments need MariaDB 10.5 or newer.
"""

from __future__ import annotations

import itertools
import re
import secrets

from stackwatch.backup.config import Server
from stackwatch.backup.dump import Client, ServerError, sql_ident, sql_string
from stackwatch.backup.snapshot import Session
from stackwatch.core.host import Host
from stackwatch.core.record import dataclass

PREFIX = "stackwatch_verify_"
MARKER = "stackwatch verify scratch: dropped when the verify ends"
_NAME = re.compile(r"stackwatch_verify_([0-9a-f]{16})_[0-9]{1,9}")
LEASE_IDLE = 31536000  # seconds: the lock session waits idle while the restores run


@dataclass(frozen=True)
class Schema:
    """A database of the server, with its comment."""

    name: str
    comment: str

    @property
    def scratch_token(self) -> str | None:
        """The token of the verify that made it, when it is a scratch database."""
        match = _NAME.fullmatch(self.name)
        return match.group(1) if match and self.comment == MARKER else None


def lock_name(token: str) -> str:
    return f"{PREFIX}{token}"


def list_schemas(client: Client) -> list[Schema]:
    """Every database the server shows this user, with its comment."""
    rows = client.query(
        "SELECT SCHEMA_NAME, SCHEMA_COMMENT FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME"
    )
    return [Schema(str(row[0]), str(row[1] or "")) for row in rows if row and row[0]]


def drop_stale(client: Client, schemas: list[Schema]) -> list[str]:
    """Drop the scratch databases whose verify is over (its lock is free); their names."""
    dropped = []
    for schema in schemas:
        token = schema.scratch_token
        if token is None:
            continue
        free = client.query(f"SELECT IS_FREE_LOCK({sql_string(lock_name(token))})")
        if free and free[0] and free[0][0] == "1":
            client.query(f"DROP DATABASE IF EXISTS {sql_ident(schema.name)}")
            dropped.append(schema.name)
    return dropped


class ScratchLease:
    """The named lock of one verify, held by a session of its own for as long as the verify
    runs, and the names of its scratch databases."""

    def __init__(self, server: Server, host: Host) -> None:
        self.token = secrets.token_hex(8)
        self._numbers = itertools.count(1)
        self.session = Session(server, timeout=60, host=host)
        try:
            self.session.query(f"SET SESSION wait_timeout = {LEASE_IDLE}")
            got = self.session.query(f"SELECT GET_LOCK({sql_string(lock_name(self.token))}, 0)")
            if not got or not got[0] or got[0][0] != "1":
                raise ServerError(f"could not take the lock {lock_name(self.token)}")
        except BaseException:
            self.session.close()
            raise

    def create(self, client: Client) -> str:
        """A new, empty scratch database, marked as such; its name."""
        name = f"{PREFIX}{self.token}_{next(self._numbers)}"
        client.query(f"CREATE DATABASE {sql_ident(name)} COMMENT {sql_string(MARKER)}")
        return name

    def close(self) -> None:
        """End the session: the server releases the lock."""
        self.session.close()
