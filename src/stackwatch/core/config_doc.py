"""The configuration reference and a commented example file, generated from the declarations.

Every section a configuration file may hold is declared once: a capability's settings dataclass
(``[ovs]``, ``[weblog]``, ``[backup]``) and each check's Options dataclass (``[checks.NAME]``).
This module reads those dataclasses (their fields, types, defaults, and the ``# comment`` on each
field's line) so that the documentation and the validation (core/config.build) cannot drift
apart. ``stackwatch config example`` prints ``example_toml()``; ``stackwatch config reference``
prints ``reference_markdown()``, committed as docs/configuration.md (a test compares the two).
"""

from __future__ import annotations

import inspect
import io
import json
import math
import re
import textwrap
import tokenize
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any

from stackwatch.core import record
from stackwatch.core.ranges import Range
from stackwatch.core.record import dataclass

NAME = "NAME"  # the placeholder for the name of an entry in a table of named entries
REFERENCE_COMMAND = "python3 -m stackwatch.cli config reference > docs/configuration.md"
_PRAGMA = re.compile(r"^(fmt:|type:|noqa|pragma|pylint:)")
_COMMENT_COLUMN = 36  # where the descriptions of the example start, unless a key is longer
_LINE = 100  # the longest line of the example


@dataclass(frozen=True)
class Key:
    """One key of a table, as a reader of the configuration sees it."""

    name: str
    kind: str  # the type in TOML terms: "string", "list of strings", "one of 'a', 'b'"
    default: str | None  # the default as TOML text; None: not set (or required)
    required: bool
    about: str
    placeholder: str  # a TOML value of the right type, shown commented out


@dataclass(frozen=True)
class Table:
    """One TOML table: ``[ovs]``, ``[backup.mail]``, ``[[checks.processes.role.NAME]]``."""

    path: tuple[str, ...]
    about: str
    more: str  # the dataclass's docstring, where it says more than ``about``
    keys: tuple[Key, ...]
    named: bool = False  # an entry the user adds by name: commented out in the example
    array: bool = False  # an array of tables ([[...]])
    children: tuple[Table, ...] = ()

    @property
    def header(self) -> str:
        name = ".".join(self.path)
        return f"[[{name}]]" if self.array else f"[{name}]"


@dataclass(frozen=True)
class Section:
    """What one capability adds to the file: its own table and its checks' tables."""

    name: str
    summary: str
    tables: tuple[Table, ...]


# --- reading the declarations ---------------------------------------------------------------


def sections() -> tuple[Section, ...]:
    """Every capability in its declared order, with the tables it declares."""
    from stackwatch.core.capability import capabilities
    from stackwatch.core.registry import get_check

    found = []
    for capability in capabilities():
        tables = []
        settings = capability.settings_class()
        if settings is not None:
            # its summary heads the section already: the table says only what its class says
            tables.append(describe(settings, (capability.name,), ""))
        for check_name in capability.checks:
            check = get_check(check_name)
            tables.append(describe(check.options, ("checks", check.name), check.description))
        found.append(Section(capability.name, capability.summary, tuple(tables)))
    return tuple(found)


def describe(
    cls: type[Any],
    path: tuple[str, ...],
    about: str,
    values: Any = None,
    *,
    named: bool = False,
    array: bool = False,
) -> Table:
    """The table that dataclass ``cls`` validates; ``values`` is an instance whose values are the
    defaults (a nested dataclass built by its field's default factory)."""
    hints = typing.get_type_hints(cls)
    comments = field_comments(cls)
    keys: list[Key] = []
    children: list[Table] = []
    for f in record.fields(cls):
        if not f.init:
            continue
        child = _child_table(f, hints[f.name], path, comments, named)
        if child is not None:
            children.append(child)
        else:
            keys.append(_key(f, hints[f.name], comments, values))
    doc = _docstring(cls)
    more = doc if doc and doc != about else ""
    return Table(path, about, more, tuple(keys), named, array, tuple(children))


