"""links: the state of physical NICs and bonds, their error and drop rates, and their bandwidth.

A bond keeps a server online after a member dies, so nobody notices until the second one goes.
A rising error rate (a bad cable or optic, a duplex mismatch) comes before the outage. Virtual
devices (tap, vnet, veth, OVS internal ports, bridges) report "unknown" even when they work, so
they are left out unless the configuration names them.
"""

from __future__ import annotations

from stackwatch.checks.bonds import BondParseError as BondParseError
from stackwatch.checks.bonds import (
    BondStatus,
    bond_problems,
    live_members,
    member_details,
    read_bond,
)
from stackwatch.checks.bonds import parse_proc_bonding as parse_proc_bonding
from stackwatch.checks.sysfs import matches_any, read_attr, read_int_attr
from stackwatch.core.findings import Findings
from stackwatch.core.host import Host
from stackwatch.core.ranges import Range, parse_range
from stackwatch.core.rates import CounterRates, counter_rates, counter_sample
from stackwatch.core.record import dataclass, field
from stackwatch.core.registry import Check, CheckContext, NotApplicable
from stackwatch.core.result import Metric, Result, Status, judge_value, worst

NET = "/sys/class/net"
LinksParseError = BondParseError  # the name the links check has always raised
PROC_NET_DEV = "/proc/net/dev"
IFF_UP = 0x1

# The counters of /proc/net/dev, in its column order (receive then transmit).
DEV_COLUMNS = (
    "rx_bytes",
    "rx_packets",
    "rx_errors",
    "rx_dropped",
    "rx_fifo_errors",
    "rx_frame_errors",
    "rx_compressed",
    "multicast",
    "tx_bytes",
    "tx_packets",
    "tx_errors",
    "tx_dropped",
    "tx_fifo_errors",
    "collisions",
    "tx_carrier_errors",
    "tx_compressed",
)
WATCHED_COUNTERS = (
    "rx_bytes",
    "tx_bytes",
    "rx_packets",
    "tx_packets",
    "rx_errors",
    "tx_errors",
    "rx_dropped",
    "tx_dropped",
    "rx_frame_errors",
    "tx_carrier_errors",
)
ERROR_COUNTERS = ("rx_errors", "tx_errors")  # frame and carrier errors are counted in these
DROP_COUNTERS = ("rx_dropped", "tx_dropped")

HINT_DOWN = (
    "check the cable, the optic and the switch port of each link named above (ip link; "
    "ethtool IFACE; the switch's interface log); set an unused port down (ip link set IFACE "
    "down) or list it in [checks.links] ignore"
)
HINT_BOND = (
    "a bond with a dead member has no redundancy left: check that member's cable and switch port "
    "now, and for 802.3ad that the switch has the port in the same LACP channel"
)
HINT_ERRORS = (
    "rising errors mean a bad cable or optic, a duplex or speed mismatch, or a failing NIC: "
    "compare ethtool -S IFACE with the switch port's counters; replace the cable or optic first"
)
HINT_DROPS = (
    "drops mean the host cannot keep up: look at ring buffers (ethtool -g), interrupts and CPU "
    "load, and at the traffic that fills the link"
)
HINT_UNREAD = (
    "what the bonding driver says about that bond could not be read: look at "
    "/proc/net/bonding/BOND and ip -d link show BOND by hand, and run the check where it can read "
    "/sys/class/net (as root, or outside a restricted container)"
)
HINT_NO_COUNTERS = (
    "errors and drops of the links named above cannot be judged: their counters are in neither "
    "/proc/net/dev nor /sys/class/net/IFACE/statistics (a restricted container, or /proc not "
    "mounted)"
)
HINT_BANDWIDTH = (
    "the link is nearly full: find the top talkers (iftop, nload), spread the traffic over a bond "
    "or move to a faster link"
)


@dataclass(frozen=True)
class Interface:
    name: str
    kind: str  # "physical", "bond" or "virtual"
    operstate: str
    carrier: int | None
    admin_up: bool
    speed_mbps: int | None
    master: str | None = None
    bond: BondStatus | None = None


