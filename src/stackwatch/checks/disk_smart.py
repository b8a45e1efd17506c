"""disk-smart: the SMART signals that predict disk failure, for ATA, SCSI and NVMe disks.

The large field studies of disk failure (Google 2007, Backblaze since) found a few SMART counters
that matter: reallocated sectors, sectors pending reallocation, offline uncorrectable sectors,
reported uncorrectable errors; for NVMe, media errors, the critical-warning bits and wear; for
SCSI, the grown defect list. Any of them above zero makes a disk several times likelier to fail.
They also found that over half of the failed disks showed none of them, so a clean record is no
proof of health: redundancy and backups still matter.
"""

from __future__ import annotations

import json
import re
import threading

from stackwatch.core.config import ConfigError
from stackwatch.core.findings import Findings
from stackwatch.core.host import CommandNotFound, CommandTimeout, Host, HostError
from stackwatch.core.ranges import Range, parse_range
from stackwatch.core.record import dataclass, field
from stackwatch.core.registry import Check, CheckContext, NotApplicable
from stackwatch.core.result import Metric, Result, Status, judge_value, worst

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs a Nagios call more than a check: for the type checker only
    from typing import Any

# ATA attribute id -> the name of the strong signal it carries.
ATA_SIGNALS = {
    5: "reallocated_sectors",
    187: "reported_uncorrectable",
    197: "pending_sectors",
    198: "offline_uncorrectable",
}
NVME_MEDIA = "media_errors"
SCSI_DEFECTS = "grown_defects"
CAVEAT = (
    "a clean SMART record does not prove a disk healthy: over half of the failed disks in the "
    "large field studies showed none of these signals; keep redundancy and tested backups"
)
HINT_FAILING = (
    "replace the disk named above: make sure its RAID/Ceph/ZFS redundancy is intact (or copy its "
    "data off) first; smartctl -a DEVICE shows the full record"
)
HINT_SIGNAL = (
    "this disk is several times likelier to fail soon: check that its data is redundant, run a "
    "long self-test (smartctl -t long DEVICE) and plan its replacement; rising counts mean now"
)
HINT_HOT = "the disk is too hot: check the fans, the airflow and the room temperature"
HINT_UNKNOWN = (
    "a disk that does not answer SMART queries may be failing or its controller hung: run "
    "smartctl -a DEVICE by hand and look for resets of that disk in dmesg; treat it as failing "
    "(check its redundancy) until it answers"
)

# smartctl's exit status is a bit mask (smartctl(8), "RETURN VALUES").
EXIT_CMDLINE = 1 << 0
EXIT_OPEN_FAILED = 1 << 1
EXIT_DISK_FAILING = 1 << 3
EXIT_PREFAIL_BELOW = 1 << 4
EXIT_SELFTEST_ERRORS = 1 << 7


_LEADING_COUNT = re.compile(r"\s*([0-9]+)")
MAX_JSON_CHARS = 8 << 20  # far above any real `smartctl --json --all` (tens of KiB)


class SmartParseError(ValueError):
    pass


@dataclass(frozen=True)
class ScannedDevice:
    name: str
    type: str


@dataclass(frozen=True)
class DiskHealth:
    device: str
    model: str
    serial: str
    protocol: str  # "ATA", "SCSI", "NVMe"
    health_passed: bool | None
    signals: dict[str, int] = field(default_factory=dict)
    nvme_critical_warning: int | None = None
    percentage_used: int | None = None
    self_test_failed: bool = False
    prefail_below_threshold: bool = False
    temperature: int | None = None
    temperature_trip: int | None = None


@dataclass(frozen=True)
class DiskProblem:
    """A disk that did not answer: UNKNOWN for this disk only."""

    device: str
    reason: str


@dataclass(frozen=True)
class SmartFacts:
    disks: tuple[DiskHealth | DiskProblem, ...]
    standby: tuple[str, ...] = ()


