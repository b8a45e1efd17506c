"""A small OVSDB client (RFC 7047): JSON-RPC over the ``ovs`` package's streams.

stackwatch reads a few tables and writes a layout in one transaction, so it speaks the protocol
directly (``get_schema``, ``transact``) instead of replicating the whole database with the IDL.
The schema comes from the server it talks to, so the client adapts to the Open vSwitch version
actually running (a column a server lacks is simply not asked for).

The server is not trusted: every exchange (request sent, reply received) has one deadline,
``timeout`` seconds, which holds even while the peer keeps sending (a server that trickles bytes
or floods an endless value); what is buffered of a reply is bounded (``REPLY_LIMIT``), and so is
its nesting. Messages are cut from the byte stream in one pass, however they arrive, and decoded
by the standard library's C decoder (the ``ovs`` package's pure-Python parser takes most of a
second for a switch with a few hundred ports). Bytes that are not UTF-8 are kept as lone
surrogates, as elsewhere in stackwatch, for the renderers to show as escapes.

``ovs`` is imported inside ``connect``: nothing on the path of other commands pays for it.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import reprlib
import time
from collections.abc import Iterable, Mapping, Sequence
from itertools import accumulate
from types import TracebackType
from typing import Any

from stackwatch.core.host import Host, HostError
from stackwatch.core.record import dataclass
from stackwatch.ovs.settings import DEFAULT_DB, DEFAULT_TIMEOUT, db_problem

DATABASE = "Open_vSwitch"
REPLY_LIMIT = 32 * 1024 * 1024  # bytes of one message; a switch of thousands of ports is ~10 MiB
MAX_DEPTH = 32  # nesting of one message; OVSDB's deepest replies (maps of sets) nest 8 levels
CHUNK = 1 << 16

_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 60
_SHORT.maxlist = _SHORT.maxdict = _SHORT.maxtuple = 6
_SHORT.maxlevel = 3


SHOWN_LENGTH = 100


def shown(value: Any) -> str:
    """A value from the server, for an error message: repr'd and cut short (a lying server's
    set of a million items must not become a message of megabytes)."""
    text = _SHORT.repr(value)
    return text if len(text) <= SHOWN_LENGTH else text[: SHOWN_LENGTH - 3] + "..."


class OvsdbError(HostError):
    """OVSDB unreachable, too slow, refusing a request, or answering what cannot be read."""


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


# Framing ----------------------------------------------------------------------------------------

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # one whole JSON string
_STRING_REST = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*', re.DOTALL)  # the rest of an open one
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_DELTA = [0] * 256
_DELTA[ord("[")] = _DELTA[ord("{")] = 1
_DELTA[ord("]")] = _DELTA[ord("}")] = -1
_WHITESPACE = re.compile(r"[ \t\n\r]*")


class FrameError(ValueError):
    """The byte stream cannot be a sequence of JSON-RPC messages within the limits."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


class MessageReader:
    """Cuts the byte stream of a JSON-RPC connection into messages (JSON objects or arrays one
    after the other) and decodes them, however the stream is split.

    Each byte is looked at a bounded number of times, by the regular expression engine and
    ``bytes.translate`` rather than a Python loop: strings are removed (a bracket in a name is
    text), the brackets left are counted, and a message is decoded only once its outermost bracket
    has closed. At most ``limit`` bytes and ``max_depth`` levels of an unfinished message are held.
    """

    def __init__(self, limit: int = REPLY_LIMIT, max_depth: int = MAX_DEPTH) -> None:
        self.limit = limit
        self.max_depth = max_depth
        self._buffer = bytearray()
        self._depth = 0
        self._in_string = False
        self._escaped = False  # the byte before this chunk was a backslash inside a string

    def feed(self, data: bytes) -> list[Any]:
        """The messages that ``data`` completes, decoded, in order; FrameError past a limit or
        where the stream is not JSON."""
        self._buffer += data
        complete = self._count_complete(self._outside_strings(data))
        messages = self._decode(complete) if complete else []
        if len(self._buffer) > self.limit:
            raise FrameError(f"more than {_size(self.limit)} without the end of a message")
        return messages

    def _outside_strings(self, data: bytes) -> bytes:
        """``data`` without the strings in it; a string left open is carried to the next
        chunk as state (so a string of any length is scanned once)."""
        start = self._close_open_string(data) if self._in_string else 0
        if start is None:
            return b""
        structure = _STRING.sub(b"", data[start:])
        quote = structure.find(b'"')
        if quote < 0:
            return structure
        # an opening quote left over starts a string that goes on in the next chunk
        self._in_string = True
        trailing = len(data) - len(data.rstrip(b"\\"))
        self._escaped = trailing % 2 == 1
        return structure[:quote]

    def _close_open_string(self, data: bytes) -> int | None:
        """Where the string open at the start of ``data`` ends (just after its quote), or None
        when it goes on past ``data``."""
        pos = 0
        if self._escaped:
            if not data:
                return None
            pos, self._escaped = 1, False
        end = _STRING_REST.match(data, pos).end()  # type: ignore[union-attr]
        if end == len(data):
            return None
        if data[end] == ord("\\"):  # a backslash as the last byte: it escapes the next one
            self._escaped = True
            return None
        self._in_string = False
        return end + 1

    def _count_complete(self, structure: bytes) -> int:
        """How many messages the brackets of ``structure`` close; FrameError where they nest too
        deep or close what was not opened."""
        brackets = structure.translate(None, _NOT_BRACKETS)
        if not brackets:
            return 0
        depths = list(accumulate(map(_DELTA.__getitem__, brackets), initial=self._depth))
        if max(depths) > self.max_depth:
            raise FrameError(f"a message nested deeper than {self.max_depth} levels")
        if min(depths) < 0:
            raise FrameError("a closing bracket without its opening one")
        self._depth = depths[-1]
        return depths.count(0) - (depths[0] == 0)

    def _decode(self, count: int) -> list[Any]:
        """Decode the ``count`` complete messages at the head of the buffer; keep the rest."""
        text = self._buffer.decode("utf-8", "surrogateescape")
        messages = []
        pos = 0
        try:
            for _ in range(count):
                pos = _WHITESPACE.match(text, pos).end()  # type: ignore[union-attr]
                message, pos = _DECODER.raw_decode(text, pos)
                messages.append(message)
        except RecursionError:
            raise FrameError("a message nested too deeply") from None
        except json.JSONDecodeError as exc:
            raise FrameError(f"not JSON: {exc}") from None
        except ValueError as exc:  # a number of thousands of digits, NaN
            raise FrameError(f"not JSON: {str(exc).partition(':')[0]}") from None
        self._buffer = bytearray(text[pos:].encode("utf-8", "surrogateescape"))
        return messages