@dataclass(frozen=True)
class LinksFacts:
    interfaces: tuple[Interface, ...]
    counters: dict[str, dict[str, int]]  # interface -> counter -> value
    rates: dict[str, dict[str, float]] = field(default_factory=dict)
    deltas: dict[str, dict[str, int]] = field(default_factory=dict)
    resets: tuple[str, ...] = ()  # "eth0:rx_bytes"
    first_run: bool = True
    left_out: tuple[str, ...] = ()  # virtual or ignored devices, for the details
    dev_lines_skipped: int = 0  # lines of /proc/net/dev that could not be read


@dataclass(frozen=True)
class LinksOptions:
    warning: Range | None = parse_range("0.01")  # errors (rx+tx) as % of packets since last run
    critical: Range | None = parse_range("1")  # errors as % of packets that are critical
    drop_warning: Range | None = parse_range("1")  # drops as % of packets since the last run
    drop_critical: Range | None = None  # drops as % of packets that are critical; unset: never
    error_rate_warning: Range | None = None  # errors per second, where a share is not wanted
    bandwidth_warning: Range | None = parse_range("80")  # traffic as % of link speed, in or out
    bandwidth_critical: Range | None = parse_range("95")  # traffic as % of speed that is critical
    watch: list[str] = field(default_factory=list)  # name patterns; empty: physical NICs and bonds
    ignore: list[str] = field(default_factory=list)  # name patterns never watched (unused ports)
    min_packets: int = 1000  # fewer packets since the last run: shares are not judged


@dataclass(frozen=True)
class NetDevTable:
    rows: dict[str, dict[str, int]]  # interface -> counter -> value
    skipped: int = 0  # lines that name an interface but whose counters could not be read


def read_proc_net_dev(text: str) -> NetDevTable:
    """Counters per interface from /proc/net/dev. A line whose counters are not 16 plain
    (ASCII) numbers is skipped and counted: one bad line does not hide the others."""
    rows: dict[str, dict[str, int]] = {}
    skipped = 0
    for line in text.split("\n"):  # only "\n" ends a line here: splitlines() would also cut at
        # \x1c, \x85 or U+2028, which an interface name may hold.
        # Interface names never hold ":" (dev_valid_name), and the two header lines have none;
        # a name may hold "|" and any other byte, so nothing else marks a header.
        name, sep, rest = line.partition(":")
        name = name.strip()
        if not sep or not name:
            continue  # the two header lines, blank lines
        cells = rest.split()
        if len(cells) != len(DEV_COLUMNS) or not all(c.isascii() and c.isdigit() for c in cells):
            skipped += 1
            continue
        rows[name] = {col: int(cell) for col, cell in zip(DEV_COLUMNS, cells, strict=True)}
    return NetDevTable(rows, skipped)


def parse_proc_net_dev(text: str) -> dict[str, dict[str, int]]:
    """Counters per interface from /proc/net/dev; lines that cannot be read are skipped."""
    return read_proc_net_dev(text).rows


def _kind(host: Host, name: str) -> str:
    base = f"{NET}/{name}"
    if host.is_dir(f"{base}/bonding"):
        return "bond"
    if host.is_dir(f"{base}/bridge"):
        return "virtual"
    target = host.readlink(base)
    if target is not None:
        return "virtual" if "/virtual/" in target else "physical"
    return "physical" if host.exists(f"{base}/device") else "virtual"


def _read_interface(host: Host, name: str, kind: str) -> Interface:
    base = f"{NET}/{name}"
    flags = read_int_attr(host, f"{base}/flags")
    speed = read_int_attr(host, f"{base}/speed")
    master = host.readlink(f"{base}/master")
    bond = read_bond(host, name) if kind == "bond" else None
    return Interface(
        name=name,
        kind=kind,
        operstate=read_attr(host, f"{base}/operstate") or "unknown",
        carrier=read_int_attr(host, f"{base}/carrier"),
        admin_up=True if flags is None else bool(flags & IFF_UP),
        speed_mbps=speed if speed is not None and speed > 0 else None,
        master=master.rstrip("/").rsplit("/", 1)[-1] if master else None,
        bond=bond,
    )


def _counters_from_sysfs(host: Host, name: str) -> dict[str, int]:
    values = {}
    for counter in WATCHED_COUNTERS:
        value = read_int_attr(host, f"{NET}/{name}/statistics/{counter}")
        if value is not None:
            values[counter] = value
    return values


