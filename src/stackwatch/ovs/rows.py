"""Reading OVSDB rows as the server sent them: each column checked against the type the schema
gives it, since the server (or whatever answers at its address) is not trusted.

A column of the wrong type is a ``Malformed`` naming the column and showing the value cut short;
``each`` turns it, and any other shape error of one row, into an OvsdbError naming the table and
the row, which a check reports as UNKNOWN with that reason and a command as one line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from stackwatch.ovs.ovsdb import OvsdbError, Uuid, as_optional, as_set, shown, to_python

T = TypeVar("T")


class Malformed(ValueError):
    """A value of the wrong shape inside one row."""


def uuid_of(value: Any) -> str:
    item = to_python(value)
    if not isinstance(item, Uuid) or not isinstance(item.value, str):
        raise Malformed(f"malformed row reference {shown(value)}")
    return item.value


def refs(value: Any, column: str) -> list[str]:
    items = as_set(value)
    if not all(isinstance(i, Uuid) and isinstance(i.value, str) for i in items):
        raise Malformed(f"{column}: expected row references, got {shown(value)}")
    return [i.value for i in items]


def str_map(value: Any, column: str) -> dict[str, str]:
    """A map of strings to strings (other_config, external_ids, options, status)."""
    data = to_python(value) if value is not None else {}
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise Malformed(f"{column}: expected a map of strings, got {shown(value)}")
    return data


def opt_str(value: Any, column: str) -> str | None:
    item = as_optional(value)
    if item is None or isinstance(item, str):
        return item
    raise Malformed(f"{column}: expected a string, got {shown(value)}")


def opt_int(value: Any, column: str) -> int | None:
    item = as_optional(value)
    if item is None or (isinstance(item, int) and not isinstance(item, bool)):
        return item
    raise Malformed(f"{column}: expected an integer, got {shown(value)}")


def ints(value: Any, column: str) -> list[int]:
    items = as_set(value)
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in items):
        raise Malformed(f"{column}: expected integers, got {shown(value)}")
    return sorted(items)


def string(row: dict[str, Any], column: str, default: str | None = None) -> str:
    """A string column; one the row lacks is its ``default``, or Malformed without one."""
    value = row.get(column, default)
    if not isinstance(value, str):
        got = shown(value) if column in row else "nothing"
        raise Malformed(f"{column}: expected a string, got {got}")
    return value


def boolean(row: dict[str, Any], column: str) -> bool:
    value = row.get(column, False)
    if not isinstance(value, bool):
        raise Malformed(f"{column}: expected true or false, got {shown(value)}")
    return value


def each(table: str, rows: list[dict[str, Any]], make: Callable[[dict[str, Any]], T]) -> list[T]:
    """``make`` applied to every row; any shape error as an OvsdbError naming table and row."""
    made = []
    for i, row in enumerate(rows):
        try:
            made.append(make(row))
        except (Malformed, OvsdbError, TypeError, ValueError, RecursionError) as exc:
            # TypeError/ValueError: a set or map whose payload is not a list of the right shape
            raise OvsdbError(f"malformed OVSDB reply: {table} row {i + 1}: {exc}") from None
    return made
