"""The exit codes of every stackwatch command, in one table, and the one form of a usage error.

| code | name        | meaning                                                                 |
|------|-------------|-------------------------------------------------------------------------|
| 0    | OK          | done; nothing found that needs a person                                 |
| 1    | FAILED      | the work failed: a backup, copy, verification or apply; a service down  |
| 2    | USAGE       | bad arguments or configuration: nothing was done (Click uses 2 too)     |
| 4    | FOUND       | a command that looks for something found it: a flood (weblog detect),   |
|      |             | changes to make (ovs plan)                                              |
| 75   | BUSY        | the same job is already running; try again later (EX_TEMPFAIL)          |
| 130  | INTERRUPTED | stopped with Ctrl-C                                                     |

A command used as a Nagios plugin (``stackwatch check``, ``ovs verify --format nagios``) exits
with the plugin status instead: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN, and 3 on every error
(usage and configuration included), with one line saying why; Nagios reads 2 as CRITICAL.
"""

from __future__ import annotations

import sys

from stackwatch.render.safe import printable

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs a Nagios call more than a check: for the type checker only
    from typing import NoReturn

OK = 0
FAILED = 1
USAGE = 2
PLUGIN_UNKNOWN = 3
FOUND = 4
BUSY = 75
INTERRUPTED = 130


def fail(message: str, code: int = FAILED) -> NoReturn:
    """End the command: ``stackwatch: message`` on stderr (control characters made visible)
    and ``code``."""
    sys.stderr.write(f"stackwatch: {printable(message)}\n")
    raise SystemExit(code)


def usage_error(message: str) -> NoReturn:
    """A usage or configuration error of a command group (exit 2)."""
    fail(message, USAGE)


def plugin_error(message: str, name: str = "STACKWATCH") -> NoReturn:
    """End a command used as a Nagios plugin: UNKNOWN (3), the reason on stderr for a person and,
    where standard output is not a terminal (Nagios, NRPE, cron), as the plugin's own status line
    too, since NRPE passes on standard output only."""
    plugin_unknown_line(message, name)
    fail(message, PLUGIN_UNKNOWN)


def plugin_unknown_line(message: str, name: str = "STACKWATCH") -> None:
    """The status line ``NAME UNKNOWN - message`` of a plugin's error, on standard output where
    it is not a terminal; for errors whose own message goes elsewhere (Click's usage errors)."""
    if not sys.stdout.isatty():
        sys.stdout.write(f"{name} UNKNOWN - {printable(message)}\n")
        sys.stdout.flush()
