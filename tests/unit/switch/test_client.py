"""Many devices at once, each within the deadline; net-snmp's printed values, typed."""

from __future__ import annotations

import time

import pytest

from stackwatch.switch.client import (
    Credentials,
    Request,
    Rows,
    SnmpError,
    Target,
    convert,
    read_all,
)
from stackwatch.switch.values import Index, Kind, Value, Walked


def target(name: str) -> Target:
    return Target(name, "127.0.0.1", 161, Credentials("2c", community="c"))


def fake(target: Target, request: Request) -> Walked:
    if target.name == "silent":
        time.sleep(30)
    if target.name == "slow":
        time.sleep(request.timeout * 3)
    if target.name == "broken":
        raise SnmpError("no answer (timeout)")
    if target.name == "crashing":
        raise RuntimeError("library fault")
    return Walked({}, {"1.3.6.1.2.1.1.3.0": Value(Kind.TIMETICKS, 5)})


def test_others_answer_while_one_is_silent_one_slow_one_broken() -> None:
    names = ["a", "silent", "b", "slow", "broken", "crashing", "c"]
    started = time.monotonic()
    readings = read_all([target(n) for n in names], Request((), timeout=0.5), fake)
    assert time.monotonic() - started < 2
    by_name = {r.target.name: r for r in readings}
    assert [r.target.name for r in readings] == names
    for good in "abc":
        assert by_name[good].walked is not None and by_name[good].error is None
    assert by_name["silent"].error == "no complete answer within 0.5s (--timeout)"
    assert by_name["slow"].error == "no complete answer within 0.5s (--timeout)"
    assert by_name["broken"].error == "no answer (timeout)"
    assert "library fault" in str(by_name["crashing"].error)


def test_credentials_repr_hides_secrets() -> None:
    creds = Credentials("3", user="u", auth_password="secret-auth", priv_password="secret-priv")
    assert "secret" not in repr(creds) and "secret" not in repr(target("x"))


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("INTEGER", "2", Value(Kind.INTEGER, 2)),
        ("Counter64", "18446744073709551615", Value(Kind.COUNTER64, (1 << 64) - 1)),
        ("Timeticks", "(492446481) 56 days, 23:54:24.81", Value(Kind.TIMETICKS, 492446481)),
        ("Hex-STRING", "20 00 00\n01", Value(Kind.OCTETS, b"\x20\x00\x00\x01")),
        ("STRING", "Gi0/1", Value(Kind.OCTETS, b"Gi0/1")),
        ('""', "", Value(Kind.OCTETS, b"")),
        ("Gauge32", "1000", Value(Kind.GAUGE32, 1000)),
        ("OID", ".1.3.6.1.4.1.9.1.617", Value(Kind.OID, ".1.3.6.1.4.1.9.1.617")),
        ("Opaque", "whatever", Value(Kind.OTHER, "whatever")),
    ],
)
def test_convert(kind: str, text: str, expected: Value) -> None:
    assert convert(kind, text) == expected


@pytest.mark.parametrize("kind", ["NOSUCHOBJECT", "NOSUCHINSTANCE", "ENDOFMIBVIEW"])
def test_no_such_object_is_no_value(kind: str) -> None:
    assert convert(kind, "No Such Object available on this agent at this OID") is None


@pytest.mark.parametrize(
    ("kind", "text"), [("INTEGER", "up"), ("Hex-STRING", "zz"), ("Timeticks", "soon")]
)
def test_unreadable_values_are_errors(kind: str, text: str) -> None:
    with pytest.raises(SnmpError, match="unreadable"):
        convert(kind, text, "1.2.3")


def test_oversized_string_refused() -> None:
    with pytest.raises(SnmpError):
        convert("Hex-STRING", "00 " * 70000)


class Reply:
    """A varbind as ezsnmp hands it over: OID, index, net-snmp's type name and text."""

    def __init__(self, oid: str, kind: str, value: str) -> None:
        column, _, index = oid.rpartition(".")
        self.oid, self.index, self.type, self.value = "." + column, index, kind, value


class FakeSession:
    """Answers GETNEXT/GETBULK from a sorted table, like an agent; ``backwards`` makes it
    answer an OID before the one asked (a broken agent that would loop forever)."""

    def __init__(self, table: dict[str, tuple[str, str]], backwards: bool = False) -> None:
        self.table = sorted(table.items(), key=lambda kv: tuple(map(int, kv[0].split("."))))
        self.backwards = backwards
        self.timeout = "1"
        self.requests = 0

    def _next(self, oid: str) -> Reply:
        key = tuple(map(int, oid.split(".")))
        for name, (kind, value) in self.table:
            if tuple(map(int, name.split("."))) > key or self.backwards:
                return Reply(name, kind, value)
        return Reply(oid, "ENDOFMIBVIEW", "No more variables left in this MIB View")

    def get_next(self, oids: list[str]) -> list[Reply]:
        self.requests += 1
        return [self._next(o) for o in oids]

    def bulk_get(self, oids: list[str]) -> list[Reply]:
        self.requests += 1
        replies, cursors = [], list(oids)
        for _ in range(3):
            row = [self._next(c) for c in cursors]
            replies += row
            cursors = [f"{r.oid.lstrip('.')}.{r.index}" for r in row]
        return replies