def _size(count: int) -> str:
    mib = 1024 * 1024
    return f"{count // mib} MiB" if count % mib == 0 else f"{count} bytes"


def encode_message(message: Mapping[str, Any]) -> bytes:
    """A message as the bytes sent: ASCII JSON (names with any character travel as escapes)."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode(
        "ascii"
    )


# The client -------------------------------------------------------------------------------------


class OvsdbClient:
    """One connection to an OVSDB server; use as a context manager."""

    def __init__(
        self,
        target: str = DEFAULT_DB,
        timeout: float = DEFAULT_TIMEOUT,
        reply_limit: int = REPLY_LIMIT,
    ) -> None:
        self.target = target
        self.timeout = timeout
        self.reply_limit = reply_limit
        self._stream: Any = None
        self._reader = MessageReader(reply_limit)
        self._last_id = 0
        self._schema: dict[str, Any] | None = None

    @property
    def where(self) -> str:
        return _describe_target(self.target)

    # connection ---------------------------------------------------------------------------------

    def connect(self) -> OvsdbClient:
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
            ovs.stream.Stream.open(self.target), max(1, math.ceil(self.timeout * 1000))
        )
        if error:
            reason = "no answer in time" if error == errno.ETIMEDOUT else os.strerror(error)
            raise OvsdbError(f"OVSDB not reachable at {self.where}: {reason}")
        self._stream = stream
        self._reader = MessageReader(self.reply_limit)
        return self

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def __enter__(self) -> OvsdbClient:
        return self.connect() if self._stream is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # one exchange -------------------------------------------------------------------------------

    def call(self, method: str, params: list[Any]) -> Any:
        """Send one request and wait for its reply: all of it within ``timeout`` seconds, however
        the server sends (or does not)."""
        if self._stream is None:
            self.connect()
        deadline = time.monotonic() + self.timeout
        self._last_id += 1
        request_id = self._last_id
        self._send({"method": method, "params": params, "id": request_id}, deadline, method)
        while True:
            for message in self._receive(deadline, method):
                reply = self._answer(message, request_id, method, deadline)
                if reply is not None:
                    return reply.result

    def _send(self, message: Mapping[str, Any], deadline: float, method: str) -> None:
        data = encode_message(message)
        while data:
            sent = self._stream.send(data)
            if sent == -errno.EAGAIN:
                self._wait(deadline, method, writing=True)
            elif sent < 0:
                raise OvsdbError(f"OVSDB at {self.where}: {os.strerror(-sent)}")
            else:
                data = data[sent:]

    def _receive(self, deadline: float, method: str) -> list[Any]:
        """The messages that the next bytes complete (none yet: an empty list); the deadline is
        checked before every read, so a server that never stops sending is cut off too."""
        if time.monotonic() >= deadline:
            raise self._too_slow(method)
        status, data = self._stream.recv(CHUNK)
        if status == errno.EAGAIN:
            self._wait(deadline, method, writing=False)
            return []
        if status or not data:
            reason = os.strerror(status) if status else "connection closed"
            raise OvsdbError(f"OVSDB at {self.where}: {reason}")
        try:
            return self._reader.feed(data)
        except FrameError as exc:
            self.close()  # the stream is out of step: nothing more can be read from it
            raise OvsdbError(
                f"OVSDB at {self.where}: unreadable reply to {method}: {exc}"
            ) from None

    def _wait(self, deadline: float, method: str, writing: bool) -> None:
        """Block until the stream can be read (or written), at most until ``deadline``."""
        import ovs.poller

        left = deadline - time.monotonic()
        if left <= 0:
            raise self._too_slow(method)
        poller = ovs.poller.Poller()
        self._stream.run_wait(poller)
        if writing:
            self._stream.send_wait(poller)
        else:
            self._stream.recv_wait(poller)
        poller.timer_wait(max(1, math.ceil(left * 1000)))
        poller.block()

    def _too_slow(self, method: str) -> OvsdbError:
        self.close()  # a reply may still be on its way: this connection cannot be reused
        return OvsdbError(
            f"OVSDB at {self.where}: no complete reply to {method} within {self.timeout:g} s"
        )

    def _answer(self, message: Any, request_id: int, method: str, deadline: float) -> _Reply | None:
        """Our reply, or None for a message that is not (the server's echo is answered)."""
        if not isinstance(message, dict):
            raise OvsdbError(f"OVSDB at {self.where}: malformed message {shown(message)}")
        if message.get("method") == "echo" and "id" in message:
            echo = {"result": message.get("params"), "error": None, "id": message["id"]}
            self._send(echo, deadline, method)
            return None
        if message.get("id") != request_id or "method" in message:
            return None
        if message.get("error") is not None:
            raise OvsdbError(f"OVSDB refused {method}: {shown(message['error'])}")
        if "result" not in message:
            raise OvsdbError(f"OVSDB at {self.where}: a reply to {method} without a result")
        return _Reply(message["result"])

    # the database -------------------------------------------------------------------------------

    def schema(self) -> dict[str, Any]:
        if self._schema is None:
            self._schema = self._checked_schema(self.call("get_schema", [DATABASE]))
        return self._schema

    def _checked_schema(self, result: Any) -> dict[str, Any]:
        """The schema as far as this client reads it: tables, each with its columns."""
        tables = result.get("tables") if isinstance(result, dict) else None
        if not isinstance(tables, dict):
            raise OvsdbError(f"OVSDB at {self.where}: no {DATABASE} schema")
        for name, table in tables.items():
            columns = table.get("columns") if isinstance(table, dict) else None
            if not isinstance(columns, dict):
                raise OvsdbError(
                    f"OVSDB at {self.where}: malformed schema: table {shown(name)} has no columns"
                )
        return result  # type: ignore[no-any-return]

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
        """Several tables read in one transaction (a consistent snapshot); each a list of rows
        (dicts), or an OvsdbError naming the table whose reply is not."""
        ops: list[dict[str, Any]] = []
        for table, columns in wanted:
            known = self.columns(table)
            if not known:
                raise OvsdbError(f"OVSDB at {self.where}: no table {table}")
            cols = ["_uuid", *[c for c in columns if c in known]]
            ops.append({"op": "select", "table": table, "where": [], "columns": cols})
        results = self.transact(ops)
        if len(results) < len(ops):
            raise OvsdbError(
                f"OVSDB at {self.where}: {len(results)} results for {len(ops)} selects"
            )
        return {
            table: self._rows(table, res)
            for (table, _), res in zip(wanted, results[: len(ops)], strict=True)
        }

    def _rows(self, table: str, result: Any) -> list[dict[str, Any]]:
        rows = result.get("rows") if isinstance(result, dict) else None
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise OvsdbError(
                f"malformed OVSDB reply: {table} is not a list of rows: {shown(result)}"
            )
        return rows

    def transact(self, operations: list[dict[str, Any]]) -> list[Any]:
        """Run operations as one transaction; raises OvsdbTransactionError where any fails."""
        results = self.call("transact", [DATABASE, *operations])
        if not isinstance(results, list):
            raise OvsdbError(f"OVSDB at {self.where}: malformed transact reply {shown(results)}")
        for i, res in enumerate(results):
            if isinstance(res, dict) and "error" in res:
                what = operations[i]["op"] if i < len(operations) else "commit"
                detail = res.get("details") or ""
                raise OvsdbTransactionError(
                    f"OVSDB refused the transaction ({what}): {_text(res['error'])}"
                    + (f": {_text(detail)}" if detail else "")
                )
        return results


def _text(value: Any) -> str:
    """A server's string as it is (short ones), anything else shown."""
    return value if isinstance(value, str) and len(value) <= 500 else shown(value)
