"""``@record`` behaves as ``@dataclass`` does (each case against a real dataclass twin), without compiling code."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import pytest

from wattwatch.util.records import record


def _pair(frozen: bool = False, eq: bool = True) -> tuple[type[Any], type[Any]]:
    """The same class body as a ``@record`` and as a ``@dataclass``."""

    def body(name: str) -> type:
        namespace: dict[str, Any] = {
            "__annotations__": {"a": "int", "b": "str", "c": "list[int]", "d": "float", "hidden": "int", "seen": "int"},
            "b": "x",
            "c": field(default_factory=list),
            "d": field(default=1.5, compare=False, repr=False),
            "hidden": field(init=False, default=7),
            "seen": field(init=False, default_factory=lambda: 3),
        }
        return type(name, (), namespace)

    return record(frozen=frozen, eq=eq)(body("R")), dataclass(frozen=frozen, eq=eq)(body("R"))


@pytest.mark.parametrize("frozen", [False, True])
def test_a_record_is_built_read_and_compared_as_a_dataclass(frozen: bool) -> None:
    R, D = _pair(frozen)
    for args, kwargs in [((1,), {}), ((1, "y"), {}), ((), {"a": 2, "c": [1]}), ((3,), {"d": 2.0, "b": "z"})]:
        r, d = R(*args, **kwargs), D(*args, **kwargs)
        assert repr(r) == repr(d)
        assert dataclasses.asdict(r) == dataclasses.asdict(d)
        assert [f.name for f in dataclasses.fields(r)] == [f.name for f in dataclasses.fields(d)]
        assert (r.hidden, r.seen) == (d.hidden, d.seen) == (7, 3)
    assert R(1) == R(1, d=9.0) and R(1) != R(2) and R(1) != D(1)  # d is not compared; another class is not equal
    assert R(1).c is not R(1).c  # a fresh default per instance
    nan = R(1, "x", [], math.nan)  # the same object compares equal to itself, as tuples do
    assert nan == nan
    assert dataclasses.replace(R(1, "y"), a=5) == R(5, "y")
    assert dataclasses.is_dataclass(R)


def test_wrong_arguments_are_refused_as_a_dataclass_refuses_them() -> None:
    R, D = _pair()
    for args, kwargs in [((), {}), ((1, "b", [], 1.0, 9), {}), ((1,), {"a": 2}), ((1,), {"nope": 1}), ((1,), {"hidden": 1})]:
        with pytest.raises(TypeError):
            D(*args, **kwargs)
        with pytest.raises(TypeError):
            R(*args, **kwargs)


def test_a_frozen_record_cannot_change_and_hashes_by_its_fields() -> None:
    R, D = _pair(frozen=True)
    r = R(1, c=(1,))  # (a list would be unhashable, as in a frozen dataclass)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.a = 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        del r.a
    assert hash(r) == hash(R(1, c=(1,))) == hash(D(1, c=(1,))) and {r, R(1, c=(1,))} == {r}
    mutable, _ = _pair(frozen=False)
    assert mutable.__hash__ is None  # eq without frozen: unhashable, as a dataclass
    by_identity, _ = _pair(frozen=True, eq=False)
    assert by_identity(1) != by_identity(1)  # eq=False: identity


def test_post_init_and_subclasses() -> None:
    @record
    class Base:
        x: int
        y: int = 0

        def __post_init__(self) -> None:
            self.total = self.x + self.y

    @record
    class Child(Base):
        z: int = 5

    c = Child(1, 2, z=3)
    assert (c.x, c.y, c.z, c.total) == (1, 2, 3, 3)
    assert repr(c) == "test_post_init_and_subclasses.<locals>.Child(x=1, y=2, z=3)"


def test_a_dataclass_may_extend_a_record() -> None:
    """A user's ``@dataclass(frozen=True)`` subclass of a frozen record (``TrackerConfig``): the base says it is
    frozen, as a dataclass's would."""

    @record(frozen=True)
    class Base:
        x: int = 1

    @dataclass(frozen=True)
    class More(Base):
        y: int = 2

    m = More(y=3)
    assert (m.x, m.y) == (1, 3) and dataclasses.fields(m)[1].name == "y"
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.x = 5
