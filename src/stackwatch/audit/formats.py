"""Values of one key from a configuration file's text: pure functions of untrusted text.

- ``shell``: ``KEY = "value"`` lines as CSF's csf.conf writes them (also ``KEY=value``,
  ``export KEY=value``, single quotes, comments); the last assignment wins, as in a shell.
- ``ini``: ``section.key`` (a key before any section is ``key``).
- ``toml`` and ``yaml``: a dotted key path, ``a.b.c``; a list is indexed by number.

``value_of`` returns the value as text (true/false for booleans, JSON for tables and lists), or
None where the key is missing; ``FormatError`` where the file cannot be parsed.
"""

from __future__ import annotations

import json
import re
from typing import Any

FORMATS = ("shell", "ini", "toml", "yaml")
_SUFFIXES = {".ini": "ini", ".cnf": "ini", ".toml": "toml", ".yaml": "yaml", ".yml": "yaml"}


class FormatError(ValueError):
    """A file that is not in the format it was read as."""


def format_for(file: str, declared: str) -> str:
    """The format to read ``file`` as: the declared one, or from its suffix (shell otherwise)."""
    if declared != "auto":
        return declared
    dot = file.rfind(".")
    return _SUFFIXES.get(file[dot:].lower(), "shell") if dot >= 0 else "shell"


_SHELL = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def _shell_value(raw: str) -> str:
    if raw[:1] in ("'", '"'):
        end = raw.find(raw[0], 1)
        return raw[1:end] if end > 0 else raw[1:]
    return raw.split("#", 1)[0].strip()


def shell_value(text: str, key: str) -> str | None:
    found = None
    for line in text.splitlines():
        match = _SHELL.match(line)
        if match and match[1] == key:
            found = _shell_value(match[2])
    return found


def ini_value(text: str, key: str) -> str | None:
    import configparser

    section, _, name = key.rpartition(".")
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    try:
        parser.read_string("[\x00top]\n" + text)
    except (configparser.Error, ValueError) as exc:
        raise FormatError(f"not INI: {str(exc).splitlines()[0]}") from None
    section = section or "\x00top"
    if not parser.has_option(section, name):
        return None
    return parser.get(section, name)


def _walk(data: Any, key: str) -> Any:
    node = data
    for part in key.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isascii() and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


_MISSING = object()


def _as_text(value: Any) -> str | None:
    if value is _MISSING:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) or value is None:
        return "null" if value is None else str(value)
    return json.dumps(value, default=str, sort_keys=True)


def toml_value(text: str, key: str) -> str | None:
    import tomllib

    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        raise FormatError(f"not TOML: {exc}") from None
    return _as_text(_walk(data, key))


def yaml_value(text: str, key: str) -> str | None:
    import yaml

    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError) as exc:
        raise FormatError(f"not YAML: {str(exc).splitlines()[0]}") from None
    return _as_text(_walk(data, key))


_READERS = {"shell": shell_value, "ini": ini_value, "toml": toml_value, "yaml": yaml_value}


def value_of(text: str, key: str, fmt: str) -> str | None:
    return _READERS[fmt](text, key)
