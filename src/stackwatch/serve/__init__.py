"""``stackwatch serve``: the checks as a resident Prometheus exporter, the node_exporter way.

One process answers ``/metrics`` on scrape, runs each check at most once per its minimum interval
within its own time limit, keeps the checks' state in memory (saved for restarts), and can push
the same results to StatsD or node_exporter's textfile directory.
"""

from stackwatch.core.capability import Capability

CAPABILITY = Capability(
    name="serve",
    summary="The checks as a resident Prometheus exporter (and StatsD/textfile pusher).",
    order=90,
    commands="cli",
    settings="settings:ServeSettings",
)
