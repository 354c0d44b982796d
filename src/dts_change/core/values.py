"""`immutable`: the decorator of the package's immutable records, a standard dataclass.

Type checkers see a frozen dataclass (`dataclass_transform(frozen_default=True)`), so
`mypy --strict` (`make lint`, on every commit) refuses any assignment to a field of an `immutable`
class, as it would for `@dataclass(frozen=True)`. At run time the class is
`dataclasses.dataclass(unsafe_hash=True)`: the same `__init__`, `__repr__`, `__eq__` and field
`__hash__` as a frozen one, without the run-time guard. Why: for a frozen class the standard
decorator also compiles `__setattr__` and `__delattr__` and an `__init__` that assigns through
`object.__setattr__`, which is most of what the ~40 records defined by `import index` cost on
Python 3.10 (docs/performance.md, cold start).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

__all__ = ["immutable"]

_T = TypeVar("_T")

if TYPE_CHECKING:
    from dataclasses import Field, field

    from typing_extensions import dataclass_transform

    @dataclass_transform(frozen_default=True, field_specifiers=(field, Field))
    def immutable(cls: type[_T]) -> type[_T]:
        """A frozen dataclass, to type checkers."""
        ...

else:

    def immutable(cls: type[_T]) -> type[_T]:
        """`cls` as a dataclass with fields compared and hashed, not guarded at run time."""
        return dataclass(unsafe_hash=True)(cls)
