"""Access-log formats: an Apache ``LogFormat`` string compiled into one bytes regular expression.

Only the fields a command needs become capturing groups, and the expression runs over large
blocks of the file at once (``re.MULTILINE``), so counting Referers in two million lines costs
one C-level scan instead of a Python loop per line. Every field pattern excludes the newline, so a
match never spans lines, and quoted fields accept backslash escapes (Apache writes ``\\"``, nginx
``\\x22``) so a quote inside a Referer cannot shift the fields that follow it.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Callable, Iterable
from operator import itemgetter
from typing import Any, cast

from stackwatch.core.record import dataclass

NAMED_FORMATS: dict[str, str] = {
    "common": '%h %l %u %t "%r" %>s %b',
    "combined": '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"',
    "vhost_combined": '%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"',
    # nginx's predefined "combined" writes the same fields in the same places.
    "nginx": '%h - %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"',
}

# The field names commands ask for.
FIELDS = ("ip", "time", "request", "status", "size", "referrer", "agent", "vhost", "path")

_QUOTED = rb'[^"\\\n]*(?:\\.[^"\\\n]*)*'
_TOKEN = rb"[^ \n]*"
_BRACKETED = rb"[^\]\n]*"
# The fast path's fields: the careful ones without escapes and with the newline let in, so each
# is one character excluded (the regex engine's quickest loop, twice as fast as a set). On a block
# without any backslash the escape branches of _QUOTED are never taken; and where every match
# takes exactly one line (what the fast path checks: matches == lines) no field crossed a newline.
# Within one line both patterns then explore the same choices in the same order and find the same
# match (see fastcount.py).
_FAST_BODY = {_QUOTED: rb'[^"]*', _TOKEN: rb"[^ ]*", _BRACKETED: rb"[^\]]*"}
_DIRECTIVE = re.compile(r"%([<>]?)(?:\{([^}]*)\})?([a-zA-Z%])")


class FormatError(ValueError):
    """A LogFormat string that cannot be compiled."""


@dataclass(frozen=True)
class _Piece:
    literal: bytes | None = None
    field: str | None = None  # our name, or None for a field nobody asks for
    quoted: bool = False
    bracketed: bool = False  # %t carries its own [ ]


# Directive letter -> our field name (%t and %{...}i are read apart: they depend on the argument).
_FIELD_OF_LETTER = {
    "h": "ip", "a": "ip", "r": "request", "s": "status", "b": "size", "B": "size", "O": "size",
    "I": "size", "v": "vhost", "V": "vhost", "U": "path",
}  # fmt: skip
_FIELD_OF_HEADER = {"referer": "referrer", "referrer": "referrer", "user-agent": "agent"}


def _field_name(modifier: str, argument: str | None, letter: str) -> str | None:
    """Our name for a directive's field, or None for a field no command reads."""
    if letter == "t":
        return "time" if argument is None else None  # %{format}t: a time we cannot parse
    if letter == "i":
        return _FIELD_OF_HEADER.get(argument.lower()) if argument is not None else None
    return _FIELD_OF_LETTER.get(letter)


