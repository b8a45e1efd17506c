"""The run-time side of stackwatch.core.record: dataclasses' behaviour for the options we use.

Why it exists: every Nagios call is a fresh process, and the standard module costs more than the
check itself. Importing ``dataclasses`` pulls in ``inspect`` (with ``ast``, ``dis``, ``tokenize``)
and each class it decorates compiles five or six methods with ``exec`` and asks ``inspect`` for a
signature: about 20 ms of CPU for the import and over 1 ms per class with Debian's python, measured
in instructions with ``valgrind --tool=callgrind`` (bench/core_check_cpu.py has the whole call).

Here a class costs a few dictionary operations: ``__eq__``, ``__hash__`` and ``__repr__`` are
shared functions reading the class's field names, and ``__init__`` is compiled on the first
instance only (as fast as the standard one afterwards, for records made per log line).

Supported: ``frozen``, ``eq``, ``order``, ``repr``, ``init``, ``slots``, ``match_args``;
``field(default, default_factory, init, repr, compare)``; ``__post_init__``; inheritance between
records; ``ClassVar`` annotations left out. Anything else is refused at class creation rather than
silently handled differently. mypy checks code against the standard module (record.py).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar

    T = TypeVar("T")

_FIELDS = "__record_fields__"
_SUPPORTED = ("init", "repr", "eq", "order", "frozen", "slots", "match_args")


class _MissingType:
    """The "no default" marker (dataclasses.MISSING's role)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _MissingType()


class FrozenInstanceError(AttributeError):
    """Assignment to a field of a frozen record."""


class Field:
    """One declared field: its name, annotation text, default and roles."""

    __slots__ = ("compare", "default", "default_factory", "init", "name", "repr", "type")

    def __init__(
        self,
        default: Any = MISSING,
        default_factory: Any = MISSING,
        init: bool = True,
        repr: bool = True,
        compare: bool = True,
    ) -> None:
        if default is not MISSING and default_factory is not MISSING:
            raise ValueError("cannot specify both default and default_factory")
        self.name = ""
        self.type: Any = None
        self.default = default
        self.default_factory = default_factory
        self.init = init
        self.repr = repr
        self.compare = compare

    def __repr__(self) -> str:
        return f"Field(name={self.name!r}, default={self.default!r})"


def field(
    *,
    default: Any = MISSING,
    default_factory: Any = MISSING,
    init: bool = True,
    repr: bool = True,
    compare: bool = True,
) -> Any:
    """Declare a field with a default, a factory for mutable defaults, or a role."""
    return Field(default, default_factory, init, repr, compare)


def dataclass(cls: type[T] | None = None, /, **options: Any) -> Any:
    """Make ``cls`` a record; usable bare (``@dataclass``) or with options."""
    unknown = {name for name, value in options.items() if name not in _SUPPORTED and value}
    if unknown:
        raise TypeError(f"record: unsupported options {sorted(unknown)}")

    def wrap(target: type[T]) -> type[T]:
        made: type[T] = _make_record(target, options)
        return made

    return wrap if cls is None else wrap(cls)


def fields(obj: Any) -> tuple[Field, ...]:
    """The fields of a record class or instance, in declaration order."""
    found = getattr(obj, _FIELDS, None)
    if found is None:
        raise TypeError("must be called with a record type or instance")
    return tuple(found.values())


def is_dataclass(obj: Any) -> bool:
    """True for a record class or instance."""
    return hasattr(obj, _FIELDS)


def replace(obj: T, /, **changes: Any) -> T:
    """A copy of the record ``obj`` with the given fields changed."""
    for f in fields(obj):
        if not f.init:
            if f.name in changes:
                raise ValueError(f"field {f.name} is declared with init=False")
            continue
        if f.name not in changes:
            changes[f.name] = getattr(obj, f.name)
    made: T = obj.__class__(**changes)
    return made


def asdict(obj: Any) -> Any:
    """Records (nested in lists, tuples and dicts too) as plain dicts."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: asdict(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, (list, tuple)):
        items = [asdict(item) for item in obj]
        return items if isinstance(obj, list) else type(obj)(items)
    if isinstance(obj, dict):
        return {asdict(key): asdict(value) for key, value in obj.items()}
    return obj


def _make_record(cls: Any, options: dict[str, Any]) -> Any:
    declared = _declared_fields(cls)
    if options.get("slots"):
        cls = _with_slots(cls, declared)
    setattr(cls, _FIELDS, declared)
    frozen = bool(options.get("frozen"))
    own = cls.__dict__
    if options.get("init", True) and "__init__" not in own:
        cls.__init__ = _lazy_init(cls, frozen)
    if options.get("repr", True) and "__repr__" not in own:
        cls.__repr__ = _record_repr
    if options.get("eq", True):
        _add_equality(cls, frozen)
    if options.get("order"):
        _add_ordering(cls)
    if frozen:
        cls.__setattr__ = _frozen_setattr
        cls.__delattr__ = _frozen_delattr
    if options.get("match_args", True) and "__match_args__" not in own:
        setattr(cls, "__match_args__", tuple(n for n, f in declared.items() if f.init))  # noqa: B010
    return cls


def _declared_fields(cls: type) -> dict[str, Field]:
    """Fields of record bases first, then this class's own annotations in order."""
    declared: dict[str, Field] = {}
    for base in reversed(cls.__mro__[1:]):
        declared.update(base.__dict__.get(_FIELDS, {}))
    for name, annotation in cls.__dict__.get("__annotations__", {}).items():  # noqa: RUF063 - no inspect
        if _is_class_variable(annotation):
            continue
        declared[name] = _field_for(cls, name, annotation)
    _refuse_default_before_required(cls, declared)
    return declared


def _is_class_variable(annotation: Any) -> bool:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return text.startswith(("ClassVar", "typing.ClassVar"))


def _field_for(cls: type, name: str, annotation: Any) -> Field:
    value = cls.__dict__.get(name, MISSING)
    made = value if isinstance(value, Field) else Field(default=value)
    if type(made.default) in (list, dict, set):
        raise ValueError(
            f"mutable default {type(made.default)} for field {name}: use default_factory"
        )
    made.name, made.type = name, annotation
    if made.default is MISSING:
        if name in cls.__dict__:
            delattr(cls, name)
    else:
        setattr(cls, name, made.default)
    return made


def _refuse_default_before_required(cls: type, declared: dict[str, Field]) -> None:
    seen_default = False
    for f in declared.values():
        if not f.init:
            continue
        has_default = f.default is not MISSING or f.default_factory is not MISSING
        if seen_default and not has_default:
            raise TypeError(
                f"{cls.__name__}: non-default argument {f.name!r} follows default argument"
            )
        seen_default = seen_default or has_default


def _with_slots(cls: Any, declared: dict[str, Field]) -> Any:
    """A copy of ``cls`` whose instances keep their fields in slots (no __dict__)."""
    body = dict(cls.__dict__)
    for name in declared:
        body.pop(name, None)
    body.pop("__dict__", None)
    body.pop("__weakref__", None)
    body["__slots__"] = tuple(declared)
    made = type(cls)(cls.__name__, cls.__bases__, body)
    made.__qualname__ = cls.__qualname__
    return made


def _lazy_init(cls: Any, frozen: bool) -> Callable[..., None]:
    """An __init__ that compiles the real one on first use and hands over to it."""

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        compiled = _compile_init(cls, frozen)
        cls.__init__ = compiled
        compiled(self, *args, **kwargs)

    __init__.__qualname__ = f"{cls.__qualname__}.__init__"
    return __init__


def _compile_init(cls: type, frozen: bool) -> Callable[..., None]:
    declared: dict[str, Field] = getattr(cls, _FIELDS)
    # Names of the generated code's own start with __record_, so a field of any name (even
    # "self", "setter" or "MISSING") can neither shadow them nor be shadowed.
    scope: dict[str, Any] = {"__record_missing__": MISSING, "__record_set__": object.__setattr__}
    me = "__record_self__"
    params, body = [me], []
    for index, f in enumerate(declared.values()):
        value = _init_value(f, index, params, scope)
        if value is None:
            continue
        body.append(
            f"__record_set__({me}, {f.name!r}, {value})" if frozen else f"{me}.{f.name} = {value}"
        )
    if hasattr(cls, "__post_init__"):
        body.append(f"{me}.__post_init__()")
    source = f"def __init__({', '.join(params)}):\n " + "\n ".join(body or ["pass"])
    exec(source, scope)  # our own field names, checked to be identifiers
    compiled: Callable[..., None] = scope["__init__"]
    compiled.__qualname__ = f"{cls.__qualname__}.__init__"
    return compiled


def _init_value(f: Field, index: int, params: list[str], scope: dict[str, Any]) -> str | None:
    """The expression __init__ stores in ``f`` (None: nothing to store); adds f's parameter and
    default as needed."""
    if not f.name.isidentifier():
        raise TypeError(f"field name {f.name!r} is not an identifier")
    default, factory = f"__record_default_{index}__", f"__record_factory_{index}__"
    scope[default], scope[factory] = f.default, f.default_factory
    if not f.init:
        if f.default_factory is not MISSING:
            return f"{factory}()"
        return None if f.default is MISSING else default
    if f.default_factory is not MISSING:
        params.append(f"{f.name}=__record_missing__")
        return f"{factory}() if {f.name} is __record_missing__ else {f.name}"
    params.append(f"{f.name}={default}" if f.default is not MISSING else f.name)
    return f.name


def _compared(record: Any) -> tuple[Any, ...]:
    declared: dict[str, Field] = getattr(record, _FIELDS)
    return tuple(getattr(record, name) for name, f in declared.items() if f.compare)


def _record_eq(self: Any, other: Any) -> Any:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _compared(self) == _compared(other)


def _record_hash(self: Any) -> int:
    return hash(_compared(self))


def _add_equality(cls: Any, frozen: bool) -> None:
    if "__eq__" not in cls.__dict__:
        cls.__eq__ = _record_eq
    if "__hash__" in cls.__dict__ and cls.__dict__["__hash__"] is not None:
        return
    # as dataclasses: frozen records hash by value, mutable ones are unhashable
    cls.__hash__ = _record_hash if frozen else None


def _ordering(compare: Callable[[tuple[Any, ...], tuple[Any, ...]], bool]) -> Any:
    def method(self: Any, other: Any) -> Any:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return compare(_compared(self), _compared(other))

    return method


def _add_ordering(cls: Any) -> None:
    """As dataclasses' order=True: records of one class compare as tuples of their fields."""
    import operator

    for name in ("lt", "le", "gt", "ge"):
        if f"__{name}__" in cls.__dict__:
            raise TypeError(f"{cls.__name__} defines __{name}__: order=True would replace it")
        setattr(cls, f"__{name}__", _ordering(getattr(operator, name)))


def _record_repr(self: Any) -> str:
    declared: dict[str, Field] = getattr(self, _FIELDS)
    inner = ", ".join(f"{n}={getattr(self, n)!r}" for n, f in declared.items() if f.repr)
    return f"{self.__class__.__qualname__}({inner})"


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    if name in getattr(self, _FIELDS) or type(self).__dict__.get(_FIELDS) is not None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")
    object.__setattr__(self, name, value)


def _frozen_delattr(self: Any, name: str) -> None:
    if name in getattr(self, _FIELDS) or type(self).__dict__.get(_FIELDS) is not None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")
    object.__delattr__(self, name)
