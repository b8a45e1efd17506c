"""A small OVSDB client (RFC 7047) over the ``ovs`` package's JSON-RPC streams.

stackwatch reads a few tables and writes a layout in one transaction, so it speaks the protocol
directly (``get_schema``, ``transact``) with a deadline on every step instead of replicating the
whole database with the IDL. The schema comes from the server it talks to, so the client adapts to
the Open vSwitch version actually running (a column a server lacks is simply not asked for).

``ovs`` is imported inside ``connect``: nothing on the path of other commands pays for it.
"""

from __future__ import annotations

import errno
import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from stackwatch.core.host import Host, HostError
from stackwatch.ovs.settings import DEFAULT_DB, DEFAULT_TIMEOUT, db_problem

DATABASE = "Open_vSwitch"
_DECODER = json.JSONDecoder()


class OvsdbError(HostError):
    """OVSDB unreachable, too slow, or refusing a request."""


class OvsdbTransactionError(OvsdbError):
    """The server refused a transaction; nothing of it was applied."""


@dataclass(frozen=True)
class _Reply:
    """The result of a request (which may itself be None)."""

    result: Any


@dataclass(frozen=True)
class Uuid:
    """An OVSDB row reference."""

    value: str


def to_python(datum: Any) -> Any:
    """An OVSDB JSON datum as Python: sets as lists, maps as dicts, uuids as Uuid."""
    if isinstance(datum, list) and len(datum) == 2 and isinstance(datum[0], str):
        kind, payload = datum
        if kind == "set":
            return [to_python(item) for item in payload]
        if kind == "map":
            return {to_python(k): to_python(v) for k, v in payload}
        if kind in ("uuid", "named-uuid"):
            return Uuid(payload)
    return datum


def as_set(datum: Any) -> list[Any]:
    """A column of type set as a list (OVSDB sends a one-element set as the bare value)."""
    value = to_python(datum)
    return value if isinstance(value, list) else [value]


def as_optional(datum: Any) -> Any:
    """A column with min 0 max 1: the value or None."""
    items = as_set(datum)
    return items[0] if items else None


def ovs_set(values: Iterable[Any]) -> list[Any]:
    return ["set", list(values)]


def ovs_map(values: Mapping[str, str]) -> list[Any]:
    return ["map", [[k, v] for k, v in sorted(values.items())]]


def ref(uuid: str) -> list[str]:
    return ["uuid", uuid]


def named(name: str) -> list[str]:
    return ["named-uuid", name]


def _describe_target(target: str) -> str:
    if target.startswith("unix:"):
        return target[5:]
    return target


