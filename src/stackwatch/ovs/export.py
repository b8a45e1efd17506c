"""``ovs export``: the live switch as a layout file that ``ovs plan`` accepts, and, for what of the
switch a layout cannot express, which object and why.

The live switch is whatever OVSDB holds: port names, types, options and external_ids chosen by
whoever can reach it (a tenant's port name through Neutron, a hand-made port, a lying server). A
layout is stricter: names the kernel and the file format accept, the port types and settings it
knows, every port one interface of its own name or a bond of system interfaces. So the exported
layout is put through the layout parser itself, and an object is written only where it reads
back as the same thing; every other is left out, named, with the parser's own reason. A file
``export`` writes is always one that ``plan`` accepts, and ``plan`` against the same switch finds
nothing to change (what was left out appears in its notes, as anything undeclared does).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from stackwatch.core import record
from stackwatch.core.record import dataclass
from stackwatch.ovs.layout import (
    BridgeSpec,
    Layout,
    LayoutError,
    PortSpec,
    dump_layout,
    parse_layout,
)
from stackwatch.ovs.live import LiveBridge, LivePort, LiveSwitch, port_to_spec
from stackwatch.render.safe import printable

HEADER = "# exported by stackwatch ovs export\n"


@dataclass(frozen=True)
class LeftOut:
    """A live bridge or port that no layout can express."""

    what: str  # "bridge br-x", "port br-int/vhu1"
    reason: str

    def __str__(self) -> str:
        return f"{self.what}: {self.reason}"


@dataclass(frozen=True)
class Export:
    layout: Layout
    left_out: tuple[LeftOut, ...] = ()

    def text(self) -> str:
        """The layout file: what was left out in comments at its head, then the layout."""
        lines = [HEADER]
        if self.left_out:
            lines.append("# left out, since a layout cannot express them:\n")
            lines += [f"#   {printable(str(item))}\n" for item in self.left_out]
        return "".join(lines) + dump_layout(self.layout)


def _not_utf8(value: Any) -> bool:
    """Text holding lone surrogates: bytes that were not UTF-8, which no layout file can hold."""
    if isinstance(value, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, dict):
        return any(_not_utf8(k) or _not_utf8(v) for k, v in value.items())
    if isinstance(value, tuple | list):
        return any(_not_utf8(v) for v in value)
    return False


def _text_problem(spec: BridgeSpec | PortSpec) -> str | None:
    fields = [f.name for f in record.fields(spec) if f.name != "ports"]
    bad = [name for name in fields if _not_utf8(getattr(spec, name))]
    return f"{bad[0]} holds bytes that are not UTF-8" if bad else None


def _shape_problem(port: LivePort) -> str | None:
    """What of a port's interfaces the layout's model (one interface of the port's name, or a
    bond of plain system interfaces) cannot say."""
    if not port.interfaces:
        return "it has no interface"
    if len(port.interfaces) == 1:
        iface = port.interfaces[0]
        if iface.name != port.name:
            return f"its interface is named {iface.name} (a layout gives it the port's name)"
        return None
    for iface in port.interfaces:
        if iface.type != "system":
            return f"bond member {iface.name} is of type {iface.type} (members are system ones)"
        if iface.options:
            return f"bond member {iface.name} has options (a layout gives members none)"
    return None


def _reason(error: LayoutError, kind: str, name: str) -> str:
    """The parser's reason without the ``port NAME:`` it starts with (LeftOut names it)."""
    for prefix in (f"{kind} {name}: ", f"{kind} {name!r}: "):
        if error.reason.startswith(prefix):
            return error.reason[len(prefix) :]
    return error.reason


def _same(written: Layout, read: Layout) -> bool:
    """The layout read back is the one written (line numbers aside)."""

    def plain(layout: Layout) -> list[Any]:
        return [
            record.replace(b, line=0, ports=tuple(record.replace(p, line=0) for p in b.ports))
            for b in layout.bridges
        ]

    return plain(written) == plain(read)


def _round_trip_problem(layout: Layout, kind: str, name: str) -> str | None:
    """Why ``layout``, written and read back, is refused or changed; None where it is not."""
    try:
        read = parse_layout(dump_layout(layout), "export")
    except LayoutError as exc:
        return _reason(exc, kind, name)
    return None if _same(layout, read) else "it does not read back the same from a layout file"


