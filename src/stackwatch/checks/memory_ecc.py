"""memory-ecc: corrected and uncorrected memory errors counted by the kernel's EDAC drivers.

A DIMM that starts to fail corrects errors for weeks before it corrupts data; without this check
the first sign is a database that crashes or a guest that panics. EDAC counts per memory
controller (mcN), per chip-select row and channel (csrowN/chK_*) and, on newer drivers, per DIMM
(dimmN/ or rankN/) with the DIMM's slot label.
"""

from __future__ import annotations

import re

from stackwatch.checks.sysfs import parse_int, read_attr
from stackwatch.core.findings import Findings
from stackwatch.core.host import Host, HostError
from stackwatch.core.ranges import Range, parse_range
from stackwatch.core.rates import counter_rates, counter_sample
from stackwatch.core.record import dataclass, field
from stackwatch.core.registry import Check, CheckContext
from stackwatch.core.result import Metric, Result, Status, judge_value

EDAC_MC = "/sys/devices/system/edac/mc"
_MC = re.compile(r"^mc[0-9]+\Z")
_CSROW = re.compile(r"^csrow[0-9]+\Z")
_DIMM = re.compile(r"^(dimm|rank)[0-9]+\Z")
_CHANNEL = re.compile(r"^ch([0-9]+)_(ce_count|ue_count|dimm_label)\Z")

SKIP_NO_EDAC = (
    "no EDAC driver: memory errors go unseen here (they then show up as crashing databases and "
    "guests); load the EDAC module for this platform (e.g. modprobe skx_edac, i10nm_edac, "
    "amd64_edac) or read the BMC's event log (ipmitool sel list)"
)
HINT_UE = (
    "uncorrected memory errors corrupt data: move the guests off this host and replace the DIMM "
    "named above (its slot label) before anything else"
)
HINT_UNREAD = (
    "the EDAC counters named above cannot be read: run the check as root, or look at them by "
    "hand (edac-util -v, or the files under /sys/devices/system/edac/mc); until then memory "
    "errors on that controller go unseen"
)
HINT_CE = (
    "corrected errors are rising on the DIMM named above: it is failing; plan its replacement "
    "and move what matters off this host (many DIMMs fail uncorrected after such a period)"
)


@dataclass(frozen=True)
class MemoryUnit:
    """A csrow channel or a DIMM/rank: the smallest place EDAC counts errors for."""

    location: str  # "mc0/csrow1/ch0" or "mc0/dimm3"
    label: str  # the slot label where the driver knows it, else ""
    ce: int | None
    ue: int | None


@dataclass(frozen=True)
class MemoryController:
    name: str
    driver: str
    ce: int | None  # None where the controller's total cannot be read
    ue: int | None
    ce_noinfo: int | None
    ue_noinfo: int | None
    units: tuple[MemoryUnit, ...]
    unreadable: tuple[str, ...] = ()  # counter files that exist but could not be read

    @property
    def row_ue(self) -> int:
        """Uncorrected errors counted below the controller: per DIMM, row or channel, and
        those the driver could not place."""
        return sum(u.ue or 0 for u in self.units) + (self.ue_noinfo or 0)


@dataclass(frozen=True)
class EccFacts:
    controllers: tuple[MemoryController, ...]
    ce_deltas: dict[str, int] = field(default_factory=dict)  # key -> new corrected errors
    resets: tuple[str, ...] = ()
    first_run: bool = True


@dataclass(frozen=True)
class EccOptions:
    warning: Range | None = parse_range("0")  # corrected errors new since the last run, worst DIMM
    critical: Range | None = None  # new corrected errors that are critical; unset: never
    ue_critical: Range | None = parse_range("0")  # uncorrected errors since boot, per controller


def parse_csrow(controller: str, csrow: str, files: dict[str, str]) -> list[MemoryUnit]:
    """The channels of one csrow from its files (name -> text). Where the driver gives no
    per-channel counts, the csrow itself is the unit."""
    channels: dict[str, dict[str, str]] = {}
    for name, text in files.items():
        match = _CHANNEL.match(name)
        if match:
            channels.setdefault(match.group(1), {})[match.group(2)] = text.strip()
    units = []
    for number in sorted(channels, key=int):
        values = channels[number]
        units.append(
            MemoryUnit(
                f"{controller}/{csrow}/ch{number}",
                values.get("dimm_label", ""),
                parse_int(values.get("ce_count")),
                parse_int(values.get("ue_count")),
            )
        )
    if not any(u.ue is not None for u in units) and parse_int(files.get("ue_count")):
        # Per-channel UE counts are missing: keep the row's own count so it is not lost.
        units.append(
            MemoryUnit(f"{controller}/{csrow}", "", None, parse_int(files.get("ue_count")))
        )
    if not units:
        units.append(
            MemoryUnit(
                f"{controller}/{csrow}",
                "",
                parse_int(files.get("ce_count")),
                parse_int(files.get("ue_count")),
            )
        )
    return units


