"""temperature: hwmon sensors against their own max and crit limits, or configured ranges.

A failed fan or a blocked air intake first shows as CPUs running hot and throttling (everything
on the host slows down), then as a shutdown. The sensor drivers know each chip's limits; where
they do not, or where the operator knows better, ranges can be configured per sensor.
"""

from __future__ import annotations

import re

from stackwatch.checks.sysfs import matches_any, parse_int
from stackwatch.core.findings import Findings
from stackwatch.core.host import Host, HostError
from stackwatch.core.ranges import Range
from stackwatch.core.record import dataclass, field
from stackwatch.core.registry import Check, CheckContext, NotApplicable
from stackwatch.core.result import Metric, Result, Status, judge_value

HWMON = "/sys/class/hwmon"
_TEMP_FILE = re.compile(r"^temp([0-9]+)_(input|max|crit|label|crit_alarm|max_alarm)\Z")
HINT_UNREAD = (
    "a sensor whose reading fails is often a failing sensor or chip: look at it with sensors "
    "(lm-sensors) and the BMC (ipmitool sdr type Temperature); list it in [checks.temperature] "
    "ignore once you know it is harmless"
)
HINT = (
    "check the fans (ipmitool sdr type Fan, sensors), the air intake and the room; a CPU near "
    "its critical temperature throttles and then shuts the host down"
)


@dataclass(frozen=True)
class Sensor:
    chip: str  # the hwmon driver's name, e.g. coretemp
    label: str  # the sensor's label, or temp1 where the driver gives none
    celsius: float
    max: float | None = None
    crit: float | None = None
    alarm: bool = False  # the chip itself raised its crit or max alarm

    @property
    def key(self) -> str:
        return f"{self.chip}/{self.label}"


@dataclass(frozen=True)
class UnreadSensor:
    """A sensor whose reading exists but cannot be read: a fault, not an absent sensor."""

    chip: str
    label: str
    why: str  # the path and the error

    @property
    def key(self) -> str:
        return f"{self.chip}/{self.label}"


@dataclass(frozen=True)
class TemperatureFacts:
    sensors: tuple[Sensor, ...]
    unread: tuple[UnreadSensor, ...] = ()


@dataclass(frozen=True)
class SensorLimits:
    warning: Range | None = None  # °C for the sensors this pattern names
    critical: Range | None = None  # critical °C for the sensors this pattern names


@dataclass(frozen=True)
class TemperatureOptions:
    warning: Range | None = None  # °C for every sensor, in place of each sensor's own max
    critical: Range | None = None  # °C for every sensor, in place of each sensor's own crit
    sensors: dict[str, SensorLimits] = field(default_factory=dict)  # ranges per "chip/label"
    ignore: list[str] = field(default_factory=list)  # "chip/label" patterns never judged


def _millidegrees(text: str | None) -> float | None:
    value = parse_int(text)
    return None if value is None else value / 1000.0


def parse_hwmon(chip: str, files: dict[str, str]) -> list[Sensor]:
    """The temperature sensors of one hwmon directory from its files (name -> text).
    Limits of zero or below are placeholders some drivers export, and are ignored."""
    by_number: dict[str, dict[str, str]] = {}
    for name, text in files.items():
        match = _TEMP_FILE.match(name)
        if match:
            by_number.setdefault(match.group(1), {})[match.group(2)] = text.strip()
    sensors = []
    for number in sorted(by_number, key=int):
        values = by_number[number]
        celsius = _millidegrees(values.get("input"))
        if celsius is None:
            continue
        limit_max = _millidegrees(values.get("max"))
        limit_crit = _millidegrees(values.get("crit"))
        sensors.append(
            Sensor(
                chip=chip,
                label=values.get("label") or f"temp{number}",
                celsius=celsius,
                max=limit_max if limit_max and limit_max > 0 else None,
                crit=limit_crit if limit_crit and limit_crit > 0 else None,
                alarm=values.get("crit_alarm") == "1",
            )
        )
    return sensors


def unreadable_inputs(files: dict[str, str]) -> dict[str, str]:
    """The sensors whose input file holds no integer (number -> text): pure, for the parser's
    callers to report what ``parse_hwmon`` leaves out."""
    bad = {}
    for name, text in files.items():
        match = _TEMP_FILE.match(name)
        if match and match.group(2) == "input" and parse_int(text) is None:
            bad[match.group(1)] = text.strip()[:20]
    return bad


def _read_dir(host: Host, directory: str, errors: dict[str, str]) -> dict[str, str]:
    """The temperature files of one hwmon directory; inputs that exist but cannot be read go
    to ``errors`` (sensor number -> the path and the error)."""
    files = {}
    for name in host.listdir(directory):
        match = _TEMP_FILE.match(name)
        if not match and name != "name":
            continue
        try:
            text = host.read_optional(f"{directory}/{name}")
        except HostError as exc:
            if match and match.group(2) == "input":
                errors[match.group(1)] = str(exc)
            continue
        if text is not None:
            files[name] = text.strip()
    return files


