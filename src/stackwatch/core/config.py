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

import dataclasses
import math
import os
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from stackwatch.core.ranges import Range, RangeError, parse_range

DEFAULT_CONFIG = "/etc/stackwatch/stackwatch.toml"
MAX_CONFIG_BYTES = 16 << 20

T = TypeVar("T")


class ConfigError(Exception):
    """A configuration the user must fix; the message names the file and the key."""


@dataclasses.dataclass(frozen=True)
class Config:
    path: str | None
    data: Mapping[str, Any]
    cache: dict[Any, Any] = dataclasses.field(default_factory=dict, compare=False, repr=False)

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


def load_config(path: str | os.PathLike[str] | None, *, required: bool) -> Config:
    """Read and parse the TOML file. A missing default file means defaults; a missing file the
    user named is an error."""
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
    import tomllib  # only where there is a file: most hosts run on the defaults

    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{file}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: invalid TOML: {exc}") from None
    _check_sections(file, data)
    return Config(file, data)


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
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
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
        if n not in values
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{where}.{missing[0]}: required key missing")
    built = cls(**values)
    # Rules across keys (a job naming a server that exists) live with the dataclass itself.
    validate = getattr(built, "validate", None)
    if callable(validate):
        validate(where)
    return built


def _type_name(tp: Any) -> str:
    if tp is Range:
        return "a range such as 10, 10:, ~:10, 10:20 or @10:20"
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        (inner, *_) = typing.get_args(tp) or (Any,)
        return f"a list of {_type_name(inner)}"
    if origin in (dict, Mapping):
        return "a table"
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def convert(value: Any, tp: Any, where: str) -> Any:
    """Check and convert one TOML value to the annotated type."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return _convert_union(value, typing.get_args(tp), where)
    if tp is Any:
        return value
    if tp is Range:
        return _convert_range(value, where)
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
        return value
    if origin in (list, tuple):
        return _convert_list(value, tp, where)
    if origin in (dict, Mapping):
        return _convert_table(value, tp, where)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
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
    args = typing.get_args(tp)
    inner = args[0] if args else Any
    items = [convert(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
    return tuple(items) if typing.get_origin(tp) is tuple else items


def _convert_table(value: Any, tp: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table, got {value!r}")
    args = typing.get_args(tp)
    inner = args[1] if len(args) == 2 else Any
    return {str(k): convert(v, inner, f"{where}.{k}") for k, v in value.items()}


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
