"""The OVSDB client against servers that trickle, flood, nest, lie or go silent: every exchange
ends within its deadline, with one clear OvsdbError; what is buffered is bounded. And the
message reader on any split of any stream."""

from __future__ import annotations

import itertools
import json
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackwatch.ovs.ovsdb import FrameError, MessageReader, OvsdbClient, OvsdbError
from tests.conftest import run_stackwatch

sys.path.insert(0, str(Path(__file__).parent))
from fakeovsdb import FakeOvsdb, message

TIMEOUT = 0.5
SLACK = 1.0  # scheduling on a loaded test machine


def trickle(request: dict[str, Any]) -> Iterator[bytes]:
    """The start of a reply, then one byte of an endless string every 10 ms."""
    yield b'{"id":%d,"error":null,"result":"' % request["id"]
    while True:
        time.sleep(0.01)
        yield b"a"


def trickle_other_messages(request: dict[str, Any]) -> Iterator[bytes]:
    """Complete messages, but never the reply."""
    while True:
        time.sleep(0.005)
        yield message(method="update", params=[None, {}], id=None)


def flood_string(request: dict[str, Any]) -> Iterator[bytes]:
    yield b'{"id":%d,"error":null,"result":"' % request["id"]
    yield from itertools.repeat(b"x" * 65536)


def flood_array(request: dict[str, Any]) -> Iterator[bytes]:
    yield b'{"id":%d,"error":null,"result":[' % request["id"]
    yield from itertools.repeat(b'["uuid","x"],' * 4096)


def flood_echo(request: dict[str, Any]) -> Iterator[bytes]:
    """Echo requests, without ever reading the answers: the client's sending blocks too."""
    echo = message(method="echo", params=["x" * 4096], id="echo")
    yield from itertools.repeat(echo * 16)


def nest(request: dict[str, Any]) -> Iterable[bytes]:
    return [b'{"id":%d,"result":' % request["id"] + b"[" * 100]


def silence(request: dict[str, Any]) -> Iterator[bytes]:
    while True:
        time.sleep(0.05)
        yield b""


def hang_up(request: dict[str, Any]) -> Iterable[bytes]:
    raise OSError("closing")  # the fake server's thread ends, closing the connection


def garbage(request: dict[str, Any]) -> Iterable[bytes]:
    return [b"hello{}"]


def unbalanced(request: dict[str, Any]) -> Iterable[bytes]:
    return [b'{"id":1}}']


def huge_number(request: dict[str, Any]) -> Iterable[bytes]:
    return [b'{"id":%d,"result":%s}' % (request["id"], b"9" * 10000)]


def nan(request: dict[str, Any]) -> Iterable[bytes]:
    return [b'{"id":%d,"result":NaN}' % request["id"]]


BEHAVIOURS = {
    trickle: "no complete reply to get_schema within 0.5 s",
    trickle_other_messages: "no complete reply to get_schema within 0.5 s",
    flood_string: "",  # the deadline or the size limit, whichever comes first
    flood_array: "",
    flood_echo: "no complete reply to get_schema within 0.5 s",
    nest: "unreadable reply to get_schema: a message nested deeper than 32 levels",
    silence: "no complete reply to get_schema within 0.5 s",
    hang_up: "connection closed",
    garbage: "unreadable reply to get_schema: not JSON",
    unbalanced: "unreadable reply to get_schema: a closing bracket without its opening one",
    huge_number: "unreadable reply to get_schema: not JSON: Exceeds the limit (4300 digits)",
    nan: "unreadable reply to get_schema: not JSON: NaN is not a JSON number",
}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOvsdb]:
    with FakeOvsdb() as fake:
        yield fake


@pytest.mark.parametrize("behaviour", BEHAVIOURS, ids=lambda b: b.__name__)
def test_every_exchange_ends_within_its_deadline(server: FakeOvsdb, behaviour: Any) -> None:
    server.behaviour = behaviour
    started = time.monotonic()
    try:
        with pytest.raises(OvsdbError) as error, OvsdbClient(server.db, TIMEOUT) as client:
            client.call("get_schema", ["Open_vSwitch"])
    finally:
        server.behaviour = None
    assert time.monotonic() - started < TIMEOUT + SLACK
    assert str(error.value).startswith(f"OVSDB at {server.path}: ")
    assert BEHAVIOURS[behaviour] in str(error.value)
    assert len(str(error.value)) < 200


def test_buffered_reply_is_bounded(server: FakeOvsdb) -> None:
    server.behaviour = flood_string
    try:
        client = OvsdbClient(server.db, 10.0, reply_limit=1024 * 1024)
        with pytest.raises(OvsdbError) as error, client:
            client.call("get_schema", ["Open_vSwitch"])
    finally:
        server.behaviour = None
    assert str(error.value) == (
        f"OVSDB at {server.path}: unreadable reply to get_schema: "
        "more than 1 MiB without the end of a message"
    )