@dataclass(frozen=True)
class SmartOptions:
    warning: Range | None = parse_range("0")  # count of each failure signal; above 0 always warns
    critical: Range | None = None  # count of a failure signal that is critical; unset: never
    wear_warning: Range | None = parse_range("80")  # NVMe wear: % of rated endurance used
    wear_critical: Range | None = parse_range("95")  # NVMe wear that is critical, %
    temperature_warning: Range | None = parse_range("55")  # disk temperature, °C
    temperature_critical: Range | None = parse_range("65")  # critical temperature, °C
    command_timeout: float = 20.0  # seconds per disk; a hung disk must not stop the other checks
    parallel: int = 8  # disks read at once: 24 disks, a few slow, must not take 24 timeouts
    devices: list[str] = field(default_factory=list)  # extra "DEVICE TYPE" the scan misses

    def __post_init__(self) -> None:
        if self.parallel < 1:
            raise ConfigError("[checks.disk-smart] parallel: must be at least 1")
        if self.command_timeout <= 0:
            raise ConfigError("[checks.disk-smart] command_timeout: must be above 0 seconds")


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _load(text: str, what: str) -> dict[str, Any]:
    """smartctl's JSON, bounded: a real answer is tens of KiB and a few levels deep, so an
    answer far larger or nested deeper is refused with a reason, never a traceback."""
    if len(text) > MAX_JSON_CHARS:
        raise SmartParseError(
            f"{what}: answer of {len(text)} characters, more than the {MAX_JSON_CHARS} a SMART "
            "record can take"
        )
    try:
        data = json.loads(text)
    except RecursionError:
        raise SmartParseError(f"{what}: JSON nested too deeply to be a SMART record") from None
    except ValueError as exc:
        raise SmartParseError(f"{what}: not JSON ({str(exc)[:200]})") from None
    if not isinstance(data, dict):
        raise SmartParseError(f"{what}: not a JSON object")
    return data


def parse_scan(text: str) -> list[ScannedDevice]:
    """The devices of ``smartctl --scan-open --json``."""
    data = _load(text, "smartctl --scan-open")
    devices = data.get("devices", [])
    if not isinstance(devices, list):
        raise SmartParseError("smartctl --scan-open: 'devices' is not a list")
    found = []
    for entry in devices:
        name = _get(entry, "name")
        kind = _get(entry, "type")
        if isinstance(name, str) and name.startswith("/dev/"):
            found.append(ScannedDevice(name, kind if isinstance(kind, str) else "auto"))
    return found


def _ata_signals(data: dict[str, Any]) -> dict[str, int]:
    signals: dict[str, int] = {}
    table = _get(data, "ata_smart_attributes", "table")
    if not isinstance(table, list):
        return signals
    for attribute in table:
        number = _as_int(_get(attribute, "id"))
        if number in ATA_SIGNALS:
            count = ata_raw_count(_get(attribute, "raw"))
            if count is not None:
                signals[ATA_SIGNALS[number]] = count
    return signals


def ata_raw_count(raw: Any) -> int | None:
    """The count an ATA attribute's raw field carries.

    Some drives pack several values into the 48-bit raw field. smartctl decodes it with the
    format its drive database documents for that model and attribute, and prints the count
    first in ``raw.string`` ("12 (0 3)", "2 2 2", "0/6"); that leading number is the count.
    Where the string gives none, the whole 48-bit ``raw.value`` is the count (smartctl's
    default raw48): never a truncated part of it."""
    string = _get(raw, "string")
    if isinstance(string, str):
        match = _LEADING_COUNT.match(string)
        if match:
            return int(match.group(1))
    return _as_int(_get(raw, "value"))


def _nvme_log(data: dict[str, Any]) -> dict[str, Any]:
    """The NVMe health log (media errors, critical-warning bits, wear); empty for other disks."""
    log = _get(data, "nvme_smart_health_information_log")
    return log if isinstance(log, dict) else {}