def parse_dimm(controller: str, dimm: str, files: dict[str, str]) -> MemoryUnit:
    """One dimmN/ or rankN/ directory (dimm_ce_count, dimm_ue_count, dimm_label)."""
    label = files.get("dimm_label", "").strip() or files.get("dimm_location", "").strip()
    return MemoryUnit(
        f"{controller}/{dimm}",
        label,
        parse_int(files.get("dimm_ce_count")),
        parse_int(files.get("dimm_ue_count")),
    )


def read_count(host: Host, path: str, unreadable: list[str]) -> int | None:
    """A counter file: its value, None where it does not exist, and None with the reason added
    to ``unreadable`` where it exists but cannot be read or holds no number."""
    try:
        text = host.read_optional(path)
    except HostError as exc:
        unreadable.append(str(exc))
        return None
    if text is None:
        return None
    value = parse_int(text)
    if value is None or value < 0:
        unreadable.append(f"{path}: not a count ({text.strip()[:20]!r})")
        return None
    return value


def _files(host: Host, directory: str, unreadable: list[str]) -> dict[str, str]:
    """The counters and labels of one csrow or DIMM directory; counters that cannot be read are
    left out and named in ``unreadable``."""
    values = {}
    for name in host.listdir(directory):
        path = f"{directory}/{name}"
        if name.endswith("_count"):
            count = read_count(host, path, unreadable)
            if count is not None:
                values[name] = str(count)
        elif name.endswith(("_label", "_location")):
            text = read_attr(host, path)
            if text is not None:
                values[name] = text
    return values


def _read_units(host: Host, name: str, unreadable: list[str]) -> list[MemoryUnit]:
    base = f"{EDAC_MC}/{name}"
    entries = host.listdir(base)
    dimms = [e for e in entries if _DIMM.match(e)]
    if dimms:  # the newer layout describes each DIMM; csrows then repeat the same counts
        return [parse_dimm(name, d, _files(host, f"{base}/{d}", unreadable)) for d in dimms]
    units: list[MemoryUnit] = []
    for csrow in (e for e in entries if _CSROW.match(e)):
        units.extend(parse_csrow(name, csrow, _files(host, f"{base}/{csrow}", unreadable)))
    return units


def read_controller(host: Host, name: str) -> MemoryController:
    base = f"{EDAC_MC}/{name}"
    unreadable: list[str] = []
    units = _read_units(host, name, unreadable)
    counts = {
        key: read_count(host, f"{base}/{key}_count", unreadable)
        for key in ("ce", "ue", "ce_noinfo", "ue_noinfo")
    }
    for key in ("ce", "ue"):
        if counts[key] is None and not any(f"{base}/{key}_count" in u for u in unreadable):
            unreadable.append(f"no {base}/{key}_count")
    return MemoryController(
        name=name,
        driver=read_attr(host, f"{base}/mc_name") or "",
        ce=counts["ce"],
        ue=counts["ue"],
        ce_noinfo=counts["ce_noinfo"],
        ue_noinfo=counts["ue_noinfo"],
        units=tuple(units),
        unreadable=tuple(unreadable),
    )


def collect(ctx: CheckContext[EccOptions]) -> EccFacts:
    names = [n for n in ctx.host.listdir(EDAC_MC) if _MC.match(n)]
    names.sort(key=lambda n: int(n[2:]))
    controllers = tuple(read_controller(ctx.host, n) for n in names)
    current: dict[str, int] = {}
    for mc in controllers:
        if mc.ce is not None:
            current[mc.name] = mc.ce
        for unit in mc.units:
            if unit.ce is not None:
                current[unit.location] = unit.ce
    rates = counter_rates(ctx.state.load().get("ce"), current, ctx.now)
    if controllers:
        ctx.state.save({"ce": counter_sample(current, ctx.now)})
    return EccFacts(controllers, rates.deltas, rates.resets, rates.first_run)


def _unit_name(unit: MemoryUnit) -> str:
    return f"{unit.location} ({unit.label})" if unit.label else unit.location


def _count_text(value: int | None) -> str:
    return "unreadable" if value is None else str(value)


