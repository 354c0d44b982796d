"""The DTS DbList model: typed known keys, every other key kept, canonical bytes and their size.

Two ways in, because the two sources deserve different strictness:
- `DbList.from_dts` reads DescribeDtsJobDetail's `DbObject` (a JSON *string*) leniently: whatever
  DTS wrote is preserved, including keys we do not know (`state`, `primary_key`, `View`, a `table`
  in odd case), so writing it back never drops anything.
- `DbList.from_user` reads what people send strictly: types are checked, a case variant of a known
  key (`table`, `ALL`) is an error with the right spelling, names are checked, and every problem is
  reported with its dotted path (`sales.Table.orders.all: expected a boolean, got "yes"`).

A missing `all` means *whole* (DTS's engine treats it as true); it stays absent on output.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import FrozenInstanceError
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from .errors import DbListTooLargeError, DbListValidationError, UnreadableDbObjectError, short_repr
from .jsonsafe import load_json

if TYPE_CHECKING:
    from .entries import DatabaseEntry

MAX_DBLIST_BYTES = 1_048_576
"""ModifyDtsJob accepts at most 1 MB of DbList, filters included (seed page, reference §1.6)."""

MAX_IDENTIFIER_LENGTH = 128
"""Longest database/table name accepted (the largest limit among the engines DTS serves:
SQL Server and Oracle allow 128; MySQL 64 and PostgreSQL 63 are stricter, and DTS checks those)."""

SERVER_MANAGED_KEYS = frozenset({"state"})
"""Keys DTS adds on read (`"state": "normal"` on each database and table entry): ignored when
comparing, not written back unless configured. Only a string value directly on an entry is the
marker; the same word anywhere below (a table, column or filter field called `state`) is a name."""

DATABASE_KEYS = ("name", "all", "Table", "dml_op", "ddl_op")
TABLE_KEYS = ("name", "all", "filter", "column", "dml_op", "ddl_op")


if TYPE_CHECKING:  # type checkers see a frozen dataclass (assignments flagged); nothing is generated
    from dataclasses import dataclass as _value_class
else:

    def _value_class(**_options: object) -> Any:
        return lambda cls: cls


@_value_class(frozen=True)
class ObjectRef:
    """One synchronized object: a database (`table` None) or a table inside it. An immutable value.

    Written out by hand rather than with `@dataclass(frozen=True)`: generating those methods costs
    over a millisecond of cold start, and this class is on the hot path of every merge.
    """

    __slots__ = ("db", "table")
    db: str
    table: str | None

    def __init__(self, db: str, table: str | None = None) -> None:
        object.__setattr__(self, "db", db)
        object.__setattr__(self, "table", table)

    if not TYPE_CHECKING:  # hidden from type checkers, so that they still flag assignments

        def __setattr__(self, name: str, value: object) -> None:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")

        def __delattr__(self, name: str) -> None:
            raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __reduce__(self) -> tuple[type[ObjectRef], tuple[str, str | None]]:
        return (ObjectRef, (self.db, self.table))

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not ObjectRef:
            return NotImplemented
        return self.db == other.db and self.table == other.table

    def __hash__(self) -> int:
        return hash((self.db, self.table))

    def __repr__(self) -> str:
        return f"ObjectRef(db={self.db!r}, table={self.table!r})"

    def __lt__(self, other: ObjectRef) -> bool:
        """Databases sort before their tables; used for stable reports."""
        return (self.db, self.table is not None, self.table or "") < (
            other.db,
            other.table is not None,
            other.table or "",
        )

    def __str__(self) -> str:
        """`db.table`; a name holding a dot, a space or a backtick is quoted (`shop`.`gift.cards`),
        so what is printed can be read back as one object."""
        db = _quoted(self.db)
        return db if self.table is None else f"{db}.{_quoted(self.table)}"


def _quoted(name: str) -> str:
    if "." in name or "`" in name or any(c.isspace() for c in name):
        return "`" + name.replace("`", "``") + "`"
    return name


def _strip_entry_marker(entry: dict[str, Any]) -> None:
    """Drop DTS's read-only marker from ONE database or table entry: a string value under a
    server-managed key. Never recurses: below an entry, keys are names (tables, columns, filter
    fields) and a name `state` is data."""
    for key in SERVER_MANAGED_KEYS:
        if isinstance(entry.get(key), str):
            del entry[key]


def _validate(data: dict[str, Any]) -> dict[str, DatabaseEntry]:
    """Validate with the entry models, imported on first use (`entries.py`): building pydantic
    model classes is most of what the validation costs at import, and an invocation with nothing
    to validate (a timer pass with nothing pending) never needs them."""
    from .entries import dblist_adapter  # noqa: PLC0415 - see docstring

    return dblist_adapter().validate_python(data)


class DbList:
    """An ordered map of source database name -> `DatabaseEntry`; treat instances as immutable."""

    __slots__ = ("databases",)

    def __init__(self, databases: Mapping[str, DatabaseEntry] | None = None) -> None:
        self.databases: dict[str, DatabaseEntry] = dict(databases or {})

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dts(cls, db_object: str | None) -> DbList:
        """Parse DescribeDtsJobDetail's `DbObject` string; missing or empty is an error, not `{}`."""
        if db_object is None or not db_object.strip() or db_object.strip() == "null":
            raise UnreadableDbObjectError(
                f"Unreadable DbObject: the job returned {short_repr(db_object)} instead of an object list"
            )
        try:
            data = json.loads(db_object)
        except (ValueError, RecursionError) as exc:
            raise UnreadableDbObjectError(f"Unreadable DbObject: not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise UnreadableDbObjectError(
                f"Unreadable DbObject: expected a JSON object, got {type(data).__name__}"
            )
        try:
            return cls(_validate(data))
        except ValidationError as exc:
            problems = _problems_from_pydantic(exc)
            raise UnreadableDbObjectError(
                f"Unreadable DbObject: {problems[0]['path']}: {problems[0]['msg']}", details=problems
            ) from None

    @classmethod
    def from_user(cls, data: Mapping[str, Any] | str | bytes, *, what: str = "DbList") -> DbList:
        """Parse a DbList someone sent, reporting every problem with its dotted path."""
        if isinstance(data, str | bytes):
            data = load_json(data, what=what)
        if not isinstance(data, Mapping):
            raise DbListValidationError(
                f"Invalid {what}: expected an object of databases, got {_json_repr(data)}",
                details=[{"path": "", "msg": "expected an object", "input": _json_repr(data)}],
            )
        problems = list(_user_key_problems(data))
        try:
            parsed = _validate(dict(data))
        except ValidationError as exc:
            problems.extend(_problems_from_pydantic(exc))
            parsed = {}
        if problems:
            problems = _dedupe(problems)
            head = problems[0]
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise DbListValidationError(
                f"Invalid {what}: {head['path']}: {head['msg']}{more}", details=problems
            )
        return cls(parsed)

    # ------------------------------------------------------------------ output
    def to_wire(self, *, keep_server_keys: bool = False) -> dict[str, Any]:
        """The JSON object to send as `DbList`; server-managed keys stripped unless kept."""
        return {
            db: entry.wire(keep_server_keys=keep_server_keys) for db, entry in self.databases.items()
        }

    def to_json(self, *, keep_server_keys: bool = False) -> str:
        """Canonical compact JSON: exactly the text the client sends (and hashes)."""
        return json.dumps(
            self.to_wire(keep_server_keys=keep_server_keys), separators=(",", ":"), ensure_ascii=False
        )

    def to_bytes(self, *, keep_server_keys: bool = False) -> bytes:
        return self.to_json(keep_server_keys=keep_server_keys).encode("utf-8")

    def byte_size(self, *, keep_server_keys: bool = False) -> int:
        return len(self.to_bytes(keep_server_keys=keep_server_keys))

    def check_size(self, *, keep_server_keys: bool = False, limit: int = MAX_DBLIST_BYTES) -> int:
        """Return the serialized size, or raise `DbListTooLargeError` saying by how much it is over."""
        size = self.byte_size(keep_server_keys=keep_server_keys)
        if size > limit:
            raise DbListTooLargeError(
                f"DbList too large: {size} bytes, {size - limit} over the ModifyDtsJob limit of "
                f"{limit} bytes",
                details={"bytes": size, "limit": limit, "over_by": size - limit},
            )
        return size

    # ------------------------------------------------------------------ queries
    def objects(self, only: set[str] | None = None) -> set[ObjectRef]:
        """Every database, and every table listed under a database (of `only`, when given)."""
        out: set[ObjectRef] = set()
        for db, entry in self.databases.items():
            if only is not None and db not in only:
                continue
            out.add(ObjectRef(db))
            for table in entry.table_map():
                out.add(ObjectRef(db, table))
        return out

    def covers(self, ref: ObjectRef) -> bool:
        """True when the object is synchronized: listed, or inside a database synchronized whole."""
        entry = self.databases.get(ref.db)
        if entry is None:
            return False
        if ref.table is None or entry.whole:
            return True
        return ref.table in entry.table_map()

    def table_count(self) -> int:
        return sum(len(entry.table_map()) for entry in self.databases.values())

    def __iter__(self) -> Iterator[str]:
        return iter(self.databases)

    def __len__(self) -> int:
        return len(self.databases)

    def __contains__(self, db: object) -> bool:
        return db in self.databases

    def __eq__(self, other: object) -> bool:
        """Semantic equality: server-managed keys and key order do not matter."""
        if not isinstance(other, DbList):
            return NotImplemented
        return self.to_wire() == other.to_wire()

    def __hash__(self) -> int:  # pragma: no cover - instances are not meant as dict keys
        raise TypeError("DbList is not hashable")

    def __repr__(self) -> str:
        return f"DbList({len(self.databases)} databases, {self.table_count()} tables)"


