"""The recovery plan's judgement: refusals, what is done to each instance, capacity."""

from __future__ import annotations

from stackwatch.nova.answers import Capacity, Server, Service, parse_server
from stackwatch.nova.recover import Step, make_plan, settled
from tests.unit.nova.test_answers import SERVER

UP = Service("1", "compute-a", "nova-compute", "up", "enabled", False, "nova")
FORCED = Service("1", "compute-a", "nova-compute", "down", "enabled", True, "nova")
DOWN = Service("1", "compute-a", "nova-compute", "down", "enabled", False, "nova")
ROOM = Capacity("compute-b", {"VCPU": 8.0, "MEMORY_MB": 4096.0, "DISK_GB": 100.0})


def _servers(count: int, prefix: str = "s", **fields: object) -> list[Server]:
    return [
        parse_server(dict(SERVER, id=f"{prefix}{i}", name=f"vm{i}", **fields)) for i in range(count)
    ]


def test_a_live_host_is_refused() -> None:
    plan = make_plan("compute-a", False, [UP], _servers(2), [ROOM])
    assert plan.refusal is not None and "up and not forced down" in plan.refusal


def test_a_forced_down_or_dead_host_is_evacuated() -> None:
    for service in (FORCED, DOWN):
        plan = make_plan("compute-a", False, [service], _servers(2), [ROOM])
        assert plan.refusal is None
        assert [s.action for s in plan.steps] == ["evacuate", "evacuate"]
    assert "volumes" in make_plan("compute-a", False, [FORCED], _servers(1), [ROOM]).notes[0]


def test_no_capacity_is_refused() -> None:
    plan = make_plan("compute-a", False, [FORCED], _servers(9), [ROOM])
    assert (
        plan.refusal == "not enough capacity: VCPU needs 9, the other hosts have 8 free; "
        "MEMORY_MB needs 4608, the other hosts have 4096 free"
    )
    assert make_plan("compute-a", False, [FORCED], _servers(1), []).refusal == (
        "no other enabled, up compute host to evacuate to"
    )


def test_busy_and_unknown_hosts() -> None:
    busy = _servers(1, **{"OS-EXT-STS:task_state": "rebuilding"})
    plan = make_plan("compute-a", False, [FORCED], busy, [ROOM])
    assert plan.steps[0].action == "skip" and not plan.actions
    assert (
        make_plan("nope", False, [FORCED], [], []).refusal
        == "no nova-compute service on host 'nope'"
    )


def test_in_place_waits_for_the_host_and_skips_active_ones() -> None:
    assert make_plan("compute-a", True, [FORCED], _servers(1), []).refusal is not None
    servers = _servers(1) + _servers(1, "x", status="SHUTOFF")
    plan = make_plan("compute-a", True, [UP], servers, [])
    assert plan.refusal is None
    assert sorted(s.action for s in plan.steps) == ["reboot", "skip"]


def test_when_an_instance_counts_as_recovered() -> None:
    [active] = _servers(1)
    [stopped] = _servers(1, "x", status="SHUTOFF")
    evacuate, stopped_step = Step(active, "evacuate", ""), Step(stopped, "evacuate", "")
    moved = parse_server(dict(SERVER, **{"OS-EXT-SRV-ATTR:host": "compute-b"}))
    rebuilding = parse_server(dict(SERVER, **{"OS-EXT-STS:task_state": "rebuilding"}))
    assert settled(moved, evacuate, "compute-a") is True
    assert settled(rebuilding, evacuate, "compute-a") is None
    assert settled(active, evacuate, "compute-a") is False  # Nova gave up: still on compute-a
    assert settled(parse_server(dict(SERVER, status="ERROR")), evacuate, "compute-a") is False
    moved_stopped = parse_server(dict(SERVER, status="SHUTOFF", **{"OS-EXT-SRV-ATTR:host": "b"}))
    assert settled(moved_stopped, stopped_step, "compute-a") is True
    assert settled(active, Step(stopped, "reboot", ""), "compute-a") is True


def test_an_instance_larger_than_every_host_is_refused_though_the_sum_would_hold_it() -> None:
    server = _servers(1)[0]
    assert server.flavor is not None
    half = {"VCPU": 8.0, "MEMORY_MB": server.flavor.ram_mb / 2 + 1, "DISK_GB": 100.0}
    hosts = [Capacity("compute-b", half), Capacity("compute-c", half)]
    plan = make_plan("compute-a", False, [FORCED], [server], hosts)
    assert plan.refusal == "not enough capacity: vm0 fits on no other host"
    roomy = [*hosts, ROOM]
    assert make_plan("compute-a", False, [FORCED], [server], roomy).refusal is None