def _choose_interfaces(host: Host, options: LinksOptions) -> tuple[list[Interface], list[str]]:
    """The interfaces to watch (physical NICs and bonds, or those ``watch`` names) read from
    sysfs, and the names left out."""
    names = [n for n in host.listdir(NET) if host.is_dir(f"{NET}/{n}")]
    if not names:
        raise NotApplicable(f"no network interfaces under {NET}")
    watched: list[Interface] = []
    left_out: list[str] = []
    for name in names:
        if matches_any(name, options.ignore) or name == "lo":
            left_out.append(name)
            continue
        kind = _kind(host, name)
        default = kind in ("physical", "bond")
        chosen = matches_any(name, options.watch) if options.watch else default
        if not chosen:
            left_out.append(name)
            continue
        watched.append(_read_interface(host, name, kind))
    if not watched:
        raise NotApplicable(
            "no physical NICs or bonds here (virtual devices are left out unless "
            "[checks.links] watch names them)"
        )
    return watched, left_out


def _read_counters(host: Host, watched: list[Interface]) -> tuple[dict[str, dict[str, int]], int]:
    """The watched counters of each interface (/proc/net/dev, else sysfs statistics), and how
    many lines of /proc/net/dev could not be read."""
    dev = NetDevTable({})
    if host.exists(PROC_NET_DEV):
        # Decoded as os.listdir decodes names, so that an interface whose name is not UTF-8
        # has the same name in /proc/net/dev as under /sys/class/net.
        dev = read_proc_net_dev(host.read_bytes(PROC_NET_DEV).decode("utf-8", "surrogateescape"))
    counters: dict[str, dict[str, int]] = {}
    for iface in watched:
        row = dev.rows.get(iface.name)
        if row is None:
            row = _counters_from_sysfs(host, iface.name)
        counters[iface.name] = {c: row[c] for c in WATCHED_COUNTERS if c in row}
    return counters, dev.skipped


def _per_interface(
    rates: CounterRates,
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, int]]]:
    """Rates and deltas keyed "eth0:rx_bytes" regrouped by interface. One counter that went
    down means the device was reset: none of that interface's rates can be trusted."""
    per_rate: dict[str, dict[str, float]] = {}
    per_delta: dict[str, dict[str, int]] = {}
    reset_ifaces = {key.rpartition(":")[0] for key in rates.resets}
    for key, rate in rates.rates.items():
        iface_name, _, counter = key.rpartition(":")
        if iface_name in reset_ifaces:
            continue
        per_rate.setdefault(iface_name, {})[counter] = rate
        per_delta.setdefault(iface_name, {})[counter] = rates.deltas[key]
    return per_rate, per_delta


def collect(ctx: CheckContext[LinksOptions]) -> LinksFacts:
    watched, left_out = _choose_interfaces(ctx.host, ctx.options)
    counters, skipped = _read_counters(ctx.host, watched)
    flat = {f"{n}:{c}": v for n, row in counters.items() for c, v in row.items()}
    rates = counter_rates(ctx.state.load().get("counters"), flat, ctx.now)
    ctx.state.save({"counters": counter_sample(flat, ctx.now)})
    per_rate, per_delta = _per_interface(rates)
    return LinksFacts(
        interfaces=tuple(watched),
        counters=counters,
        rates=per_rate,
        deltas=per_delta,
        resets=rates.resets,
        first_run=rates.first_run,
        left_out=tuple(left_out),
        dev_lines_skipped=skipped,
    )


