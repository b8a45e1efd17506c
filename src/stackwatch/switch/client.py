"""Asking agents: SNMP v2c and v3 authPriv through ezsnmp (net-snmp), many devices at once.

Why ezsnmp and not pysnmp 7 (bench/switch_client.py measures both on the same recordings): its
wheel bundles net-snmp, whose C code decodes the replies. Importing it costs about 5 ms and
walking a switch's ports about 10 ms of CPU, against about 370 ms and 400 ms for pysnmp, whose
ASN.1 decoding is pure Python; a Nagios check runs every minute on every switch. ezsnmp is
synchronous, but net-snmp waits for replies without holding the GIL, so one thread per device
walks a fleet concurrently.

Every device gets the same deadline (``timeout``): a device that has not answered in full by
then (silent, slow, a walk that never ends) is reported with that reason; the other devices'
answers are kept. Secrets are handed to net-snmp in memory, never on a command line.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from stackwatch.core.record import dataclass, field
from stackwatch.switch.octets import DecodeError
from stackwatch.switch.values import MAX_OCTETS, Index, Kind, Value, Walked

NO_VALUE = {"NOSUCHOBJECT", "NOSUCHINSTANCE", "ENDOFMIBVIEW"}
INTEGER_TYPES = {
    "INTEGER": Kind.INTEGER,
    "INTEGER32": Kind.INTEGER,
    "Counter32": Kind.COUNTER32,
    "Counter64": Kind.COUNTER64,
    "Gauge32": Kind.GAUGE32,
    "UInteger32": Kind.GAUGE32,
    "Unsigned32": Kind.GAUGE32,
}


class SnmpError(Exception):
    """An agent did not answer, or answered something that is not SNMP we can use."""


@dataclass(frozen=True)
class Credentials:
    """v2c: ``community``. v3 authPriv: user, auth and privacy protocols and passphrases."""

    version: str  # "2c" or "3"
    community: str = ""
    user: str = ""
    auth_protocol: str = "SHA"
    auth_password: str = ""
    priv_protocol: str = "AES"
    priv_password: str = ""
    context: str = ""  # SNMPv3 context name

    def __repr__(self) -> str:  # never print a secret by accident
        return f"Credentials(version={self.version!r}, user={self.user!r})"


@dataclass(frozen=True)
class Target:
    name: str  # as the inventory or the command line names it
    host: str
    port: int
    credentials: Credentials


Keep = Callable[[frozenset[str]], Collection[str]]
Rows = Mapping[str, Mapping[Index, Value]]
Details = Callable[[Rows], Mapping[str, Collection[Index]]]


@dataclass(frozen=True)
class Request:
    """What to read from each device: columns to walk, scalars (``X.0``) to get.

    ``starts``: where a column's walk begins (an OID inside it), where only its rows past that
    are wanted. ``keep``: given the columns the first GETNEXT found rows in, those worth
    walking on (a table needed only beside another one that this agent does not have).
    ``details``: given the rows walked, the rows of other columns to get one by one (columns
    needed for a few rows only: the VLAN bitmaps of the ports that are trunks)."""

    columns: Sequence[str]
    scalars: Sequence[str] = ()
    timeout: float = 10.0  # for the whole device
    max_repetitions: int = 10
    starts: Mapping[str, str] = field(default_factory=dict)
    keep: Keep | None = None
    details: Details | None = None


@dataclass(frozen=True)
class Reading:
    target: Target
    walked: Walked | None
    error: str | None = None
    seconds: float = 0.0


Fetcher = Callable[[Target, Request], Walked]
GRACE = 0.5  # each reading ends by its deadline; this is for the thread to hand it over


# --- one device ---------------------------------------------------------------------------


VARBINDS_PER_REQUEST = 60  # columns x repetitions per GETBULK: agents cap replies (snmpsim 64)
GETS_PER_REQUEST = 8  # OIDs per GET: 8 bitmaps of 128 bytes fit a 1500-byte reply (Cisco)
PROBE_COLUMNS = 30  # columns in the first GETNEXT
END_OF_VIEW = "No more variables"  # how ezsnmp shows endOfMibView in a GETBULK reply


def _session(target: Target, request: Request) -> Any:
    import ezsnmp

    creds = target.credentials
    common: dict[str, Any] = {
        "hostname": target.host,
        "port_number": str(target.port),
        "timeout": f"{max(0.05, request.timeout / 2):.2f}",
        "retries": "1",
        "print_oids_numerically": True,
        "print_full_oids": True,
        "print_enums_numerically": True,
        "set_max_repeaters_to_num": str(request.max_repetitions),
    }
    if creds.version == "3":
        return ezsnmp.Session(
            version="3",
            security_level="authPriv",
            security_username=creds.user,
            auth_protocol=creds.auth_protocol,
            auth_passphrase=creds.auth_password,
            privacy_protocol=creds.priv_protocol,
            privacy_passphrase=creds.priv_password,
            context=creds.context,
            **common,
        )
    return ezsnmp.Session(version="2c", community=creds.community, **common)


def fetch(target: Target, request: Request) -> Walked:
    """Walk the columns and get the scalars of one device (ezsnmp); raises SnmpError. Every
    request's wait is bounded by what is left of ``request.timeout``, with one retry, so the
    whole reading ends by the deadline."""
    import ezsnmp

    deadline = time.monotonic() + request.timeout
    progress = [0]  # replies received: a timeout after some is a slow agent, not a silent one
    try:
        session = _session(target, request)
        scalars, columns = _read(session, request, deadline, progress)
    except ezsnmp.TimeoutError:
        if progress[0]:
            raise SnmpError(_too_slow(progress[0], request.timeout)) from None
        raise SnmpError("no answer (timeout)") from None
    except (ezsnmp.ConnectionError, ezsnmp.GenericError, ezsnmp.PacketError) as exc:
        raise SnmpError(_one_line(exc)) from None
    except ezsnmp.ParseError as exc:
        raise SnmpError(f"refused by net-snmp: {_one_line(exc)}") from None
    return Walked(columns, scalars)


def _too_slow(replies: int, timeout: float) -> str:
    return f"answers too slowly: {replies} replies, no complete answer within {timeout:g}s"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def _bound(session: Any, deadline: float) -> bool:
    """The next request waits at most half of what is left, twice (one retry); False where
    nothing is left."""
    left = deadline - time.monotonic()
    if left <= 0.02:
        return False
    session.timeout = f"{left / 2:.3f}"
    return True


@functools.lru_cache(maxsize=4096)  # each cursor is the OID of the reply before: parsed once
def _oid_key(oid: str) -> tuple[int, ...]:
    return tuple(map(int, oid.split(".")))


def _read(
    session: Any, request: Request, deadline: float, progress: list[int]
) -> tuple[dict[str, Value | None], dict[str, dict[Index, Value]]]:
    """The scalars and the columns of ``request``: the scalars ride along in the first
    GETNEXT (that of ``X`` answers ``X.0`` where the agent has it)."""
    scalars: dict[str, Value | None] = dict.fromkeys(request.scalars)
    parents = {s.rpartition(".")[0]: s for s in request.scalars if s.endswith(".0")}
    rows = _walk_columns(session, request, deadline, progress, parents)
    for parent, scalar in parents.items():
        found = rows.pop(parent, {})
        scalars[scalar] = found.get((0,))
    missing = [s for s in request.scalars if not s.endswith(".0")]
    if missing:
        scalars.update(_get(session, missing, deadline))
        progress[0] += 1
    if request.details is not None:
        _get_rows(session, request.details(rows), rows, deadline, progress)
    return scalars, rows


def _get_rows(
    session: Any,
    wanted: Mapping[str, Collection[Index]],
    rows: dict[str, dict[Index, Value]],
    deadline: float,
    progress: list[int],
) -> None:
    """GET the rows ``wanted`` (column -> indexes) into ``rows``; a row the agent does not
    have stays absent."""
    where = {
        f"{column}.{'.'.join(map(str, index))}": (column, index)
        for column, indexes in wanted.items()
        for index in sorted(indexes)
    }
    names = list(where)
    for first in range(0, len(names), GETS_PER_REQUEST):
        found = _get(session, names[first : first + GETS_PER_REQUEST], deadline)
        progress[0] += 1
        for oid, value in found.items():
            if value is not None:
                column, index = where[oid]
                rows.setdefault(column, {})[index] = value


def _walk_columns(
    session: Any,
    request: Request,
    deadline: float,
    progress: list[int],
    probe_only: Collection[str] = (),
) -> dict[str, dict[Index, Value]]:
    """Walk several columns side by side. One GETNEXT of every column first finds the empty
    ones (a switch has either the Cisco or the Q-BRIDGE tables) and the first row of the
    others; ``request.keep`` then drops the columns not worth walking on; then each GETBULK
    asks the next rows of a few columns at once, each column continuing from its last row
    until a reply leaves it. ``probe_only``: OIDs asked in the first GETNEXT alone."""
    columns = [*probe_only, *request.columns]
    rows: dict[str, dict[Index, Value]] = {column: {} for column in columns}
    cursor = {column: request.starts.get(column, column) for column in columns}
    active = list(columns)
    for first in range(0, len(columns), PROBE_COLUMNS):
        batch = columns[first : first + PROBE_COLUMNS]
        if not _bound(session, deadline):
            raise SnmpError(_too_slow(progress[0], request.timeout))
        finished = _take(session.get_next([cursor[c] for c in batch]), batch, cursor, rows)
        progress[0] += 1
        active = [c for c in active if c not in finished]
    active = _kept(request, rows, active, probe_only)
    per_request = max(1, VARBINDS_PER_REQUEST // max(1, request.max_repetitions))
    while active:
        batch = active[:per_request]
        if not _bound(session, deadline):
            raise SnmpError(_too_slow(progress[0], request.timeout))
        replies = session.bulk_get([cursor[c] for c in batch])
        progress[0] += 1
        finished = _take(replies, batch, cursor, rows)  # an empty reply ends the batch
        active = [c for c in active if c not in finished]
    return rows


def _kept(
    request: Request,
    rows: dict[str, dict[Index, Value]],
    active: list[str],
    probe_only: Collection[str],
) -> list[str]:
    """The columns still to walk after the first GETNEXT: not the probe-only ones, and only
    those ``request.keep`` wants; the first row of a dropped column is forgotten, so that no
    column is ever seen in part."""
    walking = [c for c in active if c not in probe_only]
    if request.keep is None:
        return walking
    wanted = set(request.keep(frozenset(c for c in request.columns if rows[c])))
    for column in request.columns:
        if column not in wanted:
            rows[column] = {}
    return [c for c in walking if c in wanted]


def _take(
    replies: Sequence[Any],
    batch: Sequence[str],
    cursor: dict[str, str],
    rows: dict[str, dict[Index, Value]],
) -> set[str]:
    """File each varbind of a reply under its column (replies repeat the batch's order);
    the columns the reply left are returned as finished."""
    finished: set[str] = set()
    for number, reply in enumerate(replies):
        column = batch[number % len(batch)]
        if column in finished:
            continue
        oid = _full_oid(reply)
        kind = str(reply.type)
        if kind in NO_VALUE or END_OF_VIEW in kind or not oid.startswith(column + "."):
            finished.add(column)
            continue
        key = _oid_key(oid)
        if key <= _oid_key(cursor[column]):
            raise SnmpError(f"{oid}: the agent went backwards (OID not increasing)")
        value = convert(kind, str(reply.value), oid)
        if value is not None:
            rows[column][key[column.count(".") + 1 :]] = value
        cursor[column] = oid
    if not replies:
        finished.update(batch)
    return finished


def _get(session: Any, scalars: Sequence[str], deadline: float) -> dict[str, Value | None]:
    found: dict[str, Value | None] = dict.fromkeys(scalars)
    if not _bound(session, deadline):
        raise SnmpError("no time left for a request")
    for result in session.get(list(scalars)):
        oid = _full_oid(result)
        if oid in found:
            found[oid] = convert(str(result.type), str(result.value), oid)
    return found


def _full_oid(result: Any) -> str:
    oid = str(result.oid).lstrip(".")
    index = str(result.index)
    return f"{oid}.{index}" if index else oid


def convert(kind: str, text: str, oid: str = "") -> Value | None:
    """A value as net-snmp printed it (type name, text) -> Value; None for noSuchObject,
    noSuchInstance and endOfMibView. Raises SnmpError where the text is not of its type."""
    if kind in NO_VALUE:
        return None
    try:
        return _convert(kind, text)
    except ValueError:
        raise SnmpError(f"{oid}: {kind} value {text[:40]!r} unreadable") from None


def _convert(kind: str, text: str) -> Value:
    if kind in INTEGER_TYPES:
        return Value(INTEGER_TYPES[kind], int(text.split("(")[-1].rstrip(")")))
    if kind == "Timeticks":  # "(492446481) 56 days, 23:54:24.81"
        return Value(Kind.TIMETICKS, int(text.split(")")[0].lstrip("(")))
    if kind == "Hex-STRING":
        return Value(Kind.OCTETS, _bounded(bytes.fromhex(text)))
    if kind in ("STRING", '""'):
        return Value(Kind.OCTETS, _bounded(text.encode("utf-8", "surrogateescape")))
    if kind == "OID":
        return Value(Kind.OID, text)
    if kind == "IpAddress":
        return Value(Kind.IPADDRESS, text)
    return Value(Kind.OTHER, text)


def _bounded(data: bytes) -> bytes:
    if len(data) > MAX_OCTETS:
        raise ValueError("longer than an SNMP message")
    return data


# --- many devices -------------------------------------------------------------------------


_LATE: list[threading.Thread] = []  # readers still running past their deadline


def still_reading() -> bool:
    """True while a reader abandoned at its deadline still runs (a name lookup that hangs, a
    library that ignores its timeout): the process must then end with os._exit, since
    net-snmp's C++ wrapper aborts when the interpreter is torn down under a running call."""
    return any(thread.is_alive() for thread in _LATE)


def read_all(
    targets: Sequence[Target], request: Request, fetcher: Fetcher = fetch
) -> list[Reading]:
    """Read every target concurrently (one thread each); every one answers or is reported
    within ``request.timeout`` seconds. Results are in the order of ``targets``."""
    slots: list[Reading | None] = [None] * len(targets)
    threads = []
    started = time.monotonic()
    for number, target in enumerate(targets):
        thread = threading.Thread(
            target=_read_one, args=(slots, number, target, request, fetcher), daemon=True
        )
        thread.start()
        threads.append(thread)
    deadline = started + request.timeout + GRACE
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    _LATE.extend(thread for thread in threads if thread.is_alive())
    late = f"no complete answer within {request.timeout:g}s (--timeout)"
    return [
        slot if slot is not None else Reading(target, None, late, request.timeout)
        for slot, target in zip(slots, targets, strict=True)
    ]


def _read_one(
    slots: list[Reading | None], number: int, target: Target, request: Request, fetcher: Fetcher
) -> None:
    started = time.monotonic()
    try:
        walked = fetcher(target, request)
    except (SnmpError, DecodeError) as exc:
        slots[number] = Reading(target, None, str(exc), time.monotonic() - started)
        return
    except Exception as exc:  # a library fault must not take the other devices down
        slots[number] = Reading(
            target, None, f"SNMP failed: {_one_line(exc)}", time.monotonic() - started
        )
        return
    slots[number] = Reading(target, walked, None, time.monotonic() - started)
