"""nova-console's judgement and its percentiles kept in state: no cloud needed."""

from __future__ import annotations

from typing import Any

from hypothesis import given

from stackwatch.core.ranges import parse_range
from stackwatch.core.result import Status
from stackwatch.nova.answers import parse_server
from stackwatch.nova.check import (
    ConsoleFacts,
    ConsoleOptions,
    Latency,
    judge,
    kept_samples,
    percentile,
    update_latency,
)
from stackwatch.nova.console import Canary, Probe, oldest_per_zone
from tests.unit.nova import test_answers
from tests.unit.nova.test_answers import SERVER


def _judge(*probes: Probe, **options: Any) -> Any:
    return judge(ConsoleFacts(probes, {}), ConsoleOptions(**options))


def test_fast_consoles_are_ok_and_give_metrics_per_zone() -> None:
    result = _judge(Probe("c", "az1", "canary", 0.2, 0.1), Probe("c", "az2", "c2", 0.4))
    assert result.status is Status.OK
    assert result.summary == "2 console(s) OK, slowest 0.40 s"
    labels = [m.labels for m in result.metrics if m.name == "console_seconds"]
    assert labels == [{"cloud": "c", "zone": "az1"}, {"cloud": "c", "zone": "az2"}]


def test_slow_consoles_warn_then_go_critical() -> None:
    assert _judge(Probe("c", "az1", "s", 12.0)).status is Status.WARNING
    slow = _judge(Probe("c", "az1", "s", 31.0))
    assert slow.status is Status.CRITICAL and "took 31.0 s" in slow.summary
    assert _judge(Probe("c", "az1", "s", 3.0), warning=parse_range("2")).status is Status.WARNING


def test_the_failed_step_is_named_with_its_remedy() -> None:
    result = _judge(Probe("c", "az1", "s", 0.1, step="compute RPC", error="409 Service is down"))
    assert result.status is Status.CRITICAL
    assert result.summary == "c az1 (s): compute RPC failed: 409 Service is down"
    assert result.hint is not None and "nova-compute" in result.hint
    lying = _judge(Probe("c", "-", "", step="API", error="unexpected shape", unknown=True))
    assert lying.status is Status.UNKNOWN


def test_percentiles_over_the_window() -> None:
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([1.0] * 19 + [9.0], 0.95) == 1.0
    assert percentile([1.0] * 18 + [9.0, 9.0], 0.95) == 9.0
    saved = {"c/az1": [[100.0, 5.0], [950.0, 1.0], "junk", [990.0, float("nan")]]}
    samples, latency = update_latency(saved, [Probe("c", "az1", "s", 2.0)], 1000.0, 100.0)
    assert samples["c/az1"] == [[950.0, 1.0], [1000.0, 2.0]]  # the old one left the window
    assert latency["c/az1"] == Latency(1.0, 2.0, 2)


@given(test_answers.json_values)  # fmt: skip
def test_any_saved_state_is_read_or_dropped(saved: Any) -> None:
    kept = kept_samples(saved, "c/az1", 1000.0, 3600.0)
    assert all(len(s) == 2 for s in kept)


def test_the_oldest_active_server_of_each_zone_is_the_canary() -> None:
    servers = [
        parse_server(dict(SERVER, id="b", created="2026-01-02T00:00:00Z")),
        parse_server(dict(SERVER, id="a", created="2026-01-01T00:00:00Z")),
        parse_server(dict(SERVER, id="z", created="2025-01-01T00:00:00Z", status="SHUTOFF")),
        parse_server(dict(SERVER, id="c", **{"OS-EXT-AZ:availability_zone": "az2"})),
    ]
    canaries = oldest_per_zone(servers)
    assert [(c.zone, c.server.id if c.server else None) for c in canaries] == [
        ("az2", "c"), ("nova", "a"),
    ]  # fmt: skip
    assert isinstance(canaries[0], Canary)


def test_openstacksdk_is_not_imported_when_the_check_is_skipped(tmp_path: Any) -> None:
    """The check module and a skipped run import no openstacksdk (its import costs ~0.5 s)."""
    import subprocess
    import sys

    code = (
        "import sys; from stackwatch.core.engine import run_check; "
        "from stackwatch.core.registry import get_check; from stackwatch.core.host import Host; "
        "from stackwatch.core.config import Config; from stackwatch.core.state import StateStore; "
        f"store = StateStore({str(tmp_path)!r}); "
        "r = run_check(get_check('nova-console'), Host(), Config(None, {}), store); "
        "print(r.status_text, 'openstack' in sys.modules, 'keystoneauth1' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["SKIP", "False", "False"], done.stderr