def _read_chip(host: Host, entry: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """One hwmon entry: its chip name, its temperature files and its unreadable inputs."""
    directory = f"{HWMON}/{entry}"
    errors: dict[str, str] = {}
    files = _read_dir(host, directory, errors)
    if not any(k.startswith("temp") for k in files) and not errors:
        # Older drivers keep their attributes in the device directory.
        files = {**_read_dir(host, f"{directory}/device", errors), **files}
    for number, text in unreadable_inputs(files).items():
        errors[number] = f"{directory}/temp{number}_input: not a temperature ({text!r})"
    chip = files.pop("name", "") or entry
    return chip, files, errors


def collect(ctx: CheckContext[TemperatureOptions]) -> TemperatureFacts:
    sensors: list[Sensor] = []
    unread: list[UnreadSensor] = []
    ignore = ctx.options.ignore
    for entry in ctx.host.listdir(HWMON):
        chip, files, errors = _read_chip(ctx.host, entry)
        sensors.extend(s for s in parse_hwmon(chip, files) if not matches_any(s.key, ignore))
        for number, why in sorted(errors.items()):
            sensor = UnreadSensor(chip, files.get(f"temp{number}_label") or f"temp{number}", why)
            if not matches_any(sensor.key, ignore):
                unread.append(sensor)
    if not sensors and not unread:
        raise NotApplicable(
            "no hwmon temperature sensors (a virtual machine, or the sensor driver is not "
            "loaded: try sensors-detect, or modprobe coretemp / k10temp)"
        )
    return TemperatureFacts(tuple(sensors), tuple(unread))


def limits_for(sensor: Sensor, options: TemperatureOptions) -> tuple[Range | None, Range | None]:
    """Configured per-sensor ranges, then the global ones, then the sensor's own limits."""
    for pattern, limits in options.sensors.items():
        if matches_any(sensor.key, [pattern]):
            return limits.warning, limits.critical
    if options.warning is not None or options.critical is not None:
        return options.warning, options.critical
    warn = Range(float("-inf"), sensor.max) if sensor.max is not None else None
    crit = Range(float("-inf"), sensor.crit) if sensor.crit is not None else None
    # At the limit counts as reached, as the chips' own alarms do.
    warn = Range(warn.start, warn.end - 0.001) if warn else None
    crit = Range(crit.start, crit.end - 0.001) if crit else None
    return warn, crit


def _judge_unread(found: Findings, facts: TemperatureFacts) -> None:
    """Sensors that cannot be read: WARNING beside readable ones, UNKNOWN where none is."""
    status = Status.WARNING if facts.sensors else Status.UNKNOWN
    for sensor in facts.unread:
        found.details.append(f"{sensor.key}: cannot be read: {sensor.why}")
    if facts.unread:
        names = ", ".join(f"{s.key} ({s.why})" for s in facts.unread[:3])
        more = f" and {len(facts.unread) - 3} more" if len(facts.unread) > 3 else ""
        found.problem(status, f"cannot read {names}{more}", HINT_UNREAD)


def judge(facts: TemperatureFacts, options: TemperatureOptions) -> Result:
    found = Findings()
    _judge_sensors(found, facts, options)
    _judge_unread(found, facts)
    if not facts.sensors:
        return found.result("temperature", "no sensor could be read")
    hottest = max(facts.sensors, key=lambda s: s.celsius)
    return found.result(
        "temperature",
        f"{len(facts.sensors)} sensors within limits, hottest {hottest.key} {hottest.celsius:g} °C",
    )


def _judge_sensors(found: Findings, facts: TemperatureFacts, options: TemperatureOptions) -> None:
    seen: dict[str, int] = {}
    for sensor in facts.sensors:
        warn, crit = limits_for(sensor, options)
        status = judge_value(sensor.celsius, warn, crit)
        if sensor.alarm:
            status = Status.CRITICAL
        limits = []
        if sensor.max is not None:
            limits.append(f"max {sensor.max:g}")
        if sensor.crit is not None:
            limits.append(f"crit {sensor.crit:g}")
        own = f" ({', '.join(limits)})" if limits else ""
        found.details.append(f"{sensor.key}: {sensor.celsius:g} °C{own} {status.name}")
        if status != Status.OK:
            alarm = ", chip alarm" if sensor.alarm else ""
            found.problem(status, f"{sensor.key} at {sensor.celsius:g} °C{own}{alarm}", HINT)
        # Two chips of one driver (coretemp.0, coretemp.1) may share labels: keep names apart.
        seen[sensor.key] = seen.get(sensor.key, 0) + 1
        suffix = f"#{seen[sensor.key]}" if seen[sensor.key] > 1 else ""
        found.metrics.append(
            Metric(
                "temperature",
                sensor.celsius,
                # The limits this sensor was judged by: its own max and crit unless configured.
                warn=warn,
                crit=crit,
                labels={"chip": sensor.chip, "sensor": sensor.label + suffix},
            )
        )


CHECK = Check(
    "temperature",
    "hwmon temperature sensors against their own limits or configured ranges",
    collect,
    judge,
    TemperatureOptions,
)
