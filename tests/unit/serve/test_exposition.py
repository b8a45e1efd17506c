"""The answer to a scrape is valid exposition format, with what the service knows of each run."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from stackwatch import __version__
from stackwatch.core.result import Metric, Result, Status
from stackwatch.serve.exposition import metrics_text
from stackwatch.serve.runner import Served


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_every_check_has_success_duration_and_staleness() -> None:
    served = [
        Served(Result("links", Status.OK, "1 up", (Metric("up", 1, labels={"interface": "eth0"}),)),
               0.0123, 1.7e9),
        Served(Result("disk-smart", Status.WARNING, "pending sectors"), 2.5, 1.7e9, stale=True),
        Served(Result.unknown("hung", "no result yet: first run going for 9.5 s")),
        Served(Result.skip("temperature", "no sensors"), 0.001, 1.7e9),
    ]  # fmt: skip
    found = samples(metrics_text(served))
    assert found[("stackwatch_check_status", (("check", "links"),))] == 0
    assert found[("stackwatch_check_status", (("check", "disk-smart"),))] == 1
    assert found[("stackwatch_check_status", (("check", "hung"),))] == 3
    assert found[("stackwatch_links_up", (("interface", "eth0"),))] == 1
    success = {k[1][0][1]: v for k, v in found.items() if k[0] == "stackwatch_check_success"}
    assert success == {"links": 1, "disk-smart": 1, "hung": 0, "temperature": 1}
    assert found[("stackwatch_check_duration_seconds", (("check", "disk-smart"),))] == 2.5
    assert ("stackwatch_check_duration_seconds", (("check", "hung"),)) not in found
    assert found[("stackwatch_check_stale", (("check", "disk-smart"),))] == 1
    assert found[("stackwatch_check_stale", (("check", "links"),))] == 0
    assert found[("stackwatch_check_last_run_timestamp_seconds", (("check", "links"),))] == 1.7e9
    build = [k for k in found if k[0] == "stackwatch_build_info"]
    assert len(build) == 1 and ("version", __version__) in build[0][1]


def test_hostile_check_names_cannot_add_samples() -> None:
    name = 'x"} 1\nstackwatch_evil{a="'
    text = metrics_text([Served(Result(name, Status.OK, "fine"), 0.1, 1.0)])
    assert not any(k[0] == "stackwatch_evil" for k in samples(text))
    assert ("stackwatch_check_success", (("check", name),)) in samples(text)
