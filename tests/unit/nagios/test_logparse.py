"""The nagios.log parser: each kind with its own field order, plugin output holding ';', and
hostile or cut lines returned as Malformed (never an exception)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from stackwatch.nagios.alerts import Tally
from stackwatch.nagios.logparse import Entry, Malformed, Other, parse_line


def test_service_alert_keeps_semicolons_of_the_plugin_output() -> None:
    entry = parse_line(
        "[1700000000] SERVICE ALERT: cmp-c0001-001;Disk /;CRITICAL;SOFT;2;DISK CRITICAL - "
        "free 3%; inode 10%|/=97%;80;90"
    )
    assert entry == Entry(
        1700000000,
        "SERVICE ALERT",
        "cmp-c0001-001",
        "Disk /",
        "CRITICAL",
        "SOFT",
        2,
        "",
        "",
        "DISK CRITICAL - free 3%; inode 10%|/=97%;80;90",
    )


def test_host_alert_has_no_service_field() -> None:
    entry = parse_line("[1700000001] HOST ALERT: cmp-c0001-001;DOWN;HARD;3;PING CRITICAL; 100%")
    assert isinstance(entry, Entry)
    assert (entry.kind, entry.host, entry.service, entry.state, entry.state_type) == (
        "HOST ALERT",
        "cmp-c0001-001",
        "",
        "DOWN",
        "HARD",
    )
    assert entry.attempt == 3 and entry.output == "PING CRITICAL; 100%"


def test_notifications_start_with_the_contact() -> None:
    service = parse_line(
        "[1700000002] SERVICE NOTIFICATION: ops;h1;Load;CRITICAL;notify-by-email;load 9;8;7"
    )
    host = parse_line("[1700000002] HOST NOTIFICATION: ops;h1;UP;notify-by-email;PING OK")
    ack = parse_line(
        "[1700000002] SERVICE NOTIFICATION: ops;h1;Load;ACKNOWLEDGEMENT (CRITICAL);notify;"
        "out;alice;looking at it"
    )
    assert isinstance(service, Entry) and isinstance(host, Entry) and isinstance(ack, Entry)
    assert (service.contact, service.host, service.service, service.state) == (
        "ops",
        "h1",
        "Load",
        "CRITICAL",
    )
    assert service.detail == "PROBLEM" and service.output == "load 9;8;7"
    assert (host.host, host.service, host.state, host.detail) == ("h1", "", "UP", "RECOVERY")
    assert (ack.detail, ack.state) == ("ACKNOWLEDGEMENT", "CRITICAL")


def test_flapping_and_current_state_lines() -> None:
    flap = parse_line(
        "[1700000003] SERVICE FLAPPING ALERT: h1;Load;STARTED; Service appears to have started "
        "flapping (24.2% change >= 20.0% threshold)"
    )
    host_flap = parse_line("[1700000003] HOST FLAPPING ALERT: h1;STOPPED; Host stopped flapping")
    current = parse_line("[1700000004] CURRENT SERVICE STATE: h1;Load;OK;HARD;1;OK - fine")
    initial = parse_line("[1700000004] INITIAL HOST STATE: h1;UP;HARD;1;PING OK")
    assert isinstance(flap, Entry) and (flap.service, flap.detail) == ("Load", "STARTED")
    assert isinstance(host_flap, Entry) and (host_flap.host, host_flap.detail) == ("h1", "STOPPED")
    assert isinstance(current, Entry) and current.kind == "CURRENT SERVICE STATE"
    assert isinstance(initial, Entry) and initial.kind == "CURRENT HOST STATE"


def test_acknowledgement_commands_are_kept_other_lines_are_other() -> None:
    ack = parse_line(
        "[1700000005] EXTERNAL COMMAND: ACKNOWLEDGE_SVC_PROBLEM;h1;Load;2;1;1;alice;on it"
    )
    assert isinstance(ack, Entry) and (ack.kind, ack.host, ack.service) == (
        "ACKNOWLEDGEMENT",
        "h1",
        "Load",
    )
    assert parse_line("[1700000006] LOG ROTATION: DAILY") == Other(1700000006, "LOG ROTATION")
    assert isinstance(parse_line("[1700000006] Auto-save of retention data completed."), Other)


def test_cut_and_hostile_lines_are_malformed_with_a_reason() -> None:
    cases = {
        "[1700000000] SERVICE ALERT: h1;Load;CRIT": "fields",
        "[1700000000] SERVICE ALERT: h1;Load;BROKEN;HARD;1;x": "state",
        "[1700000000] SERVICE ALERT: h1;Load;OK;MAYBE;1;x": "state",
        "[1700000000] SERVICE ALERT: h1;Load;OK;HARD;one;x": "attempt",
        "[1700000000] SERVICE ALERT: ;Load;OK;HARD;1;x": "host",
        "[1700000000] HOST ALERT: h1;OK;HARD;1;x": "state",
        "[1700000000] SERVICE FLAPPING ALERT: h1;Load;MAYBE;x": "change",
        "ERVICE ALERT: h1;Load;OK;HARD;1;x": "timestamp",
        "[17000000000000000000] SERVICE ALERT: h1;Load;OK;HARD;1;x": "timestamp",
        "[17e9] SERVICE ALERT: h1;Load;OK;HARD;1;x": "timestamp",
        "[1700000000] SERVICE ALERT: h1;Load;OK;HARD;123456;x": "attempt",
    }
    for line, word in cases.items():
        parsed = parse_line(line)
        assert isinstance(parsed, Malformed), line
        assert word in parsed.reason, (line, parsed.reason)


KINDS = st.sampled_from(
    [
        "SERVICE ALERT",
        "HOST ALERT",
        "SERVICE NOTIFICATION",
        "HOST NOTIFICATION",
        "SERVICE FLAPPING ALERT",
        "HOST FLAPPING ALERT",
        "CURRENT SERVICE STATE",
        "EXTERNAL COMMAND",
        "LOG ROTATION",
    ]
)
FIELD = st.text(alphabet=st.characters(blacklist_characters="\n"), max_size=12)


@st.composite
def hostile_lines(draw: st.DrawFn) -> str:
    """Lines that look like nagios.log lines with any field, cut anywhere."""
    stamp = draw(st.one_of(st.integers(0, 10**13).map(str), FIELD))
    fields = draw(
        st.lists(
            st.one_of(FIELD, st.sampled_from(["OK", "CRITICAL", "HARD", "SOFT", "1"])), max_size=8
        )
    )
    line = f"[{stamp}] {draw(KINDS)}: {';'.join(fields)}"
    return line[: draw(st.integers(0, len(line)))]


@settings(max_examples=400, deadline=None)
@given(hostile_lines())
def test_any_line_parses_to_a_value_never_an_exception(line: str) -> None:
    parsed = parse_line(line)
    assert isinstance(parsed, Entry | Other | Malformed)
    if isinstance(parsed, Entry):
        assert parsed.host and parsed.time >= 0


NAMES = st.text(
    alphabet=st.characters(blacklist_characters=";\n", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=10,
)


@settings(max_examples=300, deadline=None)
@given(
    NAMES,
    NAMES,
    st.sampled_from(["OK", "WARNING", "CRITICAL", "UNKNOWN"]),
    st.sampled_from(["HARD", "SOFT"]),
    st.integers(1, 99),
    st.text(max_size=30).filter(lambda s: "\n" not in s),
    st.integers(10**9, 10**10 - 1),
)
def test_service_alerts_round_trip(
    host: str, service: str, state: str, kind: str, attempt: int, output: str, when: int
) -> None:
    line = f"[{when}] SERVICE ALERT: {host};{service};{state};{kind};{attempt};{output}"
    assert parse_line(line) == Entry(
        when, "SERVICE ALERT", host, service, state, kind, attempt, "", "", output
    )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            hostile_lines(),
            st.builds(
                lambda t, h, s, st_, k, a, o: f"[{t}] SERVICE ALERT: {h};{s};{st_};{k};{a};{o}",
                st.sampled_from(
                    ["1700000000", "１７００００００００", "17000000001", "1x00000000"]
                ),
                NAMES,
                NAMES,
                st.sampled_from(["OK", "CRITICAL", "BAD"]),
                st.sampled_from(["HARD", "SOFT", "X"]),
                st.sampled_from(["1", "١", "12345", "123456", "", "x"]),
                FIELD,
            ),
        ),
        max_size=30,
    )
)
def test_the_fast_path_counts_what_the_parser_reads(lines: list[str]) -> None:
    """Tally reads common SERVICE ALERTs without the parser: it must agree with it, line by line
    (on the text of the log file those lines make)."""
    tally = Tally(600)
    tally.add_text("\n".join(lines) + "\n", "nagios.log")
    text = "\n".join(lines).encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    parsed = [parse_line(line) for line in text.split("\n")]
    alerts = [p for p in parsed if isinstance(p, Entry) and p.kind == "SERVICE ALERT"]
    assert sum(t.alerts for t in tally.services.values()) == len(alerts)
    assert tally.malformed == sum(isinstance(p, Malformed) for p in parsed)
    assert {k for k, t in tally.services.items() if t.alerts} == {
        (a.host, a.service) for a in alerts
    }