def _interface_names(port: LivePort) -> set[str]:
    """The interface names a port holds live and would declare (the same where it is
    expressible)."""
    return {i.name for i in port.interfaces} | set(port_to_spec(port).interfaces)


@dataclass(frozen=True)
class _Taken:
    """Names that more than one live object holds, in the namespaces a layout keeps unique
    across the switch (bridges; ports with the bridges' own ports; interfaces). OVSDB keeps them
    unique too, so only a lying server repeats one: every holder is left out, since a layout
    naming one of them would move or remove the others."""

    bridges: frozenset[str] = frozenset()
    ports: frozenset[str] = frozenset()
    interfaces: frozenset[str] = frozenset()

    @classmethod
    def of(cls, live: LiveSwitch) -> _Taken:
        bridges = Counter(b.name for b in live.bridges)
        ports = Counter(bridges)
        interfaces = Counter(bridges)
        for bridge in live.bridges:
            for port in bridge.user_ports:
                ports[port.name] += 1
                interfaces.update(_interface_names(port))
        return cls(
            *(frozenset(n for n, c in k.items() if c > 1) for k in (bridges, ports, interfaces))
        )

    def port_problem(self, port: LivePort) -> str | None:
        if port.name in self.ports:
            return "another bridge or port of the switch has the same name"
        shared = sorted(_interface_names(port) & self.interfaces)
        if shared:
            return f"interface {shared[0]} is also a bridge or in another port"
        return None


class _Exporter:
    """Walks the live switch, keeping what a layout expresses and noting what it does not.

    Putting each object through the parser alone costs most of a millisecond; ``each`` is set
    only where the whole layout did not read back (to find which objects are the cause).
    """

    def __init__(self, taken: _Taken, each: bool) -> None:
        self.taken = taken
        self.each = each
        self.left_out: list[LeftOut] = []

    def round_trip_problem(self, layout: Layout, kind: str, name: str) -> str | None:
        return _round_trip_problem(layout, kind, name) if self.each else None

    def leave_out(self, what: str, reason: str) -> None:
        self.left_out.append(LeftOut(what, reason))

    def bridge(self, live: LiveBridge) -> BridgeSpec | None:
        spec = BridgeSpec(
            name=live.name,
            fail_mode=live.fail_mode,
            datapath_type=live.datapath_type,
            other_config=dict(live.other_config),
        )
        problem = (
            ("another bridge has the same name" if live.name in self.taken.bridges else None)
            or _text_problem(spec)
            or self.round_trip_problem(Layout((spec,)), "bridge", live.name)
        )
        if problem:
            ports = f" (and its {len(live.user_ports)} ports)" if live.user_ports else ""
            self.leave_out(f"bridge {live.name}{ports}", problem)
            return None
        return spec

    def port(self, bridge: BridgeSpec, live: LivePort) -> PortSpec | None:
        spec = port_to_spec(live)
        alone = Layout((BridgeSpec(bridge.name, ports=(spec,)),))
        problem = (
            self.taken.port_problem(live)
            or _shape_problem(live)
            or _text_problem(spec)
            or self.round_trip_problem(alone, "port", live.name)
        )
        if problem:
            self.leave_out(f"port {bridge.name}/{live.name}", problem)
            return None
        return spec

    def run(self, live: LiveSwitch, source: str) -> Layout:
        kept = [(spec, b) for b in live.bridges if (spec := self.bridge(b)) is not None]
        bridges = []
        for spec, bridge in kept:
            ports = [p for p in (self.port(spec, port) for port in bridge.user_ports) if p]
            bridges.append(record.replace(spec, ports=tuple(ports)))
        return Layout(tuple(bridges), source)


def export_layout(live: LiveSwitch, source: str = "live switch") -> Export:
    """The layout of ``live`` that a layout file can hold, and what it leaves out, and why."""
    taken = _Taken.of(live)
    exporter = _Exporter(taken, each=False)
    layout = exporter.run(live, source)
    if _round_trip_problem(layout, "layout", source):
        exporter = _Exporter(taken, each=True)
        layout = exporter.run(live, source)
        # each object passed alone; the whole must too: the promise that plan accepts the file
        problem = _round_trip_problem(layout, "layout", source)
        if problem:
            raise LayoutError(source, None, f"cannot export: {problem}")
    return Export(layout, tuple(exporter.left_out))
