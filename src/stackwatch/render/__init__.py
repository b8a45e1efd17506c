"""The only place where results become output, and names from the machine are made safe for it.

``render(results, fmt)`` is the one entry every command uses for check-like results: text for a
person, the Nagios plugin protocol, JSON and the Prometheus exposition format (StatsD is sent, not
printed: render/statsd.py). Each renderer makes the names it is given safe for its own format
(render/safe.py), so that no interface, namespace, Referer or database name can add a perfdata
item, a StatsD field, a Prometheus sample or a terminal escape sequence.
"""

from __future__ import annotations

from collections.abc import Sequence

TYPE_CHECKING = False
if TYPE_CHECKING:
    from stackwatch.core.result import Result

FORMATS = ("text", "nagios", "json", "prometheus")


def render(results: Sequence[Result], fmt: str, *, color: bool | None = None) -> str:
    """``results`` in format ``fmt`` (one of FORMATS); renderers are imported when used."""
    if fmt == "nagios":
        from stackwatch.render.nagios import render_nagios

        return render_nagios(results)
    if fmt == "json":
        from stackwatch.render.json import render_json

        return render_json(results)
    if fmt == "prometheus":
        from stackwatch.render.prometheus import render_prometheus

        return render_prometheus(results)
    if fmt == "text":
        from stackwatch.render.text import render_text

        return render_text(results, color=color)
    raise ValueError(f"unknown format {fmt!r} (one of {', '.join(FORMATS)})")