def _child_table(
    f: record.Field[Any],
    tp: Any,
    path: tuple[str, ...],
    comments: Mapping[str, str],
    named: bool,
) -> Table | None:
    """The table a field holds: a nested dataclass, a table of named dataclasses, or a table of
    named arrays of them; None for a plain key."""
    base = _unoptional(tp)
    about = comments.get(f.name, "")
    if _is_dataclass_type(base):
        default = _default(f, None)
        values = default if record.is_dataclass(default) else None
        unset = default is None  # a table absent by default: the example shows it commented out
        where = (*path, f.name)
        return describe(base, where, about or _about(base, f.name), values, named=named or unset)
    item = _dict_value(base)
    if _is_dataclass_type(item):
        return describe(item, (*path, f.name, NAME), about or _about(item, f.name), named=True)
    inner = _list_item(item) if item is not None else _list_item(base)
    if _is_dataclass_type(inner):
        where = (*path, f.name, NAME) if item is not None else (*path, f.name)
        return describe(inner, where, about or _about(inner, f.name), named=True, array=True)
    return None


def _key(f: record.Field[Any], tp: Any, comments: Mapping[str, str], values: Any) -> Key:
    default = _default(f, values)
    required = default is record.MISSING
    base = _unoptional(tp)
    return Key(
        name=f.name,
        kind=type_text(tp),
        default=None if required or default is None else toml_value(default),
        required=required,
        about=comments.get(f.name) or _plain(f.name),
        placeholder=placeholder(base),
    )


def _default(f: record.Field[Any], values: Any) -> Any:
    """The field's default: from ``values`` where given, else its default or default factory;
    record.MISSING for a required field."""
    if values is not None:
        return getattr(values, f.name)
    if f.default is not record.MISSING:
        return f.default
    if f.default_factory is not record.MISSING:
        return f.default_factory()
    return record.MISSING


def _docstring(cls: type[Any]) -> str:
    """The class's own docstring as one paragraph ("" for the signature dataclass writes)."""
    doc = cls.__dict__.get("__doc__") or ""
    if not doc or doc.startswith(f"{cls.__name__}("):
        return ""
    return " ".join(inspect.cleandoc(doc).split())


def _about(cls: type[Any], field_name: str) -> str:
    return _docstring(cls) or _plain(field_name)


def field_comments(cls: type[Any]) -> dict[str, str]:
    """Field name -> the comment on the field's line(s) in the class source; where a field has
    none, the comment lines directly above it. Pragmas (``# fmt: skip``) are left out."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    comments: dict[str, str] = {}
    for name, trailing, above in _field_lines(source):
        text = _join_comments(trailing) or _join_comments(above)
        if text:
            comments[name] = text
    return comments


def _field_lines(source: str) -> Iterator[tuple[str, list[str], list[str]]]:
    """(field name, comments within its logical line, comment lines just above it) for every
    annotated name directly in the class body."""
    depth = 0
    line: list[tokenize.TokenInfo] = []
    above: list[str] = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in (tokenize.INDENT, tokenize.DEDENT):
            depth += 1 if token.type == tokenize.INDENT else -1
        elif token.type == tokenize.COMMENT:
            if line:
                line.append(token)  # within a field's line (or its continuation lines)
            else:
                above.append(token.string)
        elif token.type == tokenize.NL:
            if not line and not token.line.strip():
                above = []  # a blank line: the comment above belongs to nothing below
        elif token.type == tokenize.NEWLINE:
            if depth == 1 and _is_annotation(line):
                trailing = [t.string for t in line if t.type == tokenize.COMMENT]
                yield line[0].string, trailing, above
            line, above = [], []
        elif token.type != tokenize.ENDMARKER:
            line.append(token)


def _is_annotation(line: list[tokenize.TokenInfo]) -> bool:
    return (
        len(line) >= 2
        and line[0].type == tokenize.NAME
        and line[1].type == tokenize.OP
        and line[1].string == ":"
    )


def _join_comments(comments: list[str]) -> str:
    texts = (c.lstrip("#").strip() for c in comments)
    return " ".join(t for t in texts if t and not _PRAGMA.match(t))


# --- types and values in TOML terms ---------------------------------------------------------


def _unoptional(tp: Any) -> Any:
    """``X | None`` -> X (None is how a key says "not set"); other unions stay unions."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(options) == 1:
            return options[0]
        return typing.Union[tuple(options)]  # noqa: UP007 (built at run time)
    return tp


def _is_dataclass_type(tp: Any) -> bool:
    """A dataclass that becomes a table of its own (a Range is a dataclass written as text)."""
    return isinstance(tp, type) and record.is_dataclass(tp) and tp is not Range


def _dict_value(tp: Any) -> Any:
    """The value type of ``dict[str, X]``; None for anything else."""
    if typing.get_origin(tp) in (dict, Mapping):
        args = typing.get_args(tp)
        return args[1] if len(args) == 2 else Any
    return None


