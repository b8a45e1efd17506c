"""nagios.log lines as facts: a pure parser of the lines that say what happened to what, when.

Each kind of line has its own field order (Nagios Core 4, base/logging.c and notifications.c)::

    [1700000000] SERVICE ALERT: host;service;STATE;HARD|SOFT;attempt;output
    [1700000000] HOST ALERT: host;STATE;HARD|SOFT;attempt;output
    [1700000000] SERVICE NOTIFICATION: contact;host;service;STATE;command;output[;author;comment]
    [1700000000] HOST NOTIFICATION: contact;host;STATE;command;output[;author;comment]
    [1700000000] SERVICE FLAPPING ALERT: host;service;STARTED|STOPPED|DISABLED;message
    [1700000000] HOST FLAPPING ALERT: host;STARTED|STOPPED|DISABLED;message
    [1700000000] CURRENT SERVICE STATE: host;service;STATE;HARD|SOFT;attempt;output
    [1700000000] CURRENT HOST STATE: host;STATE;HARD|SOFT;attempt;output

(INITIAL ... STATE lines have the fields of CURRENT ones.) The plugin output is the last field and
may itself hold ``;``, so every line is split at most into its own number of fields. The log is
written by Nagios but its content comes from plugins and from whoever names hosts: a line that is
cut, has too few fields or an impossible value is returned as ``Malformed`` with the reason, never
an exception.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

SERVICE_STATES = frozenset(("OK", "WARNING", "CRITICAL", "UNKNOWN"))
HOST_STATES = frozenset(("UP", "DOWN", "UNREACHABLE"))
STATE_TYPES = frozenset(("HARD", "SOFT"))
FLAPPING = frozenset(("STARTED", "STOPPED", "DISABLED"))
MAX_STAMP_DIGITS = 12  # epoch seconds up to the year 33658: anything longer is not a time


class Entry(NamedTuple):
    """One line that says something happened to a host or a service.

    ``kind`` is one of KINDS; ``service`` is "" for host lines; ``state_type`` is HARD, SOFT or ""
    (notifications and flapping); ``attempt`` 0 where the line has none; ``detail`` is the
    notification type (PROBLEM, RECOVERY, ACKNOWLEDGEMENT, FLAPPINGSTART...) or the flapping
    change (STARTED, STOPPED, DISABLED); ``contact`` and ``command`` only for notifications.
    """

    time: int
    kind: str
    host: str
    service: str
    state: str
    state_type: str
    attempt: int
    detail: str
    contact: str
    output: str


class Malformed(NamedTuple):
    """A line that could not be read, and why (cut, too few fields, a value that cannot be)."""

    reason: str


class Other(NamedTuple):
    """A well-formed line of a kind that is not an alert (LOG ROTATION, EXTERNAL COMMAND...)."""

    time: int
    kind: str


SERVICE_ALERT = "SERVICE ALERT"
HOST_ALERT = "HOST ALERT"
SERVICE_NOTIFICATION = "SERVICE NOTIFICATION"
HOST_NOTIFICATION = "HOST NOTIFICATION"
SERVICE_FLAPPING = "SERVICE FLAPPING ALERT"
HOST_FLAPPING = "HOST FLAPPING ALERT"
CURRENT_SERVICE = "CURRENT SERVICE STATE"
CURRENT_HOST = "CURRENT HOST STATE"
ACKNOWLEDGEMENT = "ACKNOWLEDGEMENT"  # kind of an EXTERNAL COMMAND acknowledging a problem
KINDS = (
    SERVICE_ALERT,
    HOST_ALERT,
    SERVICE_NOTIFICATION,
    HOST_NOTIFICATION,
    SERVICE_FLAPPING,
    HOST_FLAPPING,
    CURRENT_SERVICE,
    CURRENT_HOST,
    ACKNOWLEDGEMENT,
)
_ALIASES = {"INITIAL SERVICE STATE": CURRENT_SERVICE, "INITIAL HOST STATE": CURRENT_HOST}
_ACK_COMMANDS = ("ACKNOWLEDGE_SVC_PROBLEM;", "ACKNOWLEDGE_HOST_PROBLEM;")

Parsed = Entry | Other | Malformed
_Reader = Callable[[int, str], Parsed]


def parse_line(line: str) -> Parsed:
    """Read one line of nagios.log (without its newline)."""
    if not line.startswith("["):
        return Malformed("does not start with [timestamp]")
    close = line.find("] ", 1, MAX_STAMP_DIGITS + 3)  # "[", the digits, "] "
    stamp = line[1:close] if close > 1 else ""
    if not stamp.isdecimal():  # int() reads every decimal digit, ASCII or not
        return Malformed("does not start with [timestamp]")
    when = int(stamp)
    body = line[close + 2 :]
    colon = body.find(": ")
    if colon < 0:
        return Other(when, "")  # "Auto-save of retention data completed successfully."
    kind = body[:colon]
    kind = _ALIASES.get(kind, kind)
    reader = _READERS.get(kind)
    if reader is None:
        return _other(when, kind, body[colon + 2 :])
    return reader(when, body[colon + 2 :])


def _other(when: int, kind: str, fields: str) -> Other | Entry | Malformed:
    """Lines that are not alerts; an acknowledgement is kept, since it means a person acted."""
    if kind == "EXTERNAL COMMAND" and fields.startswith(_ACK_COMMANDS):
        parts = fields.split(";", 3)
        service = parts[2] if fields.startswith(_ACK_COMMANDS[0]) and len(parts) > 2 else ""
        if len(parts) < 2 or not parts[1] or (fields.startswith(_ACK_COMMANDS[0]) and not service):
            return Malformed("acknowledgement without host or service")
        return Entry(when, ACKNOWLEDGEMENT, parts[1], service, "", "", 0, "", "", "")
    return Other(when, kind)


def _too_few(kind: str, found: int, wanted: int) -> Malformed:
    return Malformed(f"{kind} with {found} fields, expected {wanted}")


def _target(
    kind: str, fields: str, service: bool, before: int, after: int
) -> tuple[str, str, list[str]] | Malformed:
    """The fields of one line: ``before`` leading ones, the host, the service (for a service
    line) and ``after`` more, the last taking the rest (plugin output may hold ``;``). Returns
    (host, service, the other fields in order), or why the line cannot be read."""
    wanted = before + 1 + service + after
    parts = fields.split(";", wanted - 1)
    if len(parts) < wanted:
        return _too_few(kind, len(parts), wanted)
    host, name = parts[before], parts[before + 1] if service else ""
    if not host or (service and not name):
        return Malformed(f"{kind} without a host or service name")
    return host, name, parts[:before] + parts[before + 1 + service :]


def _state_change(kind: str, service: bool) -> _Reader:
    """SERVICE/HOST ALERT and CURRENT/INITIAL STATE: [host;service;]STATE;TYPE;attempt;output."""
    states = SERVICE_STATES if service else HOST_STATES

    def read(when: int, fields: str) -> Parsed:
        found = _target(kind, fields, service, 0, 4)
        if isinstance(found, Malformed):
            return found
        host, name, (state, state_type, attempt, output) = found
        if state not in states or state_type not in STATE_TYPES:
            return Malformed(f"{kind} with state {state[:20]!r} type {state_type[:20]!r}")
        if not (attempt.isdecimal() and len(attempt) < 6):
            return Malformed(f"{kind} with attempt {attempt[:20]!r}")
        return Entry(when, kind, host, name, state, state_type, int(attempt), "", "", output)

    return read


def _notification(kind: str, service: bool) -> _Reader:
    """contact;host;[service;]STATE;command;output (STATE may be 'TYPE (STATE)')."""

    def read(when: int, fields: str) -> Parsed:
        found = _target(kind, fields, service, 1, 3)
        if isinstance(found, Malformed):
            return found
        host, name, (contact, state, _command, output) = found
        detail, state = _notification_state(state)
        if not state:
            return Malformed(f"{kind} without a state")
        return Entry(when, kind, host, name, state, "", 0, detail, contact, output)

    return read


def _notification_state(text: str) -> tuple[str, str]:
    """'CRITICAL' -> (PROBLEM, CRITICAL); 'ACKNOWLEDGEMENT (CRITICAL)' -> (ACKNOWLEDGEMENT, ...)."""
    if text.endswith(")") and " (" in text:
        detail, _, state = text[:-1].partition(" (")
        return detail, state
    return ("RECOVERY" if text in ("OK", "UP") else "PROBLEM"), text


def _flapping(kind: str, service: bool) -> _Reader:
    """host;[service;]STARTED|STOPPED|DISABLED;message."""

    def read(when: int, fields: str) -> Parsed:
        found = _target(kind, fields, service, 0, 2)
        if isinstance(found, Malformed):
            return found
        host, name, (change, message) = found
        if change not in FLAPPING:
            return Malformed(f"{kind} with change {change[:20]!r}")
        return Entry(when, kind, host, name, "", "", 0, change, "", message)

    return read


_READERS: dict[str, _Reader] = {
    SERVICE_ALERT: _state_change(SERVICE_ALERT, service=True),
    CURRENT_SERVICE: _state_change(CURRENT_SERVICE, service=True),
    HOST_ALERT: _state_change(HOST_ALERT, service=False),
    CURRENT_HOST: _state_change(CURRENT_HOST, service=False),
    SERVICE_NOTIFICATION: _notification(SERVICE_NOTIFICATION, service=True),
    HOST_NOTIFICATION: _notification(HOST_NOTIFICATION, service=False),
    SERVICE_FLAPPING: _flapping(SERVICE_FLAPPING, service=True),
    HOST_FLAPPING: _flapping(HOST_FLAPPING, service=False),
}