def _signals(data: dict[str, Any], nvme: dict[str, Any]) -> dict[str, int]:
    """The strong failure signals this disk reports, whatever its protocol."""
    signals = _ata_signals(data)
    media = _as_int(nvme.get("media_errors"))
    if media is not None:
        signals[NVME_MEDIA] = media
    defects = _as_int(_get(data, "scsi_grown_defect_list"))
    if defects is not None:
        signals[SCSI_DEFECTS] = defects
    return signals


def _self_test_failed(data: dict[str, Any], exit_status: int) -> bool:
    """A failed self-test in smartctl's exit status, the ATA self-test status or the newest
    entry of the NVMe self-test log."""
    if exit_status & EXIT_SELFTEST_ERRORS:
        return True
    if _get(data, "ata_smart_data", "self_test", "status", "passed") is False:
        return True
    nvme_tests = _get(data, "nvme_self_test_log", "table")
    if isinstance(nvme_tests, list) and nvme_tests:
        return _as_int(_get(nvme_tests[0], "self_test_result", "value")) not in (None, 0)
    return False


def _health_passed(data: dict[str, Any], exit_status: int) -> bool | None:
    """The disk's own overall verdict; None where it gives none."""
    if exit_status & EXIT_DISK_FAILING:
        return False
    passed = _get(data, "smart_status", "passed")
    return passed if isinstance(passed, bool) else None


def parse_smart(text: str, device: str = "") -> DiskHealth:
    """One disk from ``smartctl --json --all``."""
    data = _load(text, f"smartctl {device}".strip())
    name = _get(data, "device", "name")
    if not device and isinstance(name, str):
        device = name  # the name asked for wins: the capture may come from another host
    protocol = _get(data, "device", "protocol")
    if not isinstance(protocol, str):
        raise SmartParseError(f"{device}: smartctl gave no device protocol")
    exit_status = _as_int(_get(data, "smartctl", "exit_status")) or 0
    nvme = _nvme_log(data)
    return DiskHealth(
        device=device,
        model=str(_get(data, "model_name") or _get(data, "scsi_model_name") or ""),
        serial=str(_get(data, "serial_number") or ""),
        protocol=protocol,
        health_passed=_health_passed(data, exit_status),
        signals=_signals(data, nvme),
        nvme_critical_warning=_as_int(nvme.get("critical_warning")),
        percentage_used=_as_int(nvme.get("percentage_used")),
        self_test_failed=_self_test_failed(data, exit_status),
        prefail_below_threshold=bool(exit_status & EXIT_PREFAIL_BELOW),
        temperature=_as_int(_get(data, "temperature", "current")),
        temperature_trip=_as_int(_get(data, "temperature", "drive_trip")),
    )


def _is_standby(text: str) -> bool:
    try:
        data = _load(text, "smartctl")
    except SmartParseError:
        return False
    messages = _get(data, "smartctl", "messages")
    return isinstance(messages, list) and any(
        "STANDBY" in str(_get(m, "string")).upper() for m in messages
    )


def read_disk(host: Host, device: ScannedDevice, timeout: float) -> DiskHealth | DiskProblem | str:
    """One disk's SMART record, the reason it could not be read, or its name where it sleeps
    (spun down: not woken up just to be read)."""
    argv = ["smartctl", "--json", "--all", "--nocheck=standby", "-d", device.type, device.name]
    try:
        answer = host.run(argv, timeout=timeout, check=False)
    except CommandTimeout:
        return DiskProblem(device.name, f"no answer within {timeout:g} s")
    except HostError as exc:
        return DiskProblem(device.name, str(exc))
    if answer.returncode & EXIT_OPEN_FAILED and _is_standby(answer.stdout):
        return device.name
    if answer.returncode & (EXIT_CMDLINE | EXIT_OPEN_FAILED):
        reason = answer.stderr.strip().splitlines()[-1:] or [f"exit {answer.returncode}"]
        return DiskProblem(device.name, f"smartctl could not read it ({reason[0]})")
    try:
        return parse_smart(answer.stdout, device.name)
    except SmartParseError as exc:
        return DiskProblem(device.name, str(exc))


