"""The TOML configuration: loaded once, validated against dataclasses, errors that name the key.

Layout of the file (every section optional)::

    [checks.conntrack]          # options of one check: the fields of its Options dataclass
    warning = "75"
    critical = "90"

    [ovs] / [weblog] / [backup.*]   # one section per capability, validated by the dataclass
                                    # the capability declares (core/capability.py)

Each capability describes its options as a (frozen) dataclass; ``build(cls, table, where)`` turns a
TOML table into it, refusing unknown keys and wrong types with the file and the dotted key.
"""

from __future__ import annotations

import math
import os
import sys
import types
from collections.abc import Mapping

from stackwatch.core import record
from stackwatch.core.ranges import Range, RangeError, parse_range

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs a Nagios call more than its check: for the type checker only
    from typing import Any, TypeVar

    T = TypeVar("T")

DEFAULT_CONFIG = "/etc/stackwatch/stackwatch.toml"
MAX_CONFIG_BYTES = 16 << 20


class ConfigError(Exception):
    """A configuration the user must fix; the message names the file and the key."""


@record.dataclass(frozen=True)
class Config:
    path: str | None
    data: Mapping[str, Any]
    cache: dict[Any, Any] = record.field(default_factory=dict, compare=False, repr=False)

    def where(self, *keys: str) -> str:
        name = str(self.path) if self.path else "configuration"
        return f"{name}: {'.'.join(keys)}" if keys else name

    def section(self, *keys: str) -> Mapping[str, Any]:
        """A nested table, {} where absent; an error where the key holds something else."""
        node: Mapping[str, Any] = self.data
        for i, key in enumerate(keys):
            child = node.get(key, {})
            if not isinstance(child, Mapping):
                raise ConfigError(f"{self.where(*keys[: i + 1])}: expected a table")
            node = child
        return node

    def check_options(self, check: str, cls: type[T]) -> T:
        """The options of one check from ``[checks.NAME]``, defaults where unset."""
        return build(cls, self.section("checks", check), self.where("checks", check))


def load_config(
    path: str | os.PathLike[str] | None, *, required: bool, cache_dir: str | None = None
) -> Config:
    """Read and parse the TOML file. A missing default file means defaults; a missing file the
    user named is an error. With ``cache_dir``, the parsed file is kept there (see
    _parsed_from_cache) so that repeated calls skip the TOML parser."""
    if path is None:
        return Config(None, {})
    from stackwatch.core.host import Host, HostError

    file = os.fspath(path)
    try:
        raw = Host().read_small(os.path.abspath(file), MAX_CONFIG_BYTES)
    except HostError as exc:
        raise ConfigError(f"{file}: cannot read configuration: {exc}") from exc
    if raw is None:
        if required:
            raise ConfigError(f"{file}: configuration file not found")
        return Config(None, {})
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{file}: not UTF-8 text") from None
    data = _parsed_from_cache(cache_dir, text)
    if data is None:
        data = _parse_toml(file, text)
        _keep_in_cache(cache_dir, text, data)
    _check_sections(file, data)
    return Config(file, data)


def _parse_toml(file: str, text: str) -> dict[str, Any]:
    import tomllib  # only where there is a file, and not in the cache

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: invalid TOML: {exc}") from None


# The TOML parser (with the datetime and regular expression modules it needs) costs a Nagios call
# about as much as the check itself. The file is parsed once per change: the cache holds the
# file's exact text beside what it parsed to, and is used only for that same text. Anything
# wrong with it (missing, unreadable, another text) means parsing again; it never warns.
CACHE_FILE = "config-cache.json"