def test_columns_walked_side_by_side_until_each_ends() -> None:
    from stackwatch.switch.client import _walk_columns

    table = {f"1.3.6.1.2.1.31.1.1.1.1.{i}": ("STRING", f"eth{i}") for i in range(1, 8)}
    table |= {f"1.3.6.1.2.1.2.2.1.8.{i}": ("INTEGER", "1") for i in range(1, 8)}
    session = FakeSession(table)
    request = Request(
        ("1.3.6.1.2.1.2.2.1.8", "1.3.6.1.2.1.31.1.1.1.1", "1.3.6.1.9.9"), max_repetitions=3
    )
    rows = _walk_columns(session, request, time.monotonic() + 5, [0])
    assert rows["1.3.6.1.2.1.31.1.1.1.1"][(7,)] == Value(Kind.OCTETS, b"eth7")
    assert len(rows["1.3.6.1.2.1.2.2.1.8"]) == 7
    assert rows["1.3.6.1.9.9"] == {}  # empty: found by the first GETNEXT, never bulk-walked


def test_an_agent_going_backwards_is_refused_not_looped() -> None:
    from stackwatch.switch.client import _walk_columns

    session = FakeSession({"1.3.6.1.2.1.2.2.1.8.1": ("INTEGER", "1")}, backwards=True)
    with pytest.raises(SnmpError, match="went backwards"):
        _walk_columns(session, Request(("1.3.6.1.2.1.2.2.1.8",)), time.monotonic() + 5, [0])
    assert session.requests < 5


class GettingSession(FakeSession):
    """FakeSession that also answers GET, as an agent: noSuchInstance where it has no row."""

    def get(self, oids: list[str]) -> list[Reply]:
        self.requests += 1
        found = dict(self.table)
        return [
            Reply(o, *found[o]) if o in found else Reply(o, "NOSUCHINSTANCE", "No Such Instance")
            for o in oids
        ]


UPTIME, NAME, STACK = "1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.31.1.2.1.3"


def test_scalars_ride_along_in_the_first_getnext() -> None:
    from stackwatch.switch.client import _read

    table = {UPTIME: ("Timeticks", "(42) 0:00:00.42"), "1.3.6.1.2.1.1.6.0": ("STRING", "x")}
    table |= {f"1.3.6.1.2.1.2.2.1.8.{i}": ("INTEGER", "1") for i in range(1, 3)}
    session = GettingSession(table)
    request = Request(("1.3.6.1.2.1.2.2.1.8",), (UPTIME, NAME), max_repetitions=3)
    scalars, rows = _read(session, request, time.monotonic() + 5, [0])
    # sysName.0 missing: the GETNEXT of sysName answered sysLocation.0, which is not it
    assert scalars == {UPTIME: Value(Kind.TIMETICKS, 42), NAME: None}
    assert set(rows) == {"1.3.6.1.2.1.2.2.1.8"} and len(rows["1.3.6.1.2.1.2.2.1.8"]) == 2
    assert session.requests == 2  # the GETNEXT of everything, one GETBULK


def test_a_walk_starts_where_asked() -> None:
    from stackwatch.switch.client import _walk_columns

    table = {f"{STACK}.{i}": ("INTEGER", "1") for i in ("0.1", "0.2", "0.9", "1.0", "9.1", "9.2")}
    request = Request((STACK,), starts={STACK: f"{STACK}.1"}, max_repetitions=3)
    rows = _walk_columns(GettingSession(table), request, time.monotonic() + 5, [0])
    assert sorted(rows[STACK]) == [(1, 0), (9, 1), (9, 2)]


def test_columns_not_kept_are_not_walked_and_not_seen_in_part() -> None:
    from stackwatch.switch.client import _walk_columns

    table = {f"1.3.6.1.2.1.2.2.1.{c}.{i}": ("INTEGER", "1") for c in (7, 8) for i in range(1, 9)}
    session = GettingSession(table)
    request = Request(
        ("1.3.6.1.2.1.2.2.1.7", "1.3.6.1.2.1.2.2.1.8"),
        max_repetitions=3,
        keep=lambda found: found - {"1.3.6.1.2.1.2.2.1.7"},
    )
    rows = _walk_columns(session, request, time.monotonic() + 5, [0])
    assert rows["1.3.6.1.2.1.2.2.1.7"] == {}
    assert len(rows["1.3.6.1.2.1.2.2.1.8"]) == 8
    assert session.requests == 4  # GETNEXT, then rows 2-4, 5-7, 8 and past the end


def test_details_are_got_for_the_rows_asked_only() -> None:
    from stackwatch.switch.client import _read

    status, native = "1.3.6.1.4.1.9.9.46.1.6.1.1.14", "1.3.6.1.4.1.9.9.46.1.6.1.1.5"
    table = {f"{status}.{i}": ("INTEGER", "1" if i == 2 else "2") for i in range(1, 5)}
    table |= {f"{native}.{i}": ("INTEGER", str(10 * i)) for i in range(1, 5)}
    session = GettingSession(table)

    def trunks(rows: Rows) -> dict[str, set[Index]]:
        return {native: {i for i, v in rows[status].items() if v.data == 1} | {(7,)}}

    request = Request((status,), max_repetitions=10, details=trunks)
    _, rows = _read(session, request, time.monotonic() + 5, [0])
    assert rows[native] == {(2,): Value(Kind.INTEGER, 20)}  # row 7: noSuchInstance, absent