# ---------------------------------------------------------------------- validation helpers

_PYDANTIC_MESSAGES = {
    "bool_type": "expected a boolean",
    "string_type": "expected a string",
    "dict_type": "expected an object",
    "model_type": "expected an object",
    "model_attributes_type": "expected an object",
}


def _json_repr(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 80 else text[:79] + "…"


def _problems_from_pydantic(exc: ValidationError) -> list[dict[str, Any]]:
    problems: list[dict[str, Any]] = []
    for err in exc.errors(include_url=False):
        path = ".".join(str(part) for part in err["loc"])
        expected = _PYDANTIC_MESSAGES.get(err["type"], err["msg"])
        got = _json_repr(err.get("input"))
        problems.append(
            {"path": path, "msg": f"{expected}, got {got}", "type": err["type"], "input": got}
        )
    return problems


def _dedupe(problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[tuple[str, str]] = set()
    out = []
    for p in problems:
        marker = (p["path"], p["msg"])
        if marker not in seen:
            seen.add(marker)
            out.append(p)
    return out


def name_problem(name: object) -> str | None:
    """Why `name` cannot be a database or table name, or None when it is fine."""
    if not isinstance(name, str):
        return f"expected a string name, got {_json_repr(name)}"
    if not name.strip():
        return f"empty name {_json_repr(name)}"
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in name):
        return f"name {short_repr(name)} contains control characters"
    if len(name) > MAX_IDENTIFIER_LENGTH:
        return (
            f"name {short_repr(name)} is {len(name)} characters, over the limit of "
            f"{MAX_IDENTIFIER_LENGTH}"
        )
    return None


def _case_variant(key: str, known: tuple[str, ...]) -> str | None:
    if key in known:
        return None
    for right in known:
        if key.lower() == right.lower():
            return right
    return None


def _user_key_problems(data: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Problems pydantic cannot see: misspelt known keys, bad names, ambiguous database coverage."""
    for db, entry in data.items():
        problem = name_problem(db)
        if problem:
            yield {"path": str(db), "msg": f"invalid database name: {problem}", "type": "invalid_name"}
        if not isinstance(entry, Mapping):
            continue
        yield from _entry_key_problems(str(db), entry, DATABASE_KEYS)
        tables = entry.get("Table")
        if "all" not in entry and isinstance(tables, Mapping) and tables:
            yield {
                "path": f"{db}",
                "msg": 'a Table list without "all": set "all": false to synchronize only the listed '
                'tables (a missing "all" means the whole database)',
                "type": "ambiguous_coverage",
            }
        if isinstance(tables, Mapping):
            for table, table_entry in tables.items():
                path = f"{db}.Table.{table}"
                problem = name_problem(table)
                if problem:
                    yield {"path": path, "msg": f"invalid table name: {problem}", "type": "invalid_name"}
                if isinstance(table_entry, Mapping):
                    yield from _entry_key_problems(path, table_entry, TABLE_KEYS)


def _entry_key_problems(
    path: str, entry: Mapping[str, Any], known: tuple[str, ...]
) -> Iterator[dict[str, Any]]:
    for key in entry:
        right = _case_variant(str(key), known)
        if right is not None:
            yield {
                "path": f"{path}.{key}",
                "msg": f'unknown key {_json_repr(key)}: DTS reads it only as "{right}"',
                "type": "key_case",
            }
    name = entry.get("name")
    if name is not None and isinstance(name, str):
        problem = name_problem(name)
        if problem:
            yield {"path": f"{path}.name", "msg": f"invalid name: {problem}", "type": "invalid_name"}
