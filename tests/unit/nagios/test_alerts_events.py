"""Problems and recoveries counted by numpy over whole columns must be what following each
service's events one by one gives, whatever the order, acknowledgements and gaps; the rows
written as JSON by format strings must be what json.dumps writes, whatever the names."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from stackwatch.core.record import replace
from stackwatch.nagios.alerts import Tally, summarize
from stackwatch.nagios.alerts_events import ACK, CODES, LAST_GOOD, Events, ServiceRow
from stackwatch.nagios.alerts_view import _row, compact_json, json_data
from stackwatch.nagios.logparse import HOST_STATES, SERVICE_STATES


def followed(events: list[tuple[int, int, int]], window: float) -> dict[int, tuple[int, ...]]:
    """Per id: (problems, recovered by themselves, open since, acknowledged), event by event."""
    state: dict[int, list[int]] = {}
    for who, when, what in events:
        problems, recovered, since, acked = state.setdefault(who, [0, 0, -1, 0])
        if what == ACK:
            acked = 1
        elif what > LAST_GOOD:
            if since < 0:
                problems, since, acked = problems + 1, when, 0
        elif since >= 0:
            recovered += when - since <= window and not acked
            since, acked = -1, 0
        state[who] = [problems, recovered, since, acked]
    return {
        who: (problems, recovered, since, bool(acked) and since >= 0)
        for who, (problems, recovered, since, acked) in state.items()
    }


# An acknowledgement, a good alert and a bad one are drawn alike: problems, recoveries and
# acknowledgements in between are common; two ids, so each has a long history.
WHAT = st.one_of(st.just(ACK), st.integers(1, LAST_GOOD), st.integers(LAST_GOOD + 1, CODES - 1))


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 2), st.sampled_from([0, 30, 60, 61, 300]), WHAT), max_size=60
    ),
    st.sampled_from([0.0, 60.0, 300.0]),
)
def test_counted_columns_follow_every_event_in_order(
    steps: list[tuple[int, int, int]], window: float
) -> None:
    events = Events(window)
    for i in range(6):
        events.id_of(f"h{i}", "s")
    when, log = 1_700_000_000, []
    for who, gap, what in steps:
        when += gap
        log.append((who, when, what))
        events.add_one(who, when, what)
    expected = followed(log, window)
    rows = events.rows(1.0)
    for who, row in enumerate(rows):
        wanted = expected.get(who, (0, 0, -1, False))
        assert (row.problems, row.recovered_soon, row.open_since, row.acknowledged) == wanted
        alerts = [what for w, _, what in log if w == who and what != ACK]
        assert row.alerts == len(alerts) == row.hard + row.soft
        assert sum(row.states.values()) == row.alerts


NAMES = st.text(max_size=12)  # any text: quotes, backslashes, controls, lone surrogates
ROWS = st.lists(
    st.builds(
        ServiceRow,
        NAMES,
        NAMES,
        *[st.integers(0, 10**12)] * 7,
        st.floats(0, 1e9, allow_nan=False),
        st.dictionaries(st.sampled_from(sorted(SERVICE_STATES | HOST_STATES)), st.integers(1, 99)),
    ),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(ROWS, ROWS, st.lists(st.tuples(NAMES, st.integers(0, 99), NAMES), max_size=2))
def test_compact_json_is_what_json_dumps_writes(
    services: list[ServiceRow], hosts: list[ServiceRow], examples: list[tuple[str, int, str]]
) -> None:
    report = replace(summarize(Tally(300)), services=services, hosts=hosts, examples=examples)
    assert compact_json(report) == json.dumps(json_data(report))
    assert json.loads(compact_json(report))["services"] == [_row(row) for row in services]
