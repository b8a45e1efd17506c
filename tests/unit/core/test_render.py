import json
import socket

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from stackwatch.core.ranges import parse_range
from stackwatch.core.result import Metric, Result, Status, overall_status
from stackwatch.render.json import render_json
from stackwatch.render.nagios import render_nagios
from stackwatch.render.prometheus import render_prometheus, write_textfile
from stackwatch.render.statsd import (
    MAX_DATAGRAM,
    pack_datagrams,
    send_statsd,
    statsd_lines,
)

CONNTRACK = Result(
    "conntrack",
    Status.CRITICAL,
    "60000 of 65536 entries (91.6%)",
    (
        Metric(
            "entries",
            60000,
            warn=parse_range("49152"),
            crit=parse_range("58982"),
            min=0,
            max=65536,
        ),
        Metric("used", 91.55, "%", parse_range("75"), parse_range("90"), 0, 100),
        Metric("entries", 12, min=0, max=65536, labels={"netns": "qrouter-1"}),
    ),
    ("drop rates: first run",),
    "raise nf_conntrack_max",
)
LINKS = Result("links", Status.WARNING, "bond0: 1 of 2 members down", (Metric("up", 1),))
SKIPPED = Result.skip("memory-ecc", "no EDAC driver loaded")


def test_nagios_single_check_exact() -> None:
    assert render_nagios([CONNTRACK]) == (
        "CONNTRACK CRITICAL - 60000 of 65536 entries (91.6%) | "
        "'entries'=60000;49152;58982;0;65536 'used'=91.55%;75;90;0;100 "
        "'entries_qrouter-1'=12;;;0;65536\n"
        "drop rates: first run\n"
        "hint: raise nf_conntrack_max\n"
    )


def test_nagios_several_checks() -> None:
    lines = render_nagios([LINKS, CONNTRACK, SKIPPED]).splitlines()
    assert lines[0].startswith("STACKWATCH CRITICAL - 3 checks: 1 critical, 1 warning, 1 skip | ")
    assert "'links_up'=1" in lines[0] and "'conntrack_entries'=60000;49152" in lines[0]
    assert "LINKS WARNING - bond0: 1 of 2 members down" in lines
    assert "MEMORY-ECC SKIP - no EDAC driver loaded" in lines


def test_nagios_text_cannot_break_the_protocol() -> None:
    evil = Result("x", Status.OK, "a | b\nc", (Metric("it's=", 1),))
    out = render_nagios([evil])
    assert out.splitlines()[0] == "X OK - a / b c | 'it_s_'=1"


def test_skipped_does_not_change_status() -> None:
    assert overall_status([SKIPPED]) == Status.OK
    assert overall_status([SKIPPED, LINKS]) == Status.WARNING
    unknown = Result.unknown("y", "boom")
    assert overall_status([LINKS, unknown]) == Status.UNKNOWN
    assert overall_status([CONNTRACK, unknown]) == Status.CRITICAL


def test_json_shape() -> None:
    doc = json.loads(render_json([CONNTRACK, SKIPPED]))
    assert doc["status"] == "CRITICAL" and doc["code"] == 2
    first = doc["checks"][0]
    assert set(first) == {"name", "status", "code", "summary", "metrics", "details", "hint"}
    assert first["metrics"][0] == {
        "name": "entries",
        "value": 60000,
        "unit": "",
        "warn": "49152",
        "crit": "58982",
        "min": 0,
        "max": 65536,
    }
    assert doc["checks"][1]["status"] == "SKIP"


def test_prometheus_parses_with_the_official_parser(tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = render_prometheus([CONNTRACK, LINKS, SKIPPED])
    families = {f.name: f for f in text_string_to_metric_families(text)}
    status = {s.labels["check"]: s.value for s in families["stackwatch_check_status"].samples}
    assert status == {"conntrack": 2, "links": 1, "memory-ecc": 0}  # skipped: OK, and said so
    entries = families["stackwatch_conntrack_entries"].samples
    assert {(tuple(s.labels.items()), s.value) for s in entries} == {
        ((), 60000),
        ((("netns", "qrouter-1"),), 12),
    }
    assert families["stackwatch_conntrack_used_percent"].samples[0].value == 91.55
    path = write_textfile(tmp_path, text)
    assert path.read_text() == text


@given(st.text(max_size=40), st.text(max_size=40))
def test_prometheus_survives_any_names(check: str, label: str) -> None:
    result = Result(check, Status.OK, "x", (Metric(check or "m", 1.5, labels={"l": label}),))
    families = list(text_string_to_metric_families(render_prometheus([result])))
    assert families


def test_statsd_packing_limits_and_negative_gauges() -> None:
    many = Result("c", Status.OK, "x", tuple(Metric(f"metric_{i:04d}", i) for i in range(500)))
    lines = statsd_lines([many], "stackwatch.web1")
    datagrams = pack_datagrams(lines)
    assert all(len(d) <= MAX_DATAGRAM for d in datagrams)
    assert len(datagrams) > 1
    assert b"\n".join(datagrams).decode().splitlines() == lines
    negative = statsd_lines([Result("t", Status.OK, "x", (Metric("delta", -3),))], "p")
    assert negative == ["p.t.status:0|g", "p.t.delta:0|g", "p.t.delta:-3|g"]


def test_statsd_sends_udp_on_loopback() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(2)
        port = server.getsockname()[1]
        sent = send_statsd([CONNTRACK, SKIPPED], f"127.0.0.1:{port}", "stackwatch.h")
        received = [server.recv(65535) for _ in range(sent)]
    text = b"\n".join(received).decode()
    assert "stackwatch.h.conntrack.entries:60000|g" in text.splitlines()
    assert "memory-ecc" not in text


def test_text_table_shows_problems_with_hints_and_no_markup_injection() -> None:
    from stackwatch.render.text import render_text

    hostile = Result(
        "weblog", Status.WARNING, "Referer [bold]x[/]", (), ("from [red]evil[/]",), "block it"
    )
    out = render_text([CONNTRACK, hostile, SKIPPED])
    assert "conntrack" in out and "CRITICAL" in out and "SKIP" in out
    assert "Referer [bold]x[/]" in out and "from [red]evil[/]" in out
    assert "  what to do: raise nf_conntrack_max" in out
    assert "\x1b[" not in out  # no colour codes when not writing to a terminal
    assert "no EDAC driver loaded" in out and "what to do: " + "no EDAC" not in out
