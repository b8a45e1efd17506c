"""Records behave as the standard library's dataclasses for every option stackwatch uses.

Each case declares the same class twice, once with ``dataclasses`` and once with our records, and
compares what a caller can observe: construction, defaults, factories, equality, hashing, repr,
freezing, replace, fields, asdict, slots, inheritance and __post_init__.
"""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackwatch.core import _record as rec

SRC = Path(__file__).resolve().parents[3] / "src" / "stackwatch"


def both(**options: Any) -> tuple[Any, Any]:
    """The same Point class made by dataclasses and by records."""

    def declare(make: Any, field: Any) -> Any:
        @make(**options)
        class Point:
            x: int
            y: int = 0
            tags: tuple[str, ...] = field(default_factory=tuple)
            note: str = field(default="", compare=False, repr=False)
            kind: ClassVar[str] = "point"

        return Point

    return declare(dataclasses.dataclass, dataclasses.field), declare(rec.dataclass, rec.field)


def observe(cls: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        made = cls(*args, **kwargs)
    except TypeError as exc:
        return ("TypeError", type(exc))
    return made


values = st.one_of(st.integers(), st.text(max_size=5), st.none())


@given(x=values, y=values, note=st.text(max_size=3), frozen=st.booleans())
def test_construction_equality_repr_match_dataclasses(
    x: Any, y: Any, note: str, frozen: bool
) -> None:
    std, ours = both(frozen=frozen)
    a_std, b_std = std(x, y=y, note=note), std(x, y=y)
    a_ours, b_ours = ours(x, y=y, note=note), ours(x, y=y)
    assert repr(a_ours) == repr(a_std).replace("test_construction", "test_construction")
    assert (a_ours == b_ours) == (a_std == b_std)
    assert (a_ours == std(x, y=y)) is False  # another class is never equal
    assert [f.name for f in rec.fields(ours)] == [f.name for f in dataclasses.fields(std)]
    assert ours.kind == "point" and "kind" not in [f.name for f in rec.fields(ours)]
    if frozen:
        assert hash(a_ours) == hash(b_ours)
    else:
        assert ours.__hash__ is None and std.__hash__ is None


def test_argument_errors_are_type_errors_like_dataclasses() -> None:
    std, ours = both()
    for args, kwargs in [((), {}), ((1, 2, [], "", 5), {}), ((1,), {"x": 2}), ((1,), {"z": 1})]:
        assert observe(ours, *args, **kwargs) == observe(std, *args, **kwargs)


def test_factories_give_each_instance_its_own_value() -> None:
    @rec.dataclass
    class Bag:
        items: list[str] = rec.field(default_factory=list)

    first, second = Bag(), Bag()
    first.items.append("a")
    assert second.items == [] and Bag(["b"]).items == ["b"]


def test_frozen_refuses_assignment_and_deletion() -> None:
    _, ours = both(frozen=True)
    point = ours(1)
    with pytest.raises(AttributeError):
        point.x = 2
    with pytest.raises(rec.FrozenInstanceError):
        del point.y


def test_replace_and_asdict() -> None:
    _, ours = both(frozen=True)
    point = ours(1, 2, ("t",))
    moved = rec.replace(point, y=5)
    assert (moved.x, moved.y, moved.tags) == (1, 5, ("t",)) and point.y == 2
    with pytest.raises(TypeError):
        rec.replace(point, nowhere=1)
    assert rec.asdict(ours(1, tags=("a",))) == {"x": 1, "y": 0, "tags": ("a",), "note": ""}


def test_slots_inheritance_and_post_init() -> None:
    @rec.dataclass(slots=True)
    class Slim:
        a: int
        b: int = 1

    slim = Slim(3)
    assert (slim.a, slim.b) == (3, 1) and not hasattr(slim, "__dict__")

    @rec.dataclass(frozen=True)
    class Base:
        a: int
        b: str = "b"

    @rec.dataclass(frozen=True)
    class Child(Base):
        c: float = 0.5
        seen: list[str] = rec.field(default_factory=list, init=False, compare=False)

        def __post_init__(self) -> None:
            self.seen.append("post")

    child = Child(1, c=2.0)
    assert (child.a, child.b, child.c, child.seen) == (1, "b", 2.0, ["post"])
    assert repr(child).endswith("Child(a=1, b='b', c=2.0, seen=['post'])")
    assert child != Base(1) and hash(child) == hash(Child(1, c=2.0))


def test_declaration_errors_like_dataclasses() -> None:
    with pytest.raises(TypeError):

        @rec.dataclass
        class Wrong:
            a: int = 0
            b: int

    with pytest.raises(ValueError, match="default_factory"):

        @rec.dataclass
        class Shared:
            a: list[int] = []  # noqa: RUF012 - the mistake under test

    with pytest.raises(TypeError, match="unsupported"):
        rec.dataclass(kw_only=True)


@given(st.lists(st.tuples(st.integers(), st.text(max_size=2)), max_size=8))
def test_order_sorts_as_dataclasses_do(pairs: list[tuple[int, str]]) -> None:
    @dataclasses.dataclass(frozen=True, order=True)
    class Std:
        a: int
        b: str

    @rec.dataclass(frozen=True, order=True)
    class Ours:
        a: int
        b: str

    assert [(o.a, o.b) for o in sorted(Ours(*p) for p in pairs)] == [
        (s.a, s.b) for s in sorted(Std(*p) for p in pairs)
    ]


def test_no_module_in_src_imports_the_standard_dataclasses() -> None:
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.name in ("record.py", "_record.py"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if "dataclasses" in names:
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert offenders == [], "use stackwatch.core.record instead: " + ", ".join(offenders)


HEAVY = ("dataclasses", "inspect", "ast", "typing", "tomllib", "argparse", "typer")


def test_a_nagios_call_imports_none_of_the_heavy_modules(tmp_path: Path) -> None:
    """A `stackwatch check` (the call NRPE makes every minute) stays off the costly imports."""
    probe = (
        "import sys\n"
        "before = set(sys.modules)  # what site and sitecustomize loaded is not ours\n"
        "from stackwatch import cli\n"
        "try:\n"
        "    cli.main(['check', 'conntrack', '--format', 'nagios', '--state-dir', sys.argv[1]])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('HEAVY:' + ' '.join(m for m in {HEAVY!r} if m in set(sys.modules) - before))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path)], capture_output=True, text=True, check=False
    )
    marked = [line for line in done.stdout.splitlines() if line.startswith("HEAVY:")]
    assert marked, done.stderr
    loaded = marked[0].removeprefix("HEAVY:")
    assert loaded == "", f"imported on a Nagios call: {loaded}\n{done.stderr}"


def test_fields_may_bear_any_name_the_generated_code_uses() -> None:
    for frozen in (True, False):

        @rec.dataclass(frozen=frozen)
        class Odd:
            self: int
            setter: str = "s"
            MISSING: list[int] = rec.field(default_factory=list)

        odd = Odd(1, MISSING=[2])
        assert (odd.self, odd.setter, odd.MISSING) == (1, "s", [2])
