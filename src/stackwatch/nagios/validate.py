"""``nagios -v`` on a tree that is not live yet, and Nagios's own words when it refuses it.

The main configuration is copied to a temporary directory with ``cfg_dir=<live conf.d>`` pointing
at the tree and ``check_result_path`` and ``temp_path`` at a directory of its own: Nagios refuses
to even verify a configuration whose check result or temporary directory it cannot write, checked
as its nagios_user (Debian's belong to that user).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence

from stackwatch.core.host import CommandNotFound, CommandTimeout, Host, HostError
from stackwatch.core.record import dataclass


class ValidateError(Exception):
    """Validation could not run at all (no nagios program, a main config that does not read
    the conf.d): nothing was changed."""


@dataclass(frozen=True)
class Verdict:
    ok: bool
    errors: tuple[str, ...]  # Nagios's "Error:" lines, file paths shown as in the repository
    warnings: tuple[str, ...]
    seconds: float


def main_config_for(
    text: str, main_path: str, live_dir: str | None, tree: str, results: str
) -> str:
    """The main configuration with the tree in place of ``live_dir`` (added to it where
    ``live_dir`` is None); relative paths made absolute (the copy lives elsewhere).
    ValidateError where nothing reads ``live_dir``."""
    base = os.path.dirname(os.path.abspath(main_path))
    live = os.path.normpath(live_dir) if live_dir else None
    out: list[str] = []
    replaced = False
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        key = key.strip()
        if sep and key in ("cfg_dir", "cfg_file", "resource_file"):
            value = os.path.normpath(os.path.join(base, value.strip()))
            if key == "cfg_dir" and value == live:
                value, replaced = tree, True
            line = f"{key}={value}"
        elif sep and key in ("check_result_path", "temp_path"):
            continue
        out.append(line)
    if live is None:
        out.append(f"cfg_dir={tree}")
    elif not replaced:
        raise ValidateError(f"{main_path} has no cfg_dir={live_dir}: it would not read the tree")
    out += [f"check_result_path={results}", f"temp_path={results}"]
    return "\n".join(out) + "\n"


def _scratch_for_nagios(host: Host, scratch: str) -> str:
    """The scratch directory readable by Nagios, which checks its result directory (made here,
    sticky and world-writable as its own) as its nagios_user after dropping root."""
    host.set_mode(scratch, 0o755)
    results = os.path.join(scratch, "checkresults")
    host.make_dir(results, 0o755)
    host.set_mode(results, 0o1777)
    return results


def validate(
    host: Host,
    nagios: str,
    main_config: str,
    live_dir: str | None,
    tree: str,
    timeout: float,
    shown_as: Sequence[tuple[str, str]] = (),
) -> Verdict:
    """Run ``nagios -v`` on ``tree`` as if it were ``live_dir`` (or beside what the main
    configuration reads, where ``live_dir`` is None). ``shown_as`` maps path prefixes
    in Nagios's messages (the staging tree) to the paths a person edits (the repository)."""
    import time

    try:
        text = host.read_text(main_config)
    except HostError as exc:
        raise ValidateError(f"main configuration: {exc}") from None
    try:
        scratch = host.make_temp_dir("stackwatch-nagios-v-")
    except HostError as exc:
        raise ValidateError(str(exc)) from None
    try:
        main = os.path.join(scratch, "nagios.cfg")
        results = _scratch_for_nagios(host, scratch)
        host.write_atomic(main, main_config_for(text, main_config, live_dir, tree, results), 0o644)
        started = time.monotonic()
        try:
            run = host.run([nagios, "-v", main], timeout=timeout, check=False)
        except (CommandNotFound, CommandTimeout) as exc:
            raise ValidateError(str(exc)) from None
        seconds = time.monotonic() - started
    except HostError as exc:
        raise ValidateError(str(exc)) from None
    finally:
        with contextlib.suppress(HostError):
            host.remove_tree(scratch)
    output = run.stdout + run.stderr
    return Verdict(
        ok=run.returncode == 0,
        errors=_lines(output, ("Error:",), scratch, shown_as) or _tail(run.returncode, output),
        warnings=_lines(output, ("Warning:",), scratch, shown_as),
        seconds=seconds,
    )


def _lines(
    output: str, starts: tuple[str, ...], scratch: str, shown_as: Sequence[tuple[str, str]]
) -> tuple[str, ...]:
    found = []
    for line in output.splitlines():
        text = line.strip()
        if text.startswith(starts):
            for prefix, shown in shown_as:
                text = text.replace(prefix, shown)
            found.append(text.replace(scratch + "/nagios.cfg", "<main configuration>"))
    return tuple(found)


def _tail(returncode: int, output: str) -> tuple[str, ...]:
    """Where Nagios refused without an Error: line, its last words."""
    if returncode == 0:
        return ()
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return tuple(lines[-3:]) or (f"exited with status {returncode}",)