def test_echo_is_answered_and_names_keep_their_bytes(server: FakeOvsdb) -> None:
    def echo_then_reply(request: dict[str, Any]) -> Iterable[bytes]:
        return [
            message(method="echo", params=["ping"], id="e1"),
            # split inside a string, after a backslash, in the middle of a UTF-8 character
            b'{"id":%d,"error":null,"result":{"na' % request["id"],
            b'me":"br\\',
            b'"[}\xc3',
            b'\xa9\xff"}}',
        ]

    server.behaviour = echo_then_reply
    server.requests.clear()
    try:
        with OvsdbClient(server.db, 2.0) as client:
            result = client.call("get_schema", ["Open_vSwitch"])
    finally:
        server.behaviour = None
    # the byte that is not UTF-8 is carried as a lone surrogate (the renderers show \xff)
    assert result == {"name": 'br"[}é\udcff'}
    time.sleep(0.1)
    assert {"result": ["ping"], "error": None, "id": "e1"} in server.requests


def test_connection_is_not_reused_after_a_timeout(server: FakeOvsdb) -> None:
    server.behaviour = silence
    client = OvsdbClient(server.db, TIMEOUT).connect()
    with pytest.raises(OvsdbError):
        client.call("get_schema", ["Open_vSwitch"])
    server.behaviour = None
    # a late reply to the first request cannot be taken for the reply to the next one
    server.tables = {"Bridge": []}
    assert "Bridge" in client.call("get_schema", ["Open_vSwitch"])["tables"]
    client.close()


# The command line: [ovs] timeout per exchange, stackwatch check --timeout over the whole run -----


def write_config(tmp_path: Path, db: str, timeout: float) -> str:
    path = tmp_path / "ovs.toml"
    path.write_text(f'[ovs]\ndb = "{db}"\ntimeout = {timeout}\n')
    return str(path)


@pytest.mark.parametrize("command", [("export",), ("show",), ("plan",)])
def test_commands_end_on_a_trickling_server(
    server: FakeOvsdb, tmp_path: Path, command: tuple[str, ...]
) -> None:
    layout = Path(__file__).resolve().parents[2] / "fixtures" / "ovs" / "openstack-compute.yaml"
    args = [*command, str(layout)] if command == ("plan",) else list(command)
    server.behaviour = trickle
    started = time.monotonic()
    try:
        done = run_stackwatch("ovs", *args, "--config", write_config(tmp_path, server.db, 1))
    finally:
        server.behaviour = None
    assert time.monotonic() - started < 1 + 5  # the interpreter's start included
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == (
        f"stackwatch: OVSDB at {server.path}: no complete reply to get_schema within 1 s\n"
    )


@pytest.mark.parametrize("behaviour", [trickle_other_messages, flood_array])
def test_check_timeout_bounds_the_exchange(
    server: FakeOvsdb, tmp_path: Path, behaviour: Any
) -> None:
    # [ovs] timeout allows 60 s per exchange; --timeout 1 bounds the whole run
    config = write_config(tmp_path, server.db, 60)
    server.behaviour = behaviour
    started = time.monotonic()
    try:
        done = run_stackwatch(
            "check", "ovs-managers", "--timeout", "1", "--config", config, "--format", "nagios"
        )
    finally:
        server.behaviour = None
    assert time.monotonic() - started < 1 + 5
    assert done.returncode == 3
    # bounded either way: by the time limit, or (a fast machine reads 32 MiB within the second)
    # by the size limit of one reply
    assert done.stdout.startswith("OVS-MANAGERS UNKNOWN - timed out: no answer within ") or (
        done.stdout.startswith("OVS-MANAGERS UNKNOWN - ")
        and "without the end of a message" in done.stdout
    ), done.stdout


# The message reader -----------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=25,
)
messages = st.lists(
    st.dictionaries(st.text(max_size=6), json_values, max_size=4), min_size=1, max_size=5
)


@settings(max_examples=300)
@given(
    messages,
    st.lists(st.integers(min_value=0, max_value=400), max_size=12),
    st.sampled_from(["", " ", "\n"]),
)
def test_reader_returns_the_messages_however_split(
    sent: list[dict[str, Any]], cuts: list[int], between: str
) -> None:
    stream = between.join(json.dumps(m, ensure_ascii=False) for m in sent).encode(
        "utf-8", "surrogatepass"
    )
    if any(0xD800 <= ord(c) <= 0xDFFF for m in sent for c in json.dumps(m, ensure_ascii=False)):
        stream = between.join(json.dumps(m) for m in sent).encode()  # surrogates as escapes
    reader = MessageReader()
    received: list[Any] = []
    points = sorted({min(c, len(stream)) for c in cuts} | {0, len(stream)})
    for start, end in itertools.pairwise(points):
        received += reader.feed(stream[start:end])
    assert received == sent


@settings(max_examples=500)
@given(st.lists(st.binary(max_size=40), max_size=8))
def test_reader_on_any_bytes_returns_messages_or_refuses(chunks: list[bytes]) -> None:
    reader = MessageReader(limit=256, max_depth=8)
    for chunk in chunks:
        try:
            reader.feed(chunk)
        except FrameError as exc:
            assert str(exc)
            return


@settings(max_examples=200)
@given(st.sampled_from([b"[", b"{", b'"', b'"\\', b'["]', b'{"a":"']), st.integers(1, 64))
def test_reader_bounds_what_never_ends(start: bytes, chunk_kb: int) -> None:
    reader = MessageReader(limit=64 * 1024, max_depth=32)
    filler = b" " if start in (b"[", b"{") else b"a"
    with pytest.raises(FrameError, match=r"more than 65536 bytes without the end of a message"):
        reader.feed(start)
        for _ in range(1 + 64 // chunk_kb):
            reader.feed(filler * 1024 * chunk_kb)
