"""A fake OVSDB server on a unix socket in a temporary directory, for what stackwatch does with a
server that lies, trickles or floods. It runs in threads of the test's own process; a test
stops it (``with FakeOvsdb(...) as server``).

By default it answers ``get_schema`` and ``transact`` (selects) from tables of rows, such as the
replies recorded from a real switch in tests/fixtures/ovs/replies, keeping only the columns asked
for, as ovsdb-server does. ``schema`` and ``results`` replace what it sends for either (any JSON
value: a lie). ``behaviour`` replaces the answering itself: a function given each request that
returns the chunks of bytes to send (an endless generator floods or trickles); the server stops
sending when the client hangs up or the server is stopped.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

Behaviour = Callable[[dict[str, Any]], Iterable[bytes]]
_RAW = re.compile(rb"\\udc([89a-f][0-9a-f])")


def schema_of(tables: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """A schema naming the tables and the columns their rows hold (all the client reads of a
    schema); every table has a name column, also when it has no rows."""
    return {
        "name": "Open_vSwitch",
        "tables": {
            table: {
                "columns": {
                    c: {"type": "string"}
                    for c in ["name", *(c for r in rows if isinstance(r, dict) for c in r)]
                    if c != "_uuid"
                }
            }
            for table, rows in tables.items()
            if isinstance(rows, list)
        },
    }


def message(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


class FakeOvsdb:
    def __init__(self, tables: dict[str, list[dict[str, Any]]] | None = None) -> None:
        # a short directory of its own: a unix socket's path is limited to 107 bytes
        self.directory = Path(tempfile.mkdtemp(prefix="fake-ovsdb-"))
        self.path = self.directory / "db.sock"
        self.db = f"unix:{self.path}"
        self.tables: dict[str, list[dict[str, Any]]] = tables or {}
        self.schema: Any = None  # None: schema_of(tables)
        self.results: Any = None  # None: the selects answered from tables
        self.behaviour: Behaviour | None = None
        # send the lone surrogates of names (\udc80-\udcff) as the raw bytes they stand for,
        # as a server holding names that are not UTF-8 would
        self.raw_bytes = False
        self.requests: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._connections: list[socket.socket] = []

    # answers ------------------------------------------------------------------------------------

    def answer(self, request: dict[str, Any]) -> Iterable[bytes]:
        chunks = self._answer(request)
        if not self.raw_bytes:
            return chunks
        return [_RAW.sub(lambda m: bytes([int(m[1], 16)]), chunk) for chunk in chunks]

    def _answer(self, request: dict[str, Any]) -> Iterable[bytes]:
        if self.behaviour is not None:
            return self.behaviour(request)
        method, params, ident = request.get("method"), request.get("params"), request.get("id")
        if method == "get_schema":
            schema = self.schema if self.schema is not None else schema_of(self.tables)
            return [message(id=ident, result=schema, error=None)]
        if method == "transact":
            results = self.results if self.results is not None else self.selects(params[1:])
            return [message(id=ident, result=results, error=None)]
        return [message(id=ident, result=None, error="unknown method")]

    def selects(self, operations: list[dict[str, Any]]) -> list[Any]:
        results: list[Any] = []
        for op in operations:
            rows = self.tables.get(op.get("table", ""), [])
            wanted = op.get("columns")
            if isinstance(rows, list) and wanted:
                rows = [
                    {c: v for c, v in row.items() if c in wanted} if isinstance(row, dict) else row
                    for row in rows
                ]
            results.append({"rows": rows})
        return results

    # serving ------------------------------------------------------------------------------------

    def start(self) -> FakeOvsdb:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.path))
        listener.listen(8)
        listener.settimeout(0.1)
        self._listener = listener
        self._spawn(self._accept_loop)
        return self

    def stop(self) -> None:
        self._stop.set()
        for conn in [*self._connections, self._listener]:
            if conn is not None:
                with contextlib.suppress(OSError):
                    conn.close()
        for thread in self._threads:
            thread.join(5)
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> FakeOvsdb:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(0.2)
            self._connections.append(conn)
            self._spawn(self._serve, conn)

    def _requests(self, conn: socket.socket) -> Iterator[dict[str, Any]]:
        decoder = json.JSONDecoder()
        pending = ""
        while not self._stop.is_set():
            try:
                data = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            pending += data.decode()
            while pending.strip():
                try:
                    request, end = decoder.raw_decode(pending.lstrip())
                except json.JSONDecodeError:
                    break
                pending = pending.lstrip()[end:]
                yield request

    def _serve(self, conn: socket.socket) -> None:
        try:
            for request in self._requests(conn):
                self.requests.append(request)
                if "method" not in request or request.get("id") is None:
                    continue  # a reply to the server's own echo, or a notification
                for chunk in self.answer(request):
                    if self._stop.is_set():
                        return
                    self._send(conn, chunk)
        except OSError:
            pass  # the client hung up
        finally:
            conn.close()  # also where the fake itself failed: the client sees it at once

    def _send(self, conn: socket.socket, chunk: bytes) -> None:
        view = memoryview(chunk)
        while view and not self._stop.is_set():
            try:
                sent = conn.send(view)
            except TimeoutError:
                continue  # the client is not reading: keep trying until stopped
            view = view[sent:]