class LogFormat:
    """A compiled LogFormat: ``pattern(fields)`` gives a regex whose groups are those fields."""

    def __init__(self, spec: str, name: str | None = None) -> None:
        self.spec = spec
        self.name = name or spec
        self._pieces = self._compile(spec)
        self.fields = frozenset(p.field for p in self._pieces if p.field)
        self._cache: dict[tuple[str, ...], Matcher] = {}

    @staticmethod
    def _compile(spec: str) -> list[_Piece]:
        if not spec.strip():
            raise FormatError("empty log format")
        pieces: list[_Piece] = []
        pos = 0
        for match in _DIRECTIVE.finditer(spec):
            literal = spec[pos : match.start()]
            pos = match.end()
            modifier, argument, letter = match.groups()
            if letter == "%":
                literal += "%"
                if literal:
                    pieces.append(_Piece(literal=literal.encode()))
                continue
            if literal:
                pieces.append(_Piece(literal=literal.encode()))
            quoted = spec[match.start() - 1 : match.start()] == '"' and spec[pos : pos + 1] == '"'
            name = _field_name(modifier, argument, letter)
            if any(p.field == name for p in pieces if name):
                name = None  # the first occurrence wins (e.g. "%h" twice)
            pieces.append(
                _Piece(field=name, quoted=quoted, bracketed=letter == "t" and argument is None)
            )
        rest = spec[pos:]
        if "%" in rest:
            raise FormatError(f"log format: cannot read directive at {rest[:20]!r}")
        if rest:
            pieces.append(_Piece(literal=rest.encode()))
        if not any(p.field for p in pieces):
            raise FormatError(f"log format {spec!r} has no field stackwatch can use")
        return pieces

    def matcher(self, fields: Iterable[str]) -> Matcher:
        """Finds the wanted fields in a block of whole lines: ``findall`` gives one bytes value
        per matching line (one field) or one tuple in the order asked for (several)."""
        return self._matcher(tuple(fields), fast=False)

    def fast_matcher(self, fields: Iterable[str]) -> Matcher:
        """Like ``matcher`` but for blocks without a backslash only: quoted fields take no
        escapes, fields may run over a newline and each match takes its line's newline, so the
        number of matches in a block equals its number of lines exactly when every line matched
        within itself; only then are the matches the careful matcher's."""
        return self._matcher(tuple(fields), fast=True)

    def quick_matcher(self, fields: Iterable[str]) -> Matcher:
        """The counting path's matcher (fastcount.py), for ranges without a backslash only.
        Each match begins with the newline that ends the line before and stops after the last
        wanted field and the text that follows it up to the next field: the rest of the line is
        skipped by the engine's quick search for the next newline, not matched. Fields may run
        over a newline, so the number of matches in a range equals its number of lines exactly
        when each match stayed on its line; only then are the values the careful matcher's. A
        field the next literal closes with the one character it excludes (a token before a
        space, a quoted field before its quote) is possessive: giving characters back could
        never let that literal match, so the engine is spared the backtracking points."""
        return self._matcher(tuple(fields), fast=True, quick=True)

    def _matcher(self, wanted: tuple[str, ...], fast: bool, quick: bool = False) -> Matcher:
        key = (*wanted, "\0quick" if quick else "\0fast" if fast else "")
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        for f in wanted:
            if f not in self.fields:
                raise FormatError(f"log format {self.name!r} has no {f} field")
        if quick:
            pattern, order = _quick_pattern(self._pieces, wanted)
        else:
            pattern, order = self._pattern(wanted, fast)
        matcher = Matcher(re.compile(pattern, 0 if quick else re.MULTILINE), order, wanted)
        self._cache[key] = matcher
        return matcher

    def _pattern(self, wanted: tuple[str, ...], fast: bool) -> tuple[bytes, list[str]]:
        parts: list[bytes] = [b"^"]
        order: list[str] = []
        for piece in self._pieces:
            if len(order) == len(wanted) and piece.literal is None:
                break  # fields after the last wanted one are not read (speed)
            if piece.literal is not None:
                parts.append(re.escape(piece.literal))
                continue
            body = _BRACKETED if piece.bracketed else _QUOTED if piece.quoted else _TOKEN
            body = _FAST_BODY[body] if fast else body
            if piece.field in wanted:
                order.append(piece.field or "")
                body = b"(" + body + b")"
            parts.append(rb"\[" + body + rb"\]" if piece.bracketed else body)
        parts.append(rb"[^\n]*\n" if fast else rb"[^\n]*$")
        return b"".join(parts), order


def _quick_pattern(pieces: list[_Piece], wanted: tuple[str, ...]) -> tuple[bytes, list[str]]:
    """``LogFormat.quick_matcher``'s pattern and the order of its groups."""
    parts: list[bytes] = [b"\n"]
    order: list[str] = []
    for n, piece in enumerate(pieces):
        if len(order) == len(wanted) and piece.literal is None:
            break  # fields after the last wanted one are not read (speed)
        if piece.literal is not None:
            parts.append(re.escape(piece.literal))
            continue
        after = pieces[n + 1].literal if n + 1 < len(pieces) else None
        body = _quick_body(piece, after or b"")
        if piece.field in wanted:
            order.append(piece.field or "")
            body = b"(" + body + b")"
        parts.append(rb"\[" + body + rb"\]" if piece.bracketed else body)
    return b"".join(parts), order


