"""Making text from the machine or the network safe for each output format.

Interface, namespace, bridge and port names, host names, Referers and database names are chosen by
whoever controls the machine or sends the request; they may hold newlines, ``|``, quotes, escape
sequences or bytes that are not UTF-8 (carried by Python as lone surrogates). Each function here
is the rule of one format; the renderers apply them, once, to everything they print.
"""

from __future__ import annotations

import re

_NAGIOS_LABEL_BAD = re.compile(r"['=|]")


def printable(text: str) -> str:
    """Control characters, escape sequences and undecodable bytes shown as Python escapes: a
    terminal or a one-line format never receives them."""
    if text.isprintable() and text.isascii():
        return text
    return "".join(_printable_char(c) for c in text)


def _printable_char(char: str) -> str:
    if char.isprintable() and not 0xD800 <= ord(char) <= 0xDFFF:
        return char
    if 0xDC80 <= ord(char) <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{ord(char) - 0xDC00:02x}"
    return char.encode("unicode_escape", errors="backslashreplace").decode("ascii")


def nagios_text(text: str) -> str:
    """One line of plugin output: no newline (it would end the line), no ``|`` (it starts
    perfdata)."""
    return printable(text.replace("|", "/"))


def nagios_label(text: str) -> str:
    """A perfdata label, quoted by the caller: no quote, ``=``, ``|`` or line break in it."""
    return _NAGIOS_LABEL_BAD.sub("_", printable(text))


def prometheus_label_value(text: str) -> str:
    """A label value inside double quotes: backslash, quote and newline escaped, as the
    exposition format defines; undecodable bytes shown as escapes so the output stays UTF-8."""
    safe = "".join(_printable_char(c) if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)
    return safe.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
