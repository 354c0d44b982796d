# ruff: noqa: N807 - the methods installed on classes are named as Python expects them
"""`dataclass` without code generation: the same classes, cheaper to define.

The standard decorator writes `__init__`, `__repr__`, `__eq__` (and `__setattr__` for frozen
classes) as source text and compiles each with `exec` when the module is imported — about a
millisecond per class, and the handler defines some fifty, all paid on every cold start of the
function. Here the standard machinery still collects the fields (so `dataclasses.fields`,
`replace` and `asdict` keep working), but generates nothing: shared, ready-made methods read the
collected fields instead. bench/cold_import.py measures the difference.

Semantics kept: positional and keyword arguments, defaults and `default_factory`, `init=False`
fields, `__post_init__`, `repr`/`compare` flags, frozen instances (`FrozenInstanceError`) and their
hash, `order=True` comparisons, `__match_args__`. Not supported (unused here): `InitVar`,
`kw_only`, `slots`.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Callable
from typing import Any, TypeVar, overload

from typing_extensions import dataclass_transform

field = dataclasses.field
fields = dataclasses.fields
replace = dataclasses.replace
asdict = dataclasses.asdict
FrozenInstanceError = dataclasses.FrozenInstanceError

_T = TypeVar("_T", bound=type)
_MISSING = dataclasses.MISSING

__all__ = ["FrozenInstanceError", "LazyPattern", "asdict", "dataclass", "field", "fields", "replace"]


def _build_init(cls: type, specs: tuple[dataclasses.Field[Any], ...]) -> Callable[..., None]:
    init_specs = tuple(f for f in specs if f.init)
    later = tuple(f for f in specs if not f.init)
    names = tuple(f.name for f in init_specs)
    post_init = getattr(cls, "__post_init__", None)
    setter = object.__setattr__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(init_specs):
            raise TypeError(f"{cls.__name__}() takes {len(init_specs)} positional arguments but {len(args)} were given")
        for index, spec in enumerate(init_specs):
            if index < len(args):
                if spec.name in kwargs:
                    raise TypeError(f"{cls.__name__}() got multiple values for argument {spec.name!r}")
                value = args[index]
            elif spec.name in kwargs:
                value = kwargs.pop(spec.name)
            elif spec.default is not _MISSING:
                value = spec.default
            elif spec.default_factory is not _MISSING:
                value = spec.default_factory()
            else:
                raise TypeError(f"{cls.__name__}() missing required argument: {spec.name!r}")
            setter(self, spec.name, value)
        if kwargs:
            unknown = next(iter(k for k in kwargs if k not in names), next(iter(kwargs)))
            raise TypeError(f"{cls.__name__}() got an unexpected keyword argument {unknown!r}")
        for spec in later:
            if spec.default is not _MISSING:
                setter(self, spec.name, spec.default)
            elif spec.default_factory is not _MISSING:
                setter(self, spec.name, spec.default_factory())
        if post_init is not None:
            post_init(self)

    return __init__


_MUTABLE_DEFAULTS = (list, dict, set)


def _collect_fields(cls: type) -> None:
    """Record the fields as the standard decorator would (`__dataclass_fields__`), so `fields`,
    `replace`, `asdict` and `is_dataclass` work, without its per-annotation regex checks.

    Annotations are strings here (`from __future__ import annotations`); `ClassVar[...]` ones
    are not fields. Relies on `dataclasses._FIELD`, stable from Python 3.7 to 3.13."""
    collected: dict[str, dataclasses.Field[Any]] = {}
    for base in reversed(cls.__mro__[1:]):
        collected.update(getattr(base, "__dataclass_fields__", {}))
    for name, annotation in cls.__dict__.get("__annotations__", {}).items():  # noqa: RUF063 - own annotations only, unevaluated
        text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
        if text.startswith(("ClassVar", "typing.ClassVar")):
            continue
        default = cls.__dict__.get(name, _MISSING)
        spec = default if isinstance(default, dataclasses.Field) else dataclasses.field(default=default)
        if isinstance(spec.default, _MUTABLE_DEFAULTS):
            raise ValueError(f"mutable default {type(spec.default)} for field {name} is not allowed: use default_factory")
        spec.name = name
        spec.type = annotation
        spec._field_type = dataclasses._FIELD  # type: ignore[attr-defined,union-attr]
        collected[name] = spec
        if isinstance(default, dataclasses.Field):
            if spec.default is _MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, spec.default)
    cls.__dataclass_fields__ = collected  # type: ignore[attr-defined]


def _process(cls: _T, *, frozen: bool, order: bool, eq: bool, repr_: bool) -> _T:
    _collect_fields(cls)
    specs = tuple(dataclasses.fields(cls))
    own = cls.__dict__
    compared = tuple(f.name for f in specs if f.compare)
    shown = tuple(f.name for f in specs if f.repr)

    def key(self: Any) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in compared)

    if "__init__" not in own:
        cls.__init__ = _build_init(cls, specs)  # type: ignore[misc]
    if repr_ and "__repr__" not in own:

        def __repr__(self: Any) -> str:
            inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in shown)
            return f"{type(self).__qualname__}({inner})"

        cls.__repr__ = __repr__  # type: ignore[assignment]
    if eq and "__eq__" not in own:

        def __eq__(self: Any, other: object) -> bool:
            if other.__class__ is not self.__class__:
                return NotImplemented
            return bool(key(self) == key(other))

        cls.__eq__ = __eq__  # type: ignore[assignment]
        if frozen and "__hash__" not in own:

            def __hash__(self: Any) -> int:
                return hash(key(self))

            cls.__hash__ = __hash__  # type: ignore[assignment]
        elif "__hash__" not in own:
            cls.__hash__ = None  # type: ignore[assignment]
    if frozen:

        def __setattr__(self: Any, name: str, value: Any) -> None:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")

        def __delattr__(self: Any, name: str) -> None:
            raise FrozenInstanceError(f"cannot delete field {name!r}")

        cls.__setattr__ = __setattr__  # type: ignore[method-assign,assignment]
        cls.__delattr__ = __delattr__  # type: ignore[method-assign,assignment]
    if order:
        for name, op in (("__lt__", "__lt__"), ("__le__", "__le__"), ("__gt__", "__gt__"), ("__ge__", "__ge__")):
            if name not in own:

                def compare(self: Any, other: Any, _op: str = op) -> Any:
                    if other.__class__ is not self.__class__:
                        return NotImplemented
                    return getattr(key(self), _op)(key(other))

                setattr(cls, name, compare)
    setattr(cls, "__match_args__", tuple(f.name for f in specs if f.init))  # noqa: B010
    return cls


@overload
def dataclass(cls: _T, /) -> _T: ...


@overload
def dataclass(
    *, frozen: bool = False, order: bool = False, eq: bool = True, repr: bool = True
) -> Callable[[_T], _T]: ...


@dataclass_transform(field_specifiers=(dataclasses.field, dataclasses.Field))
def dataclass(
    cls: _T | None = None, /, *, frozen: bool = False, order: bool = False, eq: bool = True, repr: bool = True
) -> _T | Callable[[_T], _T]:
    """Drop-in for `dataclasses.dataclass` (the subset this project uses), without `exec`."""

    def wrap(target: _T) -> _T:
        return _process(target, frozen=frozen, order=order, eq=eq, repr_=repr)

    return wrap(cls) if cls is not None else wrap


class LazyPattern:
    """A regular expression compiled on first use: compiling at import (the `re` parser is pure
    Python) is paid on every cold start, even by invocations that never need the pattern."""

    __slots__ = ("_compiled", "_flags", "_pattern")

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self._pattern = pattern
        self._flags = flags
        self._compiled: re.Pattern[str] | None = None

    @property
    def compiled(self) -> re.Pattern[str]:
        if self._compiled is None:
            self._compiled = re.compile(self._pattern, self._flags)
        return self._compiled

    @property
    def pattern(self) -> str:
        return self._pattern

    def match(self, string: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        return self.compiled.match(string, pos, endpos)

    def fullmatch(self, string: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        return self.compiled.fullmatch(string, pos, endpos)

    def search(self, string: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        return self.compiled.search(string, pos, endpos)

    def sub(self, repl: str | Callable[[re.Match[str]], str], string: str, count: int = 0) -> str:
        return self.compiled.sub(repl, string, count)