def _controller_details(mc: MemoryController) -> list[str]:
    driver = f" ({mc.driver})" if mc.driver else ""
    noinfo = ""
    if mc.ce_noinfo or mc.ue_noinfo:
        noinfo = f", without location: {mc.ce_noinfo or 0} CE, {mc.ue_noinfo or 0} UE"
    details = [
        f"{mc.name}{driver}: {_count_text(mc.ce)} corrected, {_count_text(mc.ue)} "
        f"uncorrected{noinfo}"
    ]
    for unit in mc.units:
        if unit.ce or unit.ue:
            details.append(f"  {_unit_name(unit)}: {unit.ce or 0} corrected, {unit.ue or 0} UE")
    return details


def _controller_metrics(
    mc: MemoryController, ce_deltas: dict[str, int], options: EccOptions
) -> list[Metric]:
    labels = {"controller": mc.name}
    metrics = []
    if mc.ce is not None:
        metrics.append(Metric("corrected_total", mc.ce, "c", min=0, labels=labels))
    if mc.ue is not None:
        metrics.append(
            Metric("uncorrected_total", mc.ue, "c", crit=options.ue_critical, min=0, labels=labels)
        )
    metrics.append(Metric("corrected_new", ce_deltas.get(mc.name, 0), min=0, labels=labels))
    return metrics


def _judge_uncorrected(found: Findings, mc: MemoryController, options: EccOptions) -> None:
    """The controller's total of uncorrected errors; where that total cannot be read, the
    errors counted per DIMM, row and channel, which are never ignored for want of a total."""
    total = mc.ue if mc.ue is not None else mc.row_ue
    status = judge_value(total, None, options.ue_critical)
    if status == Status.OK:
        return
    where = [_unit_name(u) for u in mc.units if u.ue]
    place = f" on {', '.join(where)}" if where else ""
    unread = " (its total cannot be read: counted per DIMM and row)" if mc.ue is None else ""
    found.problem(status, f"{total} uncorrected memory errors on {mc.name}{place}{unread}", HINT_UE)


def _judge_unreadable(found: Findings, mc: MemoryController) -> None:
    """Counters that exist but cannot be read: the check cannot vouch for this controller."""
    if not mc.unreadable:
        return
    shown = "; ".join(mc.unreadable[:3])
    more = f" and {len(mc.unreadable) - 3} more" if len(mc.unreadable) > 3 else ""
    found.problem(Status.UNKNOWN, f"{mc.name}: cannot read {shown}{more}", HINT_UNREAD)


def _judge_corrected_rising(
    found: Findings, mc: MemoryController, ce_deltas: dict[str, int], options: EccOptions
) -> None:
    """New corrected errors since the last run, on the worst DIMM (named by its slot label) or,
    where the driver does not say which DIMM, on the controller."""
    rising = [(u, ce_deltas.get(u.location, 0)) for u in mc.units]
    rising = [(u, d) for u, d in rising if d > 0]
    controller_delta = ce_deltas.get(mc.name, 0)
    worst_delta = max([d for _, d in rising] + [controller_delta])
    status = judge_value(worst_delta, options.warning, options.critical)
    if status == Status.OK or not (rising or controller_delta):
        return
    if rising:
        named = ", ".join(f"{_unit_name(u)} +{d}" for u, d in rising)
    else:
        named = f"{mc.name} +{controller_delta} (the driver does not say which DIMM)"
    found.problem(status, f"corrected memory errors rising: {named}", HINT_CE)


def _run_notes(facts: EccFacts) -> list[str]:
    notes = []
    if facts.first_run:
        notes.append("first run: rising corrected errors are reported from the next run on")
    if facts.resets:
        notes.append("counters went down since the last run (reboot or driver reload)")
    return notes


def judge(facts: EccFacts, options: EccOptions) -> Result:
    if not facts.controllers:
        return Result("memory-ecc", Status.OK, SKIP_NO_EDAC, skipped=True)
    found = Findings()
    for mc in facts.controllers:
        found.details.extend(_controller_details(mc))
        found.metrics.extend(_controller_metrics(mc, facts.ce_deltas, options))
        _judge_uncorrected(found, mc, options)
        _judge_unreadable(found, mc)
        _judge_corrected_rising(found, mc, facts.ce_deltas, options)
    found.details.extend(_run_notes(facts))
    total_ce = sum(mc.ce or 0 for mc in facts.controllers)
    total_ue = sum(mc.ue or 0 for mc in facts.controllers)
    return found.result(
        "memory-ecc",
        f"{total_ce} corrected, {total_ue} uncorrected errors on "
        f"{len(facts.controllers)} memory controllers, none new",
    )


CHECK = Check(
    "memory-ecc",
    "EDAC memory errors: uncorrected ones, and corrected ones rising on a named DIMM",
    collect,
    judge,
    EccOptions,
)