def _quick_body(piece: _Piece, after: bytes) -> bytes:
    """A field's pattern on the quick path: one excluded character, possessive when the literal
    after it begins with that character. A token not closed by a space (the last field of a
    line, ``%v:%p``) keeps the careful class: it must not run into the next line by design."""
    if piece.bracketed:
        return rb"[^\]]*+"
    if piece.quoted:
        return rb'[^"]*+'
    return rb"[^ ]*+" if after.startswith(b" ") else _TOKEN


class Matcher:
    """A compiled line pattern whose ``findall`` returns the groups in the caller's order."""

    def __init__(self, pattern: re.Pattern[bytes], order: list[str], wanted: tuple[str, ...]):
        self.pattern = pattern
        self.wanted = wanted
        self.order = tuple(order)  # the fields in the pattern's order (``pattern.findall``'s)
        self._index = [order.index(f) for f in wanted]
        # One group: a list of bytes; more: a list of tuples of bytes, in the caller's order.
        # ``findall(data, pos, endpos)`` reads ``data[pos:endpos]`` without copying it.
        self.findall: Callable[..., list[Any]] = (
            cast(Callable[..., list[Any]], pattern.findall)
            if order == list(wanted)
            else self._reordered
        )

    def _reordered(self, data: bytes, pos: int = 0, endpos: int = sys.maxsize) -> list[Any]:
        # itemgetter with two or more indices gives a tuple, at C speed (only several fields
        # are ever reordered).
        return list(map(itemgetter(*self._index), self.pattern.findall(data, pos, endpos)))


def get_format(name_or_spec: str) -> LogFormat:
    """A named format (common, combined, vhost_combined, nginx) or a LogFormat string."""
    spec = NAMED_FORMATS.get(name_or_spec)
    if spec is not None:
        return LogFormat(spec, name_or_spec)
    if "%" not in name_or_spec:
        known = ", ".join(NAMED_FORMATS)
        raise FormatError(f"unknown log format {name_or_spec!r} (known: {known}, or a LogFormat)")
    return LogFormat(name_or_spec)


# Values ------------------------------------------------------------------------------------------

_ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{2}|.)", re.DOTALL)
_SIMPLE = {b"n": b"\n", b"t": b"\t", b"r": b"\r", b'"': b'"', b"\\": b"\\"}


def unescape(value: bytes) -> bytes:
    """Undo the escaping of Apache (``\\"``, ``\\\\``, ``\\xhh``) and nginx (``\\xhh``)."""
    if b"\\" not in value:
        return value

    def one(match: re.Match[bytes]) -> bytes:
        token = match.group(1)
        if len(token) == 3:
            return bytes([int(token[1:], 16)])
        return _SIMPLE.get(token, b"\\" + token)

    return _ESCAPE.sub(one, value)


_SCHEME = re.compile(rb"https?", re.IGNORECASE)


def referrer_host(referrer: bytes) -> str | None:
    """The host of a Referer URL: ASCII letters in lower case, without user info, port and
    trailing dots; a name in Unicode as its IDNA (punycode) form; an IPv6 literal in brackets.
    None for "-" or a value that is not an absolute http(s) URL.

    Block rules (rules.py) match exactly these spellings of a host, so what detection counts as
    one host is what the web server refuses: keep the two in step."""
    if not referrer or referrer == b"-":
        return None
    value = unescape(referrer)
    scheme_end = value.find(b"://")
    if scheme_end <= 0 or not _SCHEME.fullmatch(value[:scheme_end]):
        return None
    rest = _authority(value[scheme_end + 3 :])
    if rest.startswith(b"["):
        end = rest.find(b"]")
        rest = rest[: end + 1] if end > 0 else rest
    else:
        colon = rest.find(b":")
        if colon >= 0:
            rest = rest[:colon]
        rest = rest.rstrip(b".")
    return _host_text(rest.lower()) if rest else None