def _list_item(tp: Any) -> Any:
    """The item type of ``list[X]`` or ``tuple[X, ...]``; None for anything else."""
    if typing.get_origin(tp) in (list, tuple):
        args = typing.get_args(tp)
        return args[0] if args else Any
    return None


_SCALARS = {str: "string", int: "integer", float: "number", bool: "true/false"}
_PLURALS = {str: "strings", int: "integers", float: "numbers", bool: "true/false values"}


def type_text(tp: Any) -> str:
    """The type a key takes, in TOML terms, as the reference shows it."""
    base = _unoptional(tp)
    if typing.get_origin(base) in (typing.Union, types.UnionType):
        return " or ".join(type_text(a) for a in typing.get_args(base))
    if base is Range:
        return "range such as 10:20"
    if typing.get_origin(base) is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(base))
    item = _list_item(base)
    if item is not None:
        return _list_text(item)
    value = _dict_value(base)
    if value is not None:
        return f"table of {type_text(value)} values"
    if base is Any:
        return "any value"
    return _SCALARS.get(base, getattr(base, "__name__", str(base)))


def _list_text(item: Any) -> str:
    if item in _PLURALS:
        return f"list of {_PLURALS[item]}"
    if item is Range:
        return "list of ranges"
    return f"list, each {type_text(item)}"


def placeholder(tp: Any) -> str:
    """A value of type ``tp`` for a key shown commented out (no default, or required)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return placeholder(typing.get_args(tp)[0])
    if tp is Range:
        return '"10:20"'
    if typing.get_origin(tp) is typing.Literal:
        return toml_value(typing.get_args(tp)[0])
    item = _list_item(tp)
    if item is not None:
        return f"[{placeholder(item)}]"
    if _dict_value(tp) is not None:
        return "{}"
    return {int: "0", float: "0.0", bool: "false"}.get(tp, '"..."')


def toml_value(value: Any) -> str:
    """``value`` as TOML text (a range as its Nagios text, in a string)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _toml_float(value)
    if isinstance(value, Range | str):
        return toml_string(str(value))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = (f"{toml_key(str(k))} = {toml_value(v)}" for k, v in value.items())
        return "{ " + ", ".join(items) + " }" if value else "{}"
    if record.is_dataclass(value) and not isinstance(value, type):
        return toml_value({k: v for k, v in record.asdict(value).items() if v is not None})
    return toml_string(str(value))


def _toml_float(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)


