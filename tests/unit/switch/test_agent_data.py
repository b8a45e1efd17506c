"""Whatever an agent sends, stackwatch reads it or says why not: net-snmp's printed values, the
replies of a walk, and walked columns of any shape and type all end in facts, in ``SnmpError``
or in ``DecodeError`` (one line naming the object), never in another exception."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from stackwatch.switch import oids
from stackwatch.switch.client import INTEGER_TYPES, Reading, Request, SnmpError, convert
from stackwatch.switch.device import decode_device, request_for, trunk_details
from stackwatch.switch.values import Index, Kind, Value, Walked
from tests.unit.switch.test_client import GettingSession, target

NET_SNMP_TYPES = [*INTEGER_TYPES, "Timeticks", "Hex-STRING", "STRING", '""', "OID", "IpAddress"]
kinds = st.sampled_from([*NET_SNMP_TYPES, "Opaque", "NOSUCHOBJECT", "ENDOFMIBVIEW"]) | st.text(
    max_size=12
)


@given(kinds, st.text(max_size=80))
def test_any_printed_value_converts_or_is_refused(kind: str, text: str) -> None:
    try:
        value = convert(kind, text, "1.3.6.1.2.1.2.2.1.8.1")
    except SnmpError as exc:
        assert "1.3.6.1.2.1.2.2.1.8.1" in str(exc) and "\n" not in str(exc)
        return
    assert value is None or isinstance(value, Value)


# values of every kind, some of the wrong type for their column, some out of range
values = st.one_of(
    st.builds(Value, st.just(Kind.INTEGER), st.integers(-(1 << 33), 1 << 33)),
    st.builds(Value, st.just(Kind.GAUGE32), st.integers(-1, 1 << 33)),
    st.builds(Value, st.just(Kind.OCTETS), st.binary(max_size=140)),
    st.builds(Value, st.just(Kind.OCTETS), st.just(b"1" * 70000)),
    st.builds(Value, st.just(Kind.TIMETICKS), st.integers(-1, 1 << 33)),
    st.builds(Value, st.sampled_from(list(Kind)), st.text(max_size=8)),
)
indexes = st.lists(st.integers(0, 5000), min_size=0, max_size=4).map(tuple)
VERIFY = request_for({"vlans", "lldp", "ports"}, 10)
columns = st.sampled_from([*VERIFY.columns, *oids.VTP_TRUNK_DETAILS])
walks = st.dictionaries(columns, st.dictionaries(indexes, values, max_size=6), max_size=12)
scalars = st.fixed_dictionaries(
    {oids.SYS_UPTIME: st.none() | values, oids.SYS_NAME: st.none() | values}
)


@settings(max_examples=150, deadline=None)
@given(walks, scalars)
def test_any_walk_decodes_or_gives_the_reason(
    walked: dict[str, dict[Index, Value]], got: dict[str, Value | None]
) -> None:
    reading = Reading(target("sw1"), Walked(walked, got))
    facts = decode_device(reading, {"vlans", "lldp", "ports"})
    if facts.error is not None:
        assert facts.error and "\n" not in facts.error
        assert not facts.interfaces
    else:
        assert facts.interfaces  # a device without interfaces is an error, never "all fine"
    trunk_details(walked)  # what to get next is chosen from any rows without failing


oid_arcs = st.lists(st.integers(0, 70000), min_size=1, max_size=14).map(
    lambda arcs: ".".join(map(str, arcs))
)
replies = st.lists(st.tuples(oid_arcs, kinds, st.text(max_size=30)), max_size=40)


@settings(max_examples=100, deadline=None)
@given(replies)
def test_a_walk_of_any_replies_ends(table: list[tuple[str, str, str]]) -> None:
    from stackwatch.switch.client import _read

    # an agent answering GETNEXT/GETBULK from any table: a walk ends, with rows or a reason
    session = GettingSession({oid: (kind, text) for oid, kind, text in table})
    request = Request(
        (oids.IF_NAME, oids.IF_OPER, "1.3"),
        (oids.SYS_UPTIME,),
        max_repetitions=3,
        starts={oids.IF_OPER: f"{oids.IF_OPER}.1"},
    )
    try:
        got, rows = _read(session, request, time.monotonic() + 5, [0])
    except SnmpError as exc:
        assert "\n" not in str(exc)
        return
    assert set(got) == {oids.SYS_UPTIME} and set(rows) == set(request.columns)
    assert session.requests <= len(table) + 4
