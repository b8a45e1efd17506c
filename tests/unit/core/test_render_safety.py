"""Names from the machine or the network never change the shape of any output (render/safe.py).

Interface, namespace, bridge and port names, Referers and database names reach the renderers as
check names, metric labels, summaries and details; hypothesis throws every kind of text at them,
lone surrogates (bytes that were not UTF-8) included.
"""

from __future__ import annotations

import math
import re

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from stackwatch.core.engine import refuse_non_finite
from stackwatch.core.result import Metric, Result, Status
from stackwatch.render import render
from stackwatch.render.statsd import statsd_lines

names = st.text(st.characters(codec=None, exclude_categories=()), min_size=1, max_size=30)
# every code point, surrogates included (os.listdir hands undecodable bytes over as surrogates)
hostile = st.one_of(
    names,
    st.sampled_from(["a|b", "x\ny", "'q'='1'", "\x1b[31mred", "a:b|c", 'q"uote\\', "\udcff\udc80"]),
)


@st.composite
def results(draw: st.DrawFn) -> list[Result]:
    count = draw(st.integers(1, 3))
    out = []
    for _ in range(count):
        metrics = tuple(
            Metric(
                draw(st.sampled_from(["up", "errors", "used"])),
                draw(st.floats(-1e9, 1e9, allow_nan=False)),
                labels={"interface": draw(hostile)},
            )
            for _ in range(draw(st.integers(0, 3)))
        )
        out.append(
            Result(
                draw(hostile),
                draw(st.sampled_from(list(Status))),
                draw(hostile),
                metrics,
                tuple(draw(st.lists(hostile, max_size=3))),
                draw(st.one_of(st.none(), hostile)),
            )
        )
    return out


@settings(max_examples=300)
@given(results())
def test_nagios_output_keeps_its_shape(checks: list[Result]) -> None:
    text = render(checks, "nagios")
    lines = text.splitlines()
    hints = sum(1 for r in checks if r.hint and r.status != Status.OK)
    if len(checks) == 1:
        assert len(lines) == 1 + len(checks[0].details) + hints
    else:
        problems = [r for r in checks if r.status != Status.OK]
        assert len(lines) == 1 + len(checks) + sum(len(r.details) for r in problems) + hints
    first, _, perfdata = lines[0].partition(" | ")
    assert "|" not in first and "|" not in perfdata
    assert all("|" not in line for line in lines[1:])
    items = re.findall(r"'([^'=|\n]*)'=(\S+)", perfdata)
    assert " ".join(f"'{label}'={value}" for label, value in items) == perfdata
    assert len(items) == sum(len(r.metrics) for r in checks)


@settings(max_examples=300)
@given(results())
def test_statsd_lines_are_one_gauge_each(checks: list[Result]) -> None:
    lines = statsd_lines(checks, "stackwatch.host")
    # a negative gauge is sent as a reset to 0, then the value (a sign means "delta" in StatsD)
    sent = sum(1 + len(r.metrics) + sum(m.value < 0 for m in r.metrics) for r in checks)
    assert len(lines) == sent
    for line in lines:
        assert re.fullmatch(r"[A-Za-z0-9_.-]+:-?[0-9.e+-]+\|g", line), line


@settings(max_examples=300)
@given(results())
def test_prometheus_output_parses_and_keeps_label_values(checks: list[Result]) -> None:
    text = render(checks, "prometheus")
    text.encode("utf-8")  # no lone surrogate left: the exposition format is UTF-8
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
    statuses = [s for s in samples if s.name == "stackwatch_check_status"]
    assert len(statuses) == len(checks)
    for result in checks:
        for metric in result.metrics:
            value = metric.labels["interface"]
            if not any(0xD800 <= ord(c) <= 0xDFFF for c in value):
                assert any(s.labels.get("interface") == value for s in samples)


@settings(max_examples=200)
@given(results())
def test_text_for_a_terminal_holds_no_control_characters(checks: list[Result]) -> None:
    for color in (False, True):
        text = render(checks, "text", color=color)
        text.encode("utf-8")
        stripped = re.sub(r"\x1b\[[0-9;]*m", "", text)  # the renderer's own colours only
        assert all(c in "\n" or c.isprintable() for c in stripped), repr(stripped)


@settings(max_examples=200)
@given(results())
def test_json_is_valid_for_any_name(checks: list[Result]) -> None:
    import json

    document = json.loads(render(checks, "json"))
    assert [c["name"] for c in document["checks"]] == [r.check for r in checks]


@given(st.sampled_from([math.nan, math.inf, -math.inf]))
def test_a_non_finite_figure_makes_the_check_unknown_and_names_it(value: float) -> None:
    result = Result("temperature", Status.OK, "fine", (Metric("cpu", value), Metric("gpu", 40)))
    judged = refuse_non_finite(result)
    assert judged.status is Status.UNKNOWN
    assert "cpu" in judged.summary and "gpu" not in judged.summary
    assert [m.name for m in judged.metrics] == ["gpu"]
    for fmt in ("nagios", "json", "prometheus", "text"):
        assert "nan" not in render([judged], fmt).lower().replace("unknown", "")