def _read_disk_safely(
    host: Host, device: ScannedDevice, timeout: float
) -> DiskHealth | DiskProblem | str:
    """read_disk in a worker thread: whatever goes wrong is this disk's UNKNOWN, never a
    traceback on stderr and a disk silently left out."""
    try:
        return read_disk(host, device, timeout)
    except Exception as exc:  # a worker thread has no caller to hand it to
        return DiskProblem(device.name, f"could not be read: {type(exc).__name__}: {exc}")


def read_disks(
    host: Host, devices: list[ScannedDevice], timeout: float, parallel: int
) -> list[DiskHealth | DiskProblem | str]:
    """Every disk, in the order given, read by at most ``parallel`` smartctl processes at once.

    Each disk has its own timeout, so a few disks that do not answer cost about one timeout,
    not one each. The workers are daemon threads: when the engine's overall time limit stops
    this check, the program does not wait for them. (Plain threads rather than
    concurrent.futures, whose import alone costs more than reading /proc.)"""
    answers: list[DiskHealth | DiskProblem | str] = [
        DiskProblem(d.name, "not read (the check was stopped)") for d in devices
    ]
    queue = iter(range(len(devices)))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                index = next(queue, None)
            if index is None:
                return
            answers[index] = _read_disk_safely(host, devices[index], timeout)

    workers = [
        threading.Thread(target=work, name="smartctl", daemon=True)
        for _ in range(min(parallel, len(devices)))
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return answers


def collect(ctx: CheckContext[SmartOptions]) -> SmartFacts:
    host, options = ctx.host, ctx.options
    try:
        scan = host.run(["smartctl", "--scan-open", "--json"], check=False)
    except CommandNotFound:
        raise NotApplicable("smartctl is not installed (apt install smartmontools)") from None
    try:
        devices = parse_scan(scan.stdout)
    except SmartParseError as exc:
        raise HostError(str(exc)) from None
    for extra in options.devices:
        name, _, kind = extra.partition(" ")
        devices.append(ScannedDevice(name, kind.strip() or "auto"))
    if not devices:
        raise NotApplicable("smartctl found no disks (a virtual machine, or disks behind RAID)")
    answers = read_disks(host, devices, options.command_timeout, options.parallel)
    disks = tuple(a for a in answers if not isinstance(a, str))
    standby = tuple(a for a in answers if isinstance(a, str))
    return SmartFacts(disks, standby)


def _label(disk: DiskHealth) -> str:
    model = f" {disk.model}" if disk.model else ""
    serial = f" s/n {disk.serial}" if disk.serial and disk.serial != "REDACTED" else ""
    return f"{disk.device}{model}{serial}"


def _judge_failure_flags(found: Findings, disk: DiskHealth) -> None:
    """What the disk itself says: its overall verdict, NVMe warnings, self-tests, thresholds."""
    if disk.health_passed is False:
        found.problem(Status.CRITICAL, "overall health FAILED", HINT_FAILING)
    if disk.nvme_critical_warning:
        found.problem(
            Status.CRITICAL,
            f"NVMe critical warning 0x{disk.nvme_critical_warning:02x}",
            HINT_FAILING,
        )
    if disk.self_test_failed:
        found.problem(Status.CRITICAL, "a self-test failed", HINT_FAILING)
    if disk.prefail_below_threshold:
        found.problem(
            Status.WARNING, "a pre-failure attribute is at or below its threshold", HINT_SIGNAL
        )


def _judge_signals(found: Findings, disk: DiskHealth, options: SmartOptions) -> None:
    for name, count in disk.signals.items():
        status = judge_value(count, options.warning, options.critical)
        if count > 0:
            status = worst([status, Status.WARNING])  # any strong signal above zero
        if status != Status.OK:
            found.problem(status, f"{name.replace('_', ' ')} {count}", HINT_SIGNAL)


def _judge_wear(found: Findings, used: int, options: SmartOptions) -> None:
    status = judge_value(used, options.wear_warning, options.wear_critical)
    if status != Status.OK:
        found.problem(status, f"{used}% of its rated endurance used", HINT_SIGNAL)


def _judge_temperature(found: Findings, disk: DiskHealth, options: SmartOptions) -> None:
    if disk.temperature is None:
        return
    status = judge_value(
        disk.temperature, options.temperature_warning, options.temperature_critical
    )
    if disk.temperature_trip and disk.temperature >= disk.temperature_trip:
        status = Status.CRITICAL  # the drive's own trip point outranks any configured range
    if status != Status.OK:
        found.problem(status, f"temperature {disk.temperature} °C", HINT_HOT)


def judge_disk(disk: DiskHealth, options: SmartOptions) -> Findings:
    """The statuses, problems and hints of one disk."""
    found = Findings()
    _judge_failure_flags(found, disk)
    _judge_signals(found, disk, options)
    if disk.percentage_used is not None:
        _judge_wear(found, disk.percentage_used, options)
    _judge_temperature(found, disk, options)
    return found


def _disk_detail(disk: DiskHealth, status: Status) -> str:
    signals = ", ".join(f"{k} {v}" for k, v in disk.signals.items()) or "no counters"
    temp = f", {disk.temperature} °C" if disk.temperature is not None else ""
    wear = f", {disk.percentage_used}% used" if disk.percentage_used is not None else ""
    return f"{_label(disk)} ({disk.protocol}): {status.name}; {signals}{wear}{temp}"


def _disk_metrics(disk: DiskHealth, options: SmartOptions) -> list[Metric]:
    labels = {"device": disk.device.removeprefix("/dev/")}
    metrics = [
        Metric(name, count, warn=options.warning, crit=options.critical, min=0, labels=labels)
        for name, count in disk.signals.items()
    ]
    if disk.temperature is not None:
        metrics.append(
            Metric(
                "temperature",
                disk.temperature,
                warn=options.temperature_warning,
                crit=options.temperature_critical,
                labels=labels,
            )
        )
    if disk.percentage_used is not None:
        metrics.append(
            Metric(
                "used",
                disk.percentage_used,
                "%",
                warn=options.wear_warning,
                crit=options.wear_critical,
                min=0,
                labels=labels,
            )
        )
    return metrics


def _judge_one(found: Findings, disk: DiskHealth, options: SmartOptions) -> None:
    """One disk into the whole: its problems become one clause of the summary, after its name."""
    verdict = judge_disk(disk, options)
    status = worst(verdict.statuses)
    found.statuses.append(status)
    found.hints.extend(verdict.hints)
    found.details.append(_disk_detail(disk, status))
    if verdict.problems:
        found.problems.append(f"{disk.device}: {', '.join(verdict.problems)}")
    found.metrics.extend(_disk_metrics(disk, options))


def judge(facts: SmartFacts, options: SmartOptions) -> Result:
    found = Findings()
    for disk in facts.disks:
        if isinstance(disk, DiskProblem):
            found.problem(Status.UNKNOWN, f"{disk.device}: UNKNOWN, {disk.reason}", HINT_UNKNOWN)
            found.details.append(f"{disk.device}: UNKNOWN, {disk.reason}")
        else:
            _judge_one(found, disk, options)
    for device in facts.standby:
        found.details.append(f"{device}: in standby, not woken up to be read")
    found.details.append(CAVEAT)
    count = sum(1 for d in facts.disks if isinstance(d, DiskHealth))
    return found.result("disk-smart", f"{count} disks, no failure signals")


CHECK = Check(
    "disk-smart",
    "SMART failure signals of every ATA, SCSI and NVMe disk (smartctl)",
    collect,
    judge,
    SmartOptions,
)