def _parsed_from_cache(cache_dir: str | None, text: str) -> dict[str, Any] | None:
    if cache_dir is None:
        return None
    import json

    from stackwatch.core.host import Host, HostError

    try:
        raw = Host().read_small(os.path.join(cache_dir, CACHE_FILE), 2 * MAX_CONFIG_BYTES + 4096)
        cached = json.loads(raw) if raw else None
    except (HostError, ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(cached, dict) or cached.get("text") != text:
        return None
    data = cached.get("data")
    return data if isinstance(data, dict) else None


def _keep_in_cache(cache_dir: str | None, text: str, data: dict[str, Any]) -> None:
    if cache_dir is None:
        return
    import json

    from stackwatch.core.host import Host, HostError

    try:
        encoded = json.dumps({"text": text, "data": data}, separators=(",", ":"))
        Host().write_atomic(os.path.join(cache_dir, CACHE_FILE), encoded, 0o600)
    except (HostError, TypeError, ValueError):  # TOML dates have no JSON form: parse every time
        return


def _check_sections(file: str, data: Mapping[str, Any]) -> None:
    """Unknown top-level sections are errors that name the key (a misspelt section would
    otherwise be silently ignored)."""
    from stackwatch.core.capability import configuration_sections

    sections = configuration_sections()
    for key in data:
        if key not in sections:
            raise ConfigError(
                f"{file}: {key}: unknown section (expected one of {', '.join(sections)})"
            )


def check_sections_known(config: Config) -> None:
    """``[checks.NAME]`` names an existing check; a misspelt one is an error naming the key."""
    from stackwatch.core.capability import check_owners

    known = check_owners()
    for name in config.section("checks"):
        if name not in known:
            raise ConfigError(
                f"{config.where('checks', name)}: no such check (known: {', '.join(known)})"
            )


def settings_for(config: Config, capability: str) -> Any:
    """The validated ``[capability]`` section: the dataclass the capability declares, built
    from the file (defaults where absent); None for a capability without settings."""
    from stackwatch.core.capability import capability_named

    declared = capability_named(capability)
    cls = declared.settings_class() if declared else None
    if cls is None:
        return None
    key = (capability, cls)
    cached = config.cache.get(key)
    if cached is None:
        cached = build(cls, config.section(capability), config.where(capability))
        config.cache[key] = cached
    return cached


def build(cls: type[T], table: Mapping[str, Any], where: str) -> T:
    """Build dataclass ``cls`` from a TOML table; unknown keys and wrong types name the key."""
    if not record.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = field_types(cls)
    fields = {f.name: f for f in record.fields(cls) if f.init}
    toml_names = {name.replace("_", "-"): name for name in fields}
    values: dict[str, Any] = {}
    for key, value in table.items():
        name = key if key in fields else toml_names.get(key)
        if name is None:
            known = ", ".join(sorted(fields)) or "none"
            raise ConfigError(f"{where}.{key}: unknown key (known keys: {known})")
        values[name] = convert(value, hints[name], f"{where}.{key}")
    missing = [
        n
        for n, f in fields.items()
        if n not in values and f.default is record.MISSING and f.default_factory is record.MISSING
    ]
    if missing:
        raise ConfigError(f"{where}.{missing[0]}: required key missing")
    built = cls(**values)
    # Rules across keys (a job naming a server that exists) live with the dataclass itself.
    validate = getattr(built, "validate", None)
    if callable(validate):
        validate(where)
    return built


def field_types(cls: type) -> dict[str, Any]:
    """The annotations of ``cls`` and its bases evaluated where each was written (what
    typing.get_type_hints does, without importing typing for the common types)."""
    hints: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        namespace = vars(sys.modules[klass.__module__])
        for name, annotation in vars(klass).get("__annotations__", {}).items():
            if isinstance(annotation, str):
                annotation = eval(annotation, namespace, dict(vars(klass)))
            hints[name] = annotation
    return hints


def _origin(tp: Any) -> Any:
    """``list`` for list[str], ``types.UnionType`` for X | None, typing's forms where used."""
    if isinstance(tp, types.UnionType):
        return types.UnionType
    return getattr(tp, "__origin__", None)


def _args(tp: Any) -> tuple[Any, ...]:
    args: tuple[Any, ...] = getattr(tp, "__args__", ())
    return args


def _is_typing(tp: Any, name: str) -> bool:
    """``tp`` is typing's ``name`` (Any, Literal, Union); never so where typing is not loaded,
    as no annotation can then use it."""
    typing = sys.modules.get("typing")
    return typing is not None and tp is getattr(typing, name)


def _type_name(tp: Any) -> str:
    if tp is Range:
        return "a range such as 10, 10:, ~:10, 10:20 or @10:20"
    origin = _origin(tp)
    if origin in (list, tuple):
        inner = _args(tp)[0] if _args(tp) else "any value"
        return f"a list of {_type_name(inner)}"
    if origin in (dict, Mapping):
        return "a table"
    if _is_typing(origin, "Literal"):
        return "one of " + ", ".join(repr(a) for a in _args(tp))
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def convert(value: Any, tp: Any, where: str) -> Any:
    """Check and convert one TOML value to the annotated type."""
    origin = _origin(tp)
    if origin is types.UnionType or _is_typing(origin, "Union"):
        return _convert_union(value, _args(tp), where)
    if _is_typing(tp, "Any"):
        return value
    if tp is Range:
        return _convert_range(value, where)
    if _is_typing(origin, "Literal"):
        if value not in _args(tp):
            raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
        return value
    if origin in (list, tuple):
        return _convert_list(value, tp, where)
    if origin in (dict, Mapping):
        return _convert_table(value, tp, where)
    if record.is_dataclass(tp) and isinstance(tp, type):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        return build(tp, value, where)
    return _convert_scalar(value, tp, where)


def _convert_union(value: Any, options: tuple[Any, ...], where: str) -> Any:
    errors = []
    for option in options:
        if option is type(None):
            continue
        try:
            return convert(value, option, where)
        except ConfigError as exc:
            errors.append(exc)
    if len(errors) == 1:
        raise errors[0]
    names = " or ".join(_type_name(o) for o in options if o is not type(None))
    raise ConfigError(f"{where}: expected {names}, got {value!r}")


def _convert_range(value: Any, where: str) -> Range:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigError(f"{where}: expected {_type_name(Range)}, got {value!r}")
    try:
        return parse_range(value)
    except RangeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _convert_list(value: Any, tp: Any, where: str) -> Any:
    if not isinstance(value, list):
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    args = _args(tp)
    items = [convert(v, args[0], f"{where}[{i}]") if args else v for i, v in enumerate(value)]
    return tuple(items) if _origin(tp) is tuple else items


def _convert_table(value: Any, tp: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table, got {value!r}")
    args = _args(tp)
    if len(args) != 2:
        return {str(k): v for k, v in value.items()}
    return {str(k): convert(v, args[1], f"{where}.{k}") for k, v in value.items()}


def _convert_scalar(value: Any, tp: Any, where: str) -> Any:
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if not math.isfinite(value):  # TOML nan and inf: no setting means "forever" or "never"
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        return float(value)
    if tp is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if tp is bool and not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if tp is str and not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    if tp in (int, bool, str) or (isinstance(tp, type) and isinstance(value, tp)):
        return value
    raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