def toml_string(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's, but TOML also refuses a raw DEL)."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else toml_string(name)


def all_tables(section: Section) -> Iterator[Table]:
    """The section's tables, each followed by the tables nested in it."""
    for table in section.tables:
        yield from _walk(table)


def _walk(table: Table) -> Iterator[Table]:
    yield table
    for child in table.children:
        yield from _walk(child)


# --- the commented example ------------------------------------------------------------------

_EXAMPLE_HEAD = f"""\
# stackwatch configuration: every section and every key, with its default.
# Generated from the capabilities' declarations by `stackwatch config example`.
#
# Copy it to /etc/stackwatch/stackwatch.toml (or pass --config FILE) and change what you need:
# every section is optional, and a key left out keeps its default. A key commented out has no
# default (it is not set); in a table of named entries ([backup.jobs.{NAME}]) add one table per
# entry under a name of your choosing, with the keys marked (required). Thresholds are Nagios
# ranges: "10" (alert above 10), "10:" (below 10), "~:10", "10:20", "@10:20" (inside).
"""


def example_toml() -> str:
    """A commented configuration file: every section, every key with its default and what it
    means; valid TOML that loads back as the defaults."""
    parts = [_EXAMPLE_HEAD]
    for section in sections():
        parts.append(f"\n# {'=' * 98}\n# {section.name}: {section.summary}\n")
        parts.extend(_example_table(table) for table in all_tables(section))
    return "".join(parts)


def _example_table(table: Table) -> str:
    mark = "# " if table.named else ""
    about = " ".join(t for t in (table.about, table.more) if t)
    lines = [""] + [f"# {line}" for line in _wrap(about)] if about else [""]
    lines.append(f"{mark}{table.header}")
    widths = (len(_assignment(k, table.named)) for k in table.keys)
    column = max((w for w in widths if w <= _COMMENT_COLUMN), default=0) + 2
    for key in table.keys:
        lines.extend(_example_key(key, table.named, column))
    return "\n".join(lines) + "\n"


def _example_key(key: Key, named: bool, column: int) -> list[str]:
    """``key = default  # what it means``; a description too long for the line goes above."""
    assignment = _assignment(key, named)
    note = _key_note(key)
    if not note:
        return [assignment]
    line = f"{assignment.ljust(column)}# {note}"
    if len(assignment) + 2 <= column and len(line) <= _LINE:
        return [line]
    mark = "# " if named else ""
    return [*(f"{mark}# {text}" for text in _wrap(note, len(mark) + 2)), assignment]


def _assignment(key: Key, named: bool) -> str:
    value = key.default if key.default is not None else key.placeholder
    mark = "# " if named or key.default is None else ""
    return f"{mark}{key.name} = {value}"


def _key_note(key: Key) -> str:
    """What the example says after a key: nothing where the description is only the key's
    name (the reference says that much)."""
    about = "" if key.about == _plain(key.name) else key.about
    return f"(required) {about}".rstrip() if key.required else about


def _plain(name: str) -> str:
    return name.replace("_", " ")


def _wrap(text: str, indent: int = 2) -> list[str]:
    return textwrap.wrap(text, _LINE - indent) or [""]


# --- the reference --------------------------------------------------------------------------

_REFERENCE_HEAD = f"""\
# Configuration reference

<!-- Generated from the capabilities' declarations: do not edit by hand. After changing a
settings or Options dataclass, run `{REFERENCE_COMMAND}`. -->

One TOML file, `/etc/stackwatch/stackwatch.toml` by default; every command takes `--config FILE`.
A missing default file means every default; a missing file you named is an error. Every section
is optional and every key keeps its default when left out. Unknown sections, unknown keys and
wrong types are refused with the file and the dotted key named (a check whose options are wrong is
UNKNOWN with that reason; the other checks still run). Keys may also be written with `-` for `_`.

- Thresholds are Nagios ranges, written as strings: `"10"` alerts above 10, `"10:"` below 10,
  `"~:10"` above 10, `"10:20"` outside 10..20, `"@10:20"` inside 10..20. On the command line,
  `-w`/`-c` override `warning`/`critical` of the one check named.
- `{NAME}` in a table name stands for a name you choose: `[backup.jobs.nightly]`. Keys marked
  **required** must be set in every such table.
- `stackwatch config example` prints all of this as a commented configuration file, every key
  with its default.
"""


def reference_markdown() -> str:
    """The configuration reference (docs/configuration.md) in Markdown."""
    found = sections()
    parts = [_REFERENCE_HEAD, "\n## Sections\n\n"]
    for section in found:
        links = ", ".join(_link(t) for t in all_tables(section))
        parts.append(f"- **{section.name}**: {links}\n")
    for section in found:
        parts.append(f"\n## {section.name}\n\n{section.summary}\n")
        parts.extend(_reference_table(table) for table in all_tables(section))
    return "".join(parts)


def _reference_table(table: Table) -> str:
    lines = ["", f"### `{table.header}`"]
    lines += [line for text in (table.about, table.more) if text for line in ("", text)]
    rows = [_row(key) for key in table.keys]
    rows += [_child_row(child) for child in table.children]
    if rows:
        lines += ["", "| key | type | default | meaning |", "|---|---|---|---|", *rows]
    else:
        lines += ["", "No keys."]
    return "\n".join(lines) + "\n"


def _row(key: Key) -> str:
    if key.required:
        default = "**required**"
    elif key.default is None:
        default = "not set"
    else:
        default = f"`{key.default}`"
    return _table_row(f"`{key.name}`", key.kind, default, key.about)


def _child_row(child: Table) -> str:
    kind = "tables, one per name" if child.path[-1] == NAME else "table"
    name = child.path[-2] if child.path[-1] == NAME else child.path[-1]
    return _table_row(f"`{name}`", kind, "", f"{_link(child)}: {child.about}")


def _table_row(*cells: str) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _link(table: Table) -> str:
    return f"[`{table.header}`](#{_anchor(table.header)})"


def _anchor(header: str) -> str:
    """GitHub's anchor for a heading ``\\`[a.b-c]\\```: lower case, punctuation but - and _ gone."""
    return re.sub(r"[^\w\- ]", "", header.lower()).replace(" ", "-")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