def _authority(rest: bytes) -> bytes:
    """The part after ``scheme://`` up to the path, query or fragment, user info removed."""
    for stop in (b"/", b"?", b"#"):
        cut = rest.find(stop)
        if cut >= 0:
            rest = rest[:cut]
    return rest[rest.rfind(b"@") + 1 :]


def _host_text(host: bytes) -> str:
    """The host as text: ASCII as is; a name in Unicode as its punycode form when that form
    spells it back exactly (IDNA would map other spellings, such as upper case or full-width
    letters, to the same name: those stay as they are, and rules.py refuses them)."""
    text = host.decode("utf-8", errors="replace")
    if text.isascii():
        return text
    try:
        puny = text.encode("idna").decode("ascii")
    except UnicodeError:
        return text
    return puny if unicode_spelling(puny) == text else text


def unicode_spelling(host: str) -> str | None:
    """The Unicode spelling of a punycode (``xn--``) host name, when it has one that is plain
    (ASCII letters in lower case, digits, ``-``, ``_``, dots, and letters, digits and marks
    beyond ASCII) and that IDNA turns back into the same punycode; else None."""
    try:
        text = host.encode("ascii").decode("idna")
    except UnicodeError:
        return None
    if text == host or not all(_plain_char(c) for c in text):
        return None
    try:
        return text if text.encode("idna").decode("ascii") == host else None
    except UnicodeError:
        return None


def _plain_char(char: str) -> bool:
    if char.isascii():
        return char in _PLAIN_ASCII
    return char.isalnum() or unicodedata.category(char).startswith("M")


_PLAIN_ASCII = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_.")


def request_path(request: bytes) -> bytes:
    """The path of a request line ("GET /a/b?x=1 HTTP/1.1" -> /a/b), query removed."""
    parts = unescape(request).split(b" ")
    target = parts[1] if len(parts) >= 2 else parts[0]
    cut = target.find(b"?")
    return target if cut < 0 else target[:cut]


_MONTHS = {
    m: i + 1 for i, m in enumerate(b"Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split())
}
_TIME_CACHE: dict[bytes, float | None] = {}
# calendar.timegm of 0001-01-02 and 9999-12-30: days inside datetime's range. (calendar is
# imported when a time is first parsed: `weblog top` by a field never needs it.)
_FIRST = -62135510400
_LAST = 253402128000


def _month_days(year: int, month: int) -> int:
    import calendar

    return calendar.monthrange(year, month)[1] if 1 <= year <= 9999 else 0


def parse_time(value: bytes) -> float | None:
    """Seconds since the epoch from "10/Oct/2000:13:55:36 -0700"; None when unreadable."""
    cached = _TIME_CACHE.get(value, 0.0)
    if cached != 0.0:
        return cached
    result: float | None
    try:
        if len(value) < 20 or value[2:3] != b"/" or value[6:7] != b"/" or value[11:12] != b":":
            raise ValueError
        day, month, year = int(value[0:2]), _MONTHS[value[3:6]], int(value[7:11])
        hour, minute, second = int(value[12:14]), int(value[15:17]), int(value[18:20])
        import calendar

        seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
        zone = value[21:26]
        if len(zone) == 5 and zone[:1] in (b"+", b"-") and zone[1:].isdigit():
            offset = int(zone[1:3]) * 3600 + int(zone[3:5]) * 60
            seconds -= offset if zone[:1] == b"+" else -offset
        if not (1 <= day <= _month_days(year, month) and hour < 24 and minute < 60):
            raise ValueError
        if second > 60 or not _FIRST <= seconds <= _LAST:
            raise ValueError  # a time no clock or date can show (year 0, 10000 after the zone)
        result = float(seconds)
    except (ValueError, KeyError, OverflowError):
        result = None
    if len(_TIME_CACHE) > 100_000:
        _TIME_CACHE.clear()
    _TIME_CACHE[value] = result
    return result