def _share(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole > 0 else 0.0


def _bits(rate: float) -> str:
    for unit, size in (("Gb/s", 1e9), ("Mb/s", 1e6), ("kb/s", 1e3)):
        if rate >= size:
            return f"{rate / size:.1f} {unit}"
    return f"{rate:.0f} b/s"


def _is_up(iface: Interface) -> bool:
    return iface.operstate == "up" or (iface.operstate == "unknown" and iface.carrier == 1)


def _labels(iface: Interface) -> dict[str, str]:
    return {"interface": iface.name}


def _judge_bond_members(found: Findings, iface: Interface, bond: BondStatus) -> None:
    found.details.extend(member_details(bond))
    for status, problem in bond_problems(bond):
        found.problem(status, problem, HINT_BOND if status != Status.UNKNOWN else HINT_UNREAD)
    found.metrics.append(
        Metric(
            "bond_live_members",
            live_members(bond),
            min=0,
            max=len(bond.members),
            labels=_labels(iface),
        )
    )


def _judge_link_state(found: Findings, iface: Interface, members_of_bonds: set[str]) -> bool:
    """Up or down, and the bond's members; False where the interface is administratively down,
    which is a choice, not a fault: it is not judged further."""
    up = _is_up(iface)
    found.metrics.append(Metric("up", 1 if up else 0, min=0, max=1, labels=_labels(iface)))
    speed = f", {iface.speed_mbps} Mb/s" if iface.speed_mbps else ""
    found.details.append(f"{iface.name} ({iface.kind}): {iface.operstate}{speed}")
    if not iface.admin_up:
        found.details.append(f"{iface.name}: administratively down, not judged")
        return False
    if iface.bond is not None:
        _judge_bond_members(found, iface, iface.bond)
    # A bond member that is down is the bond's problem, said once there.
    if not up and iface.name not in members_of_bonds:
        found.problem(
            Status.CRITICAL,
            f"{iface.name} is {iface.operstate} (carrier {iface.carrier})",
            HINT_DOWN,
        )
    return True


class Traffic:
    """One interface's packets, errors and drops since the last run, and their rates. (A plain
    class: defining a dataclass costs more at import than this check spends judging.)"""

    def __init__(self, deltas: dict[str, int], rates: dict[str, float]) -> None:
        self.packets = deltas.get("rx_packets", 0) + deltas.get("tx_packets", 0)
        self.errors = sum(deltas.get(c, 0) for c in ERROR_COUNTERS)
        self.drops = sum(deltas.get(c, 0) for c in DROP_COUNTERS)
        self.error_rate = sum(rates.get(c, 0.0) for c in ERROR_COUNTERS)
        self.drop_rate = sum(rates.get(c, 0.0) for c in DROP_COUNTERS)
        self.error_share = _share(self.errors, self.packets)
        self.drop_share = _share(self.drops, self.packets)


def _traffic_metrics(
    iface: Interface, traffic: Traffic, rates: dict[str, float], options: LinksOptions
) -> list[Metric]:
    labels = _labels(iface)
    metrics = [
        Metric("errors_rate", round(traffic.error_rate, 4), "/s", min=0, labels=labels),
        Metric("drops_rate", round(traffic.drop_rate, 4), "/s", min=0, labels=labels),
        Metric(
            "errors",
            round(traffic.error_share, 4),
            "%",
            warn=options.warning,
            crit=options.critical,
            min=0,
            labels=labels,
        ),
        Metric("drops", round(traffic.drop_share, 4), "%", min=0, labels=labels),
    ]
    for counter in ("rx_frame_errors", "tx_carrier_errors"):
        if counter in rates:
            metrics.append(
                Metric(f"{counter}_rate", round(rates[counter], 4), "/s", min=0, labels=labels)
            )
    return metrics


def _traffic_details(name: str, traffic: Traffic, deltas: dict[str, int]) -> list[str]:
    details = []
    if traffic.errors:
        details.append(
            f"{name}: {traffic.errors} errors in {traffic.packets} packets "
            f"({traffic.error_share:.3f}%), frame {deltas.get('rx_frame_errors', 0)}, "
            f"carrier {deltas.get('tx_carrier_errors', 0)}"
        )
    if traffic.drops:
        details.append(
            f"{name}: {traffic.drops} drops in {traffic.packets} packets "
            f"({traffic.drop_share:.3f}%)"
        )
    return details


def _judge_errors_and_drops(
    found: Findings, name: str, traffic: Traffic, options: LinksOptions
) -> None:
    """Shares of too few packets say nothing (one error in ten packets is 10%): below
    ``min_packets`` only the optional error rate is judged."""
    judged = traffic.packets >= options.min_packets
    error_status = (
        judge_value(traffic.error_share, options.warning, options.critical) if judged else Status.OK
    )
    if options.error_rate_warning is not None:
        error_status = worst(
            [error_status, judge_value(traffic.error_rate, options.error_rate_warning, None)]
        )
    if error_status != Status.OK:
        found.problem(
            error_status,
            f"{name} errors {traffic.error_share:.3f}% ({traffic.error_rate:.2f}/s)",
            HINT_ERRORS,
        )
    if not judged:
        return
    drop_status = judge_value(traffic.drop_share, options.drop_warning, options.drop_critical)
    if drop_status != Status.OK:
        found.problem(drop_status, f"{name} drops {traffic.drop_share:.2f}% of packets", HINT_DROPS)


def _judge_link_use(
    found: Findings, iface: Interface, direction: str, bps: float, options: LinksOptions
) -> None:
    """One direction's traffic as a share of the link's speed (``iface.speed_mbps`` is known)."""
    speed_mbps = iface.speed_mbps or 0
    used = 100.0 * bps / (speed_mbps * 1e6)
    found.metrics.append(
        Metric(
            f"bandwidth_{direction}",
            round(used, 2),
            "%",
            warn=options.bandwidth_warning,
            crit=options.bandwidth_critical,
            min=0,
            max=100,
            labels=_labels(iface),
        )
    )
    found.details.append(
        f"{iface.name} {direction}: {_bits(bps)} ({used:.1f}% of {speed_mbps} Mb/s)"
    )
    status = judge_value(used, options.bandwidth_warning, options.bandwidth_critical)
    if status != Status.OK:
        found.problem(
            status, f"{iface.name} {direction} at {used:.0f}% of its speed", HINT_BANDWIDTH
        )


def _judge_bandwidth(
    found: Findings, iface: Interface, rates: dict[str, float], options: LinksOptions
) -> None:
    for direction, counter in (("in", "rx_bytes"), ("out", "tx_bytes")):
        if counter not in rates:
            continue
        bps = rates[counter] * 8
        found.metrics.append(
            Metric(f"bits_{direction}", round(bps, 1), "/s", min=0, labels=_labels(iface))
        )
        if iface.speed_mbps:
            _judge_link_use(found, iface, direction, bps, options)
        else:
            found.details.append(f"{iface.name} {direction}: {_bits(bps)}")


def _judge_interface(
    found: Findings, iface: Interface, facts: LinksFacts, options: LinksOptions, members: set[str]
) -> None:
    if not _judge_link_state(found, iface, members):
        return
    deltas = facts.deltas.get(iface.name, {})
    rates = facts.rates.get(iface.name, {})
    if not deltas:  # first run, or its counters were reset: no rates to judge
        return
    traffic = Traffic(deltas, rates)
    found.metrics.extend(_traffic_metrics(iface, traffic, rates, options))
    found.details.extend(_traffic_details(iface.name, traffic, deltas))
    _judge_errors_and_drops(found, iface.name, traffic, options)
    _judge_bandwidth(found, iface, rates, options)


def _run_notes(facts: LinksFacts) -> list[str]:
    """What this run could not judge, and what it left out."""
    notes = []
    if facts.first_run:
        notes.append("rates: first run, error, drop and bandwidth rates from the next run on")
    if facts.resets:
        reset_ifaces = sorted({r.rpartition(":")[0] for r in facts.resets})
        notes.append(
            "counters went down since the last run (reboot or driver reload), no rate this time: "
            + ", ".join(reset_ifaces)
        )
    if facts.left_out:
        notes.append("left out (virtual or ignored): " + ", ".join(facts.left_out))
    if facts.dev_lines_skipped:
        lines = "line" if facts.dev_lines_skipped == 1 else "lines"
        notes.append(
            f"{facts.dev_lines_skipped} {lines} of {PROC_NET_DEV} could not be read: skipped"
        )
    return notes


def _judge_unread_counters(found: Findings, facts: LinksFacts) -> None:
    """A watched link whose counters cannot be read is said, not silently left unjudged."""
    blind = [i.name for i in facts.interfaces if i.admin_up and not facts.counters.get(i.name)]
    if blind:
        found.problem(
            Status.WARNING,
            f"no traffic counters for {', '.join(blind)} (in neither {PROC_NET_DEV} nor "
            f"{NET}/IFACE/statistics)",
            HINT_NO_COUNTERS,
        )


def judge(facts: LinksFacts, options: LinksOptions) -> Result:
    found = Findings()
    members_of_bonds = {m.name for i in facts.interfaces if i.bond for m in i.bond.members}
    for iface in facts.interfaces:
        _judge_interface(found, iface, facts, options, members_of_bonds)
    _judge_unread_counters(found, facts)
    found.details.extend(_run_notes(facts))
    names = ", ".join(i.name for i in facts.interfaces)
    return found.result("links", f"{len(facts.interfaces)} links up ({names})")


CHECK = Check(
    "links",
    "NIC and bond state, error and drop rates, bandwidth against link speed",
    collect,
    judge,
    LinksOptions,
)
