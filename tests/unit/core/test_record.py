"""`_record.dataclass` behaves like `dataclasses.dataclass` for everything this project uses."""

from __future__ import annotations

import dataclasses

import pytest

from dts_change.core._record import FrozenInstanceError, asdict, dataclass, field, fields, replace


@dataclass(frozen=True)
class Point:
    x: int
    y: int = 0
    tags: list[str] = field(default_factory=list)
    note: str = field(default="", repr=False, compare=False)


@dataclass
class Mutable:
    name: str
    items: dict[str, int] = field(default_factory=dict)
    derived: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.derived = len(self.name)


@dataclass(frozen=True, order=True)
class Ordered:
    a: int
    b: str


def test_record_init_positional_keyword_defaults_and_factories():
    p = Point(1, tags=["a"])
    assert (p.x, p.y, p.tags, p.note) == (1, 0, ["a"], "")
    assert Point(1).tags is not Point(1).tags
    with pytest.raises(TypeError, match="missing required argument: 'x'"):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        Point(1, z=2)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="multiple values"):
        Point(1, x=2)  # type: ignore[misc]
    with pytest.raises(TypeError, match="positional arguments"):
        Point(1, 2, [], "n", 5)  # type: ignore[call-arg]


def test_record_frozen_eq_hash_repr():
    p = Point(1, 2)
    with pytest.raises(FrozenInstanceError):
        p.x = 3  # type: ignore[misc]
    assert p == Point(1, 2, note="other")  # note is not compared
    assert p != Point(1, 3)
    assert hash(Ordered(1, "a")) == hash(Ordered(1, "a"))
    assert {Ordered(1, "a"): 1}[Ordered(1, "a")] == 1
    with pytest.raises(TypeError):
        hash(p)  # a list field makes it unhashable, as with dataclasses
    assert repr(p) == "Point(x=1, y=2, tags=[])"
    assert Point(1) != (1, 0, [])


def test_record_mutable_post_init_and_unhashable():
    m = Mutable("abc")
    assert m.derived == 3 and m.items == {}
    m.name = "z"
    assert m.name == "z"
    assert Mutable("ab") == Mutable("ab") and Mutable("ab") != Mutable("ac")
    with pytest.raises(TypeError):
        hash(m)


def test_record_order():
    assert sorted([Ordered(2, "a"), Ordered(1, "b"), Ordered(1, "a")]) == [Ordered(1, "a"), Ordered(1, "b"), Ordered(2, "a")]


def test_record_works_with_standard_helpers():
    p = Point(1, 2, ["t"])
    assert [f.name for f in fields(p)] == ["x", "y", "tags", "note"]
    assert dataclasses.is_dataclass(p)
    assert replace(p, y=5) == Point(1, 5, ["t"])
    assert asdict(p) == {"x": 1, "y": 2, "tags": ["t"], "note": ""}
    assert Point.__match_args__ == ("x", "y", "tags", "note")
