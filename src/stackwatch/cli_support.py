"""What every command shares: default paths, loading the configuration, failing with one message.

Errors a user can cause end here in one clear line on stderr and an exit code from the one table
(core/exits.py), never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

from stackwatch.core.config import DEFAULT_CONFIG, Config, ConfigError, load_config, settings_for
from stackwatch.core.exits import FAILED, USAGE, fail, usage_error
from stackwatch.core.state import DEFAULT_STATE_DIR

__all__ = [
    "DEFAULT_CONFIG",
    "DEFAULT_STATE_DIR",
    "fail",
    "load_config_or_exit",
    "load_settings",
    "plain_command_line",
    "plain_int",
    "plugin_command",
    "print_or_write",
    "usage_error",
]


def plain_command_line(
    argv: Sequence[str], options: Mapping[str, str]
) -> tuple[list[str], dict[str, str]] | None:
    """(paths, values by the names ``options`` gives each option) of a plain command line:
    options anywhere, each with one value as the next word or after "=", at least one path,
    "--" before paths only. None for anything else (help, a flag, an option unknown or given
    twice): a Typer-free quick command (CAPABILITY.quick_commands) leaves those to Typer."""
    words = list(argv)
    paths: list[str] = []
    found: dict[str, str] = {}
    while words:
        word = words.pop(0)
        if word == "--":
            paths += words
            break
        if not word.startswith("-") or word == "-":
            paths.append(word)
            continue
        option, given, value = word.partition("=")
        name = options.get(option)
        if name is None or name in found or not (given or words):
            return None
        found[name] = value if given else words.pop(0)
    return (paths, found) if paths else None


def plain_int(value: str) -> int | None:
    """A quick command's number read as Typer reads it (``int``), or None where ``int`` refuses
    it (not a number, more digits than it takes): Typer is left to say why."""
    try:
        return int(value)
    except ValueError:
        return None


def load_config_or_exit(path: str | None, code: int = USAGE) -> Config:
    """The configuration at ``path`` (or the default file, which may be absent)."""
    try:
        if path is None:
            return load_config(DEFAULT_CONFIG, required=False)
        return load_config(path, required=True)
    except ConfigError as exc:
        fail(str(exc), code)


def load_settings(path: str | None, capability: str, code: int = USAGE) -> tuple[Config, Any]:
    """The configuration and the capability's validated section, or one clear error."""
    config = load_config_or_exit(path, code)
    try:
        return config, settings_for(config, capability)
    except ConfigError as exc:
        fail(str(exc), code)


def print_or_write(text: str, output: str | None) -> bool:
    """Print ``text``, or replace file ``output`` with it atomically (a failed write leaves the
    old file and ends in one line, FAILED). True where a file was written."""
    if output is None:
        sys.stdout.write(text)
        return False
    from stackwatch.core.host import write_atomic

    try:
        write_atomic(output, text, 0o644)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}", FAILED)
    return True


def plugin_command(name: str) -> Any:
    """The Typer command class of a command Nagios runs (``ovs verify``, ``switch verify``): bad
    arguments exit UNKNOWN (3) with the plugin's status line ``NAME UNKNOWN - why``, as every
    other error of it does, not Click's 2, which Nagios reads as CRITICAL. Click's own message
    and usage stay on stderr."""
    from typer.core import TyperCommand

    from stackwatch.core.exits import PLUGIN_UNKNOWN, plugin_unknown_line

    class PluginCommand(TyperCommand):
        def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
            try:
                return super().parse_args(ctx, args)
            except Exception as exc:
                # Click's UsageError, from whichever copy of Click typer uses (0.28 has its own)
                if getattr(exc, "exit_code", None) == USAGE:
                    setattr(exc, "exit_code", PLUGIN_UNKNOWN)  # noqa: B010
                    shown = getattr(exc, "format_message", None)
                    plugin_unknown_line(str(shown() if callable(shown) else exc), name)
                raise

    return PluginCommand
