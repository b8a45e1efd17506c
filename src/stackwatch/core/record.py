"""Records: how stackwatch declares its data classes (``@dataclass``, ``field``, ``replace``...).

Write ``from stackwatch.core.record import dataclass, field`` where the standard library's
``dataclasses`` would be imported. Type checkers see the standard module, so mypy checks every
record exactly as a dataclass; at run time the classes are made by ``_record``, which behaves the
same for the options we use at a small part of the start-up cost (its docstring has the figures).
Never import ``dataclasses`` in src/: tests/unit/core/test_record.py refuses it.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from dataclasses import (
        MISSING,
        Field,
        FrozenInstanceError,
        asdict,
        dataclass,
        field,
        fields,
        is_dataclass,
        replace,
    )
else:
    from stackwatch.core._record import (
        MISSING,
        Field,
        FrozenInstanceError,
        asdict,
        dataclass,
        field,
        fields,
        is_dataclass,
        replace,
    )

__all__ = [
    "MISSING",
    "Field",
    "FrozenInstanceError",
    "asdict",
    "dataclass",
    "field",
    "fields",
    "is_dataclass",
    "replace",
]
