"""``@record``: a dataclass whose methods are made without compiling code, for the classes a tracker's start
loads.

A ``@dataclasses.dataclass`` compiles its ``__init__``, ``__repr__`` and ``__eq__`` (and, frozen, its
``__setattr__``, ``__delattr__`` and ``__hash__``) from generated source when its module is imported: 0.3 to
4.6 ms a class, 39 ms for the 54 classes a start and stop load (``EmissionsData`` alone 4.6 ms) -- half of what a
fresh process spends to construct, start and stop a tracker (benchmarks/RESULTS.md, figure 1; issue 25). A
``@record`` class is a real dataclass (``dataclasses.fields``, ``replace``, ``asdict``, ``is_dataclass`` work,
and mypy reads it as one) whose methods are shared functions that read the class's fields: the same behaviour
(positional and keyword arguments, defaults and ``default_factory``, ``field(init=False)``, ``__post_init__``,
``repr=False`` and ``compare=False`` fields, frozen instances raising ``FrozenInstanceError``, hashes of frozen
ones), nothing compiled. Constructing one costs a few microseconds more than a compiled ``__init__``: the
classes built at every sensor read (``Reading``) or time-series row stay ``@dataclass``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform, overload

__all__ = ["record"]

T = TypeVar("T")
_MISSING = dataclasses.MISSING


@overload
def record(cls: type[T], /) -> type[T]: ...


@overload
def record(*, frozen: bool = False, eq: bool = True) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(field_specifiers=(dataclasses.field, dataclasses.Field))
def record(cls: type[T] | None = None, /, *, frozen: bool = False, eq: bool = True) -> Any:
    """Make ``cls`` a dataclass (see the module docstring); ``frozen`` and ``eq`` as ``dataclasses.dataclass``'s."""

    def wrap(c: type[T]) -> type[T]:
        return _make(c, frozen=frozen, eq=eq)

    return wrap if cls is None else wrap(cls)


def _make(cls: type[T], *, frozen: bool, eq: bool) -> type[T]:
    own = cls.__dict__
    dataclasses.dataclass(cls, init=False, repr=False, eq=False)  # fields only: nothing compiled
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    params.init, params.repr, params.eq, params.frozen = True, True, eq, frozen  # what a subclass's @dataclass reads
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if "__init__" not in own:
        cls.__init__ = _init(cls, fields)  # type: ignore[misc, method-assign]
    if "__repr__" not in own:
        cls.__repr__ = _repr(tuple(f.name for f in fields if f.repr))  # type: ignore[method-assign, assignment]
    names = frozenset(f.name for f in fields)
    if eq:
        compared = tuple(f.name for f in fields if f.compare)
        if "__eq__" not in own:
            cls.__eq__ = _eq(compared)  # type: ignore[method-assign, assignment]
        if "__hash__" not in own:
            hashed = tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash))
            cls.__hash__ = _hash(hashed) if frozen else None  # type: ignore[method-assign, assignment]
    if frozen:
        cls.__setattr__ = _frozen_setattr(cls, names)  # type: ignore[method-assign, assignment]
        cls.__delattr__ = _frozen_delattr(cls, names)  # type: ignore[method-assign, assignment]
    return cls


def _init(cls: type, fields: tuple[dataclasses.Field[Any], ...]) -> Callable[..., None]:
    given = tuple(f for f in fields if f.init)
    names = tuple(f.name for f in given)
    known = frozenset(names)
    # (name, default or factory, is a factory); _MISSING: required
    plan: tuple[tuple[str, Any, bool], ...] = tuple(_default(f) for f in given)
    rest = tuple(_default(f) for f in fields if not f.init and (f.default, f.default_factory) != (_MISSING, _MISSING))
    post_init = hasattr(cls, "__post_init__")
    set_attr = object.__setattr__
    qualname = cls.__qualname__

    def __init__(self: object, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(names):
            raise TypeError(
                f"{qualname}.__init__() takes {len(names) + 1} positional arguments but {len(args) + 1} were given"
            )
        if kwargs:
            for key in kwargs:
                if key not in known:
                    raise TypeError(f"{qualname}.__init__() got an unexpected keyword argument '{key}'")
            for key in names[: len(args)]:
                if key in kwargs:
                    raise TypeError(f"{qualname}.__init__() got multiple values for argument '{key}'")
        n = len(args)
        for i, (name, default, factory) in enumerate(plan):
            if i < n:
                value = args[i]
            elif name in kwargs:
                value = kwargs[name]
            elif default is _MISSING:
                raise TypeError(f"{qualname}.__init__() missing 1 required positional argument: '{name}'")
            else:
                value = default() if factory else default
            set_attr(self, name, value)
        for name, default, factory in rest:
            set_attr(self, name, default() if factory else default)
        if post_init:
            self.__post_init__()  # type: ignore[attr-defined]

    __init__.__qualname__ = f"{qualname}.__init__"
    return __init__


def _default(f: dataclasses.Field[Any]) -> tuple[str, Any, bool]:
    """``(name, default or factory, is a factory)``; the default ``MISSING`` when the field is required."""
    if f.default_factory is not _MISSING:
        return f.name, f.default_factory, True
    return f.name, f.default, False


def _repr(names: tuple[str, ...]) -> Callable[[object], str]:
    def __repr__(self: object) -> str:
        return f"{type(self).__qualname__}({', '.join(f'{n}={getattr(self, n)!r}' for n in names)})"

    return __repr__


def _eq(names: tuple[str, ...]) -> Callable[[object, object], bool]:
    def __eq__(self: object, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return tuple(getattr(self, n) for n in names) == tuple(getattr(other, n) for n in names)

    return __eq__


def _hash(names: tuple[str, ...]) -> Callable[[object], int]:
    def __hash__(self: object) -> int:
        return hash(tuple(getattr(self, n) for n in names))

    return __hash__


def _frozen_setattr(cls: type, names: frozenset[str]) -> Callable[[object, str, object], None]:
    def __setattr__(self: object, name: str, value: object) -> None:
        if type(self) is cls or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
        object.__setattr__(self, name, value)

    return __setattr__


def _frozen_delattr(cls: type, names: frozenset[str]) -> Callable[[object, str], None]:
    def __delattr__(self: object, name: str) -> None:
        if type(self) is cls or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
        object.__delattr__(self, name)

    return __delattr__