class OvsdbClient:
    """One connection to an OVSDB server; use as a context manager."""

    def __init__(self, target: str = DEFAULT_DB, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.target = target
        self.timeout = timeout
        self._conn: Any = None
        self._schema: dict[str, Any] | None = None

    # connection ---------------------------------------------------------------------------------

    def connect(self) -> OvsdbClient:
        import ovs.jsonrpc
        import ovs.stream

        problem = db_problem(self.target)
        if problem:
            raise OvsdbError(problem)
        if self.target.startswith("unix:"):
            path = os.path.abspath(self.target[5:])
            if not Host().exists(path):
                raise OvsdbError(
                    f"OVSDB not reachable: {self.target[5:]} does not exist (is ovsdb-server up?)"
                )
        error, stream = ovs.stream.Stream.open_block(
            ovs.stream.Stream.open(self.target), int(self.timeout * 1000)
        )
        if error:
            reason = "no answer in time" if error == errno.ETIMEDOUT else os.strerror(error)
            raise OvsdbError(f"OVSDB not reachable at {_describe_target(self.target)}: {reason}")
        self._conn = ovs.jsonrpc.Connection(stream)
        return self

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> OvsdbClient:
        return self.connect() if self._conn is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # requests -----------------------------------------------------------------------------------

    def call(self, method: str, params: list[Any]) -> Any:
        """Send one request and wait for its reply, at most ``timeout`` seconds."""
        import ovs.jsonrpc

        if self._conn is None:
            self.connect()
        conn = self._conn
        request = ovs.jsonrpc.Message.create_request(method, params)
        deadline = time.monotonic() + self.timeout
        error = conn.send_block(request)
        pending = ""
        while not error:
            status, data = conn.stream.recv(1 << 16)
            if status == errno.EAGAIN:
                self._wait_for_data(method, deadline)
                continue
            if status or not data:
                error = status or -1
                break
            pending += data.decode("utf-8", errors="replace")
            reply, pending = self._take_reply(pending, request.id, method)
            if reply is not None:
                return reply.result
        reason = "connection closed" if error in (-1, "EOF") else _strerror(error)
        raise OvsdbError(f"OVSDB at {_describe_target(self.target)}: {reason}")

    def _wait_for_data(self, method: str, deadline: float) -> None:
        """Block until the stream can be read, or fail once ``deadline`` has passed."""
        import ovs.poller

        left = deadline - time.monotonic()
        if left <= 0:
            raise OvsdbError(
                f"OVSDB at {_describe_target(self.target)}: no reply to {method} "
                f"within {self.timeout:g} s"
            )
        poller = ovs.poller.Poller()
        self._conn.stream.run_wait(poller)
        self._conn.stream.recv_wait(poller)
        poller.timer_wait(int(left * 1000) + 1)
        poller.block()

    def _take_reply(self, pending: str, request_id: Any, method: str) -> tuple[_Reply | None, str]:
        """The reply to ``request_id`` among the complete messages at the head of ``pending``
        (None until it has arrived), and the text left over."""
        # Parsed with the standard library's C JSON decoder: the ovs package's pure-Python
        # parser takes most of a second for a switch with a few hundred ports.
        while pending.strip() and pending.rstrip().endswith("}"):
            try:
                message, end = _DECODER.raw_decode(pending.lstrip())
            except json.JSONDecodeError:
                break  # incomplete: wait for more
            pending = pending.lstrip()[end:]
            reply = self._answer(message, request_id, method)
            if reply is not None:
                return reply, pending
        return None, pending

    def _answer(self, message: Any, request_id: Any, method: str) -> _Reply | None:
        """Our reply, or None for a message that is not (the server's echo is answered)."""
        import ovs.jsonrpc

        if not isinstance(message, dict):
            raise OvsdbError(f"OVSDB at {self.target}: malformed message")
        if message.get("method") == "echo" and "id" in message:
            self._conn.send_block(
                ovs.jsonrpc.Message.create_reply(message.get("params"), message["id"])
            )
            return None
        if message.get("id") != request_id:
            return None
        if message.get("error") is not None:
            raise OvsdbError(f"OVSDB refused {method}: {message['error']}")
        return _Reply(message.get("result"))

    def schema(self) -> dict[str, Any]:
        if self._schema is None:
            result = self.call("get_schema", [DATABASE])
            if not isinstance(result, dict) or "tables" not in result:
                raise OvsdbError(f"OVSDB at {self.target}: no {DATABASE} schema")
            self._schema = result
        return self._schema

    def columns(self, table: str) -> set[str]:
        tables = self.schema()["tables"]
        if table not in tables:
            return set()
        return set(tables[table]["columns"])

    def select(self, table: str, columns: Sequence[str]) -> list[dict[str, Any]]:
        """Every row of ``table``; columns the server's schema lacks are left out."""
        return self.select_many([(table, columns)])[table]

    def select_many(
        self, wanted: Sequence[tuple[str, Sequence[str]]]
    ) -> dict[str, list[dict[str, Any]]]:
        """Several tables read in one transaction (a consistent snapshot)."""
        ops: list[dict[str, Any]] = []
        names = []
        for table, columns in wanted:
            known = self.columns(table)
            if not known:
                raise OvsdbError(f"OVSDB at {self.target}: no table {table}")
            cols = ["_uuid", *[c for c in columns if c in known]]
            ops.append({"op": "select", "table": table, "where": [], "columns": cols})
            names.append(table)
        results = self.transact(ops)
        return {name: res.get("rows", []) for name, res in zip(names, results, strict=True)}

    def transact(self, operations: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run operations as one transaction; raises OvsdbTransactionError where any fails."""
        results = self.call("transact", [DATABASE, *operations])
        if not isinstance(results, list):
            raise OvsdbError(f"OVSDB at {self.target}: malformed transact reply")
        for i, res in enumerate(results):
            if isinstance(res, dict) and "error" in res:
                what = operations[i]["op"] if i < len(operations) else "commit"
                detail = res.get("details") or ""
                raise OvsdbTransactionError(
                    f"OVSDB refused the transaction ({what}): {res['error']}"
                    + (f": {detail}" if detail else "")
                )
        return results


def _strerror(error: Any) -> str:
    if isinstance(error, int) and error > 0:
        return os.strerror(error)
    return str(error)
