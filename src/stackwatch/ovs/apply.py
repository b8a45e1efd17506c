"""Reading the live switch, planning against a layout, applying the plan in one transaction."""

from __future__ import annotations

from dataclasses import dataclass

from stackwatch.ovs.layout import Layout
from stackwatch.ovs.live import LiveSwitch, read_live
from stackwatch.ovs.ovsdb import OvsdbClient, OvsdbTransactionError
from stackwatch.ovs.plan import Plan, plan_layout


@dataclass(frozen=True)
class ApplyOutcome:
    plan: Plan
    applied: bool


def plan_against(client: OvsdbClient, layout: Layout, prune: bool = False) -> Plan:
    live: LiveSwitch = read_live(client)
    return plan_layout(layout, live, prune)


def apply_layout(client: OvsdbClient, layout: Layout, prune: bool = False) -> ApplyOutcome:
    """Make the switch match ``layout`` in one OVSDB transaction; nothing when it already does.

    The transaction carries ``wait`` operations on what was read: when another client changed the
    bridges in between, the server refuses the whole transaction and nothing is changed.
    """
    plan = plan_against(client, layout, prune)
    if plan.empty:
        return ApplyOutcome(plan, False)
    try:
        client.transact(plan.operations)
    except OvsdbTransactionError as exc:
        if "timed out" in str(exc):
            raise OvsdbTransactionError(
                "the bridges changed while applying (another client?); nothing was changed, "
                "run apply again"
            ) from exc
        raise
    return ApplyOutcome(plan, True)
