"""What every change format's parser shares: problem collection with dotted paths, object names,
DbList fragments, and the job, add, remove and reserved parts of a document.

Parsing is strict about meaning and precise in reporting: every problem carries a dotted path
(`add.shop.Table.orders.all`, `remove[2]`), the offending value and what was expected; several
problems are reported together in `details`. Nothing here reads OSS, the environment or the clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from ...core.change import (
    DIRECTIONS,
    Direction,
    JobTarget,
)
from ...core.dblist import DbList, ObjectRef, name_problem
from ...core.errors import (
    ChangeDocumentError,
    DbListValidationError,
    InputTooLargeError,
    InvalidNameError,
    short_repr,
)
from ...core.jsonsafe import load_json

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_REGION_RE = re.compile(r"^[a-z]{2,}(?:-[a-z0-9]+)+$")
MAX_CHANGE_ID_LENGTH = 128


# ---------------------------------------------------------------------- problem collection


class Problems:
    """Collects problems with dotted paths; raises one error naming the first and counting the rest."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.items: list[dict[str, Any]] = []

    def add(self, path: str, msg: str, *, value: Any = None, kind: str = "invalid") -> None:
        item: dict[str, Any] = {"path": path, "msg": msg, "type": kind}
        if value is not None:
            item["input"] = short_repr(value)
        self.items.append(item)

    def extend(self, prefix: str, details: Any) -> None:
        for item in details if isinstance(details, list) else []:
            path = str(item.get("path", ""))
            new = dict(item)
            new["path"] = ".".join(part for part in (prefix, path) if part)
            self.items.append(new)

    def raise_if_any(self, error: type[ChangeDocumentError] = ChangeDocumentError) -> None:
        if not self.items:
            return
        head = self.items[0]
        more = f" (and {len(self.items) - 1} more)" if len(self.items) > 1 else ""
        where = f"{head['path']}: " if head["path"] else ""
        if all(item.get("type") == "invalid_name" for item in self.items):
            error = InvalidNameError
        raise error(f"Invalid {self.what}: {where}{head['msg']}{more}", details=self.items)


def _case_hint(key: str, known: Iterable[str]) -> str | None:
    folded = key.replace("_", "").lower()
    for right in known:
        if folded == right.lower():
            return right
    return None


def unknown_key_message(key: str, known: Iterable[str]) -> str:
    known = tuple(known)
    right = _case_hint(key, known)
    if right is not None:
        return f"unknown key {key!r}: did you mean {right!r}"
    return f"unknown key {short_repr(key)}; expected one of: {', '.join(known)}"


# ---------------------------------------------------------------------- names


def _check_name(name: str, path: str, problems: Problems, kind: str) -> bool:
    problem = name_problem(name)
    if problem:
        problems.add(path, f"invalid {kind} name: {problem}", kind="invalid_name")
        return False
    return True


def split_object_name(text: str) -> tuple[str, str | None] | None:
    """`db`, `db.table`, with optional backtick or double-quote quoting of either part.

    Unquoted parts may not contain whitespace: `shop orders` is a typo far more often than a name.
    """
    parts: list[str] = []
    i = 0
    n = len(text)
    while i <= n:
        if i < n and text[i] in '`"':
            quote = text[i]
            j = i + 1
            buf = []
            while j < n:
                if text[j] == quote:
                    if j + 1 < n and text[j + 1] == quote:
                        buf.append(quote)
                        j += 2
                        continue
                    break
                buf.append(text[j])
                j += 1
            else:
                return None
            parts.append("".join(buf))
            i = j + 1
        else:
            j = text.find(".", i)
            j = n if j == -1 else j
            segment = text[i:j]
            if any(ch in segment for ch in '`"') or any(ch.isspace() for ch in segment):
                return None
            parts.append(segment)
            i = j
        if i == n:
            break
        if text[i] != ".":
            return None
        i += 1
        if i == n:
            parts.append("")
            break
    if len(parts) == 1:
        return parts[0], None
    if len(parts) == 2:
        return parts[0], parts[1]
    return None


def parse_object_ref(value: Any, path: str, problems: Problems) -> ObjectRef | None:
    """One "db" or "db.table" string as an `ObjectRef`, or a problem recorded at `path`."""
    if not isinstance(value, str):
        problems.add(path, f'expected a "db" or "db.table" string, got {short_repr(value)}')
        return None
    split = split_object_name(value.strip())
    if split is None:
        problems.add(
            path,
            f'expected "db" or "db.table" (quote names containing dots or spaces with '
            f"backticks), got {short_repr(value)}",
        )
        return None
    db, table = split
    ok = _check_name(db, path, problems, "database")
    if table is not None:
        ok = _check_name(table, path, problems, "table") and ok
    return ObjectRef(db, table) if ok else None


def fragment_from_refs(refs: Iterable[ObjectRef]) -> tuple[dict[str, Any], list[str]]:
    """A minimal DbList fragment adding these objects, plus warnings for redundant entries.

    Only `all` is written: names and settings stay as they are in the job (the merge fills in
    defaults for new entries), so adding an existing table never conflicts with its settings.
    """
    whole: list[str] = []
    tables: dict[str, list[str]] = {}
    for ref in refs:
        if ref.table is None:
            if ref.db not in whole:
                whole.append(ref.db)
        elif ref.table not in tables.setdefault(ref.db, []):
            tables[ref.db].append(ref.table)
    fragment: dict[str, Any] = {}
    warnings: list[str] = []
    for db in whole:
        fragment[db] = {"all": True}
        if tables.pop(db, None):
            warnings.append(f"tables listed for {db} are covered by adding the whole database {db}")
    for db, names in tables.items():
        fragment[db] = {"all": False, "Table": {t: {} for t in names}}
    return fragment, warnings


def count_fragment_objects(fragment: Mapping[str, Any]) -> int:
    count = 0
    for entry in fragment.values():
        count += 1
        if isinstance(entry, Mapping) and isinstance(entry.get("Table"), Mapping):
            count += len(entry["Table"])
    return count


def check_object_cap(count: int, cap: int, what: str) -> None:
    if count > cap:
        raise InputTooLargeError(
            f"Too many objects in {what}: {count} databases and tables, over the cap of {cap} "
            "objects per change",
            hint="Split the change into several documents or raise DTS_CHANGE_MAX_OBJECTS",
        )


def dblist_from_fragment(
    fragment: Mapping[str, Any], path: str, problems: Problems, *, what: str
) -> DbList | None:
    try:
        return DbList.from_user(fragment, what=what)
    except DbListValidationError as exc:
        problems.extend(path, exc.details) if exc.details else problems.add(path, exc.message)
        return None


JOB_KEYS = ("dtsJobId", "dtsInstanceId", "direction", "region")


def check_id(value: Any, path: str, problems: Problems, *, kind: str = "id") -> str | None:
    if not isinstance(value, str) or not value.strip():
        problems.add(path, f"expected a non-empty string {kind}, got {short_repr(value)}")
        return None
    if len(value) > MAX_CHANGE_ID_LENGTH or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        problems.add(
            path,
            f"{kind} {short_repr(value)} must be at most {MAX_CHANGE_ID_LENGTH} printable characters",
        )
        return None
    return value


def parse_dts_id(value: Any, path: str, problems: Problems) -> str | None:
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        problems.add(
            path,
            f"expected a DTS id (letters, digits, '_', '-', at most 64 characters), got {short_repr(value)}",
        )
        return None
    return value


def parse_direction(value: Any, path: str, problems: Problems) -> Direction:
    if isinstance(value, str):
        for right in DIRECTIONS:
            if value.lower() == right.lower():
                return right
    problems.add(path, f'expected "Forward" or "Reverse", got {short_repr(value)}')
    return "Forward"


def parse_region(value: Any, path: str, problems: Problems) -> str | None:
    if not isinstance(value, str) or not _REGION_RE.fullmatch(value):
        problems.add(path, f"expected a region id such as 'cn-hangzhou', got {short_repr(value)}")
        return None
    return value


def parse_bool(value: Any, path: str, problems: Problems) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    problems.add(path, f"expected true or false, got {short_repr(value)}")
    return None


def parse_job(value: Any, path: str, problems: Problems) -> JobTarget | None:
    if isinstance(value, str):
        job_id = parse_dts_id(value, path, problems)
        return JobTarget(dts_job_id=job_id) if job_id else None
    if not isinstance(value, Mapping):
        problems.add(path, f'expected a DTS job id or an object {{"dtsJobId", ...}}, got {short_repr(value)}')
        return None
    before = len(problems.items)
    for key in value:
        if key not in JOB_KEYS:
            problems.add(f"{path}.{key}", unknown_key_message(str(key), JOB_KEYS))
    job_id = value.get("dtsJobId")
    instance_id = value.get("dtsInstanceId")
    if job_id is None and instance_id is None:
        problems.add(path, "a job needs dtsJobId or dtsInstanceId")
    if job_id is not None:
        job_id = parse_dts_id(job_id, f"{path}.dtsJobId", problems)
    if instance_id is not None:
        instance_id = parse_dts_id(instance_id, f"{path}.dtsInstanceId", problems)
    direction: Direction = "Forward"
    if "direction" in value:
        direction = parse_direction(value["direction"], f"{path}.direction", problems)
    region = None
    if "region" in value:
        region = parse_region(value["region"], f"{path}.region", problems)
    if len(problems.items) > before:
        return None
    return JobTarget(job_id, instance_id, direction, region)


def parse_add(
    value: Any, path: str, problems: Problems, *, max_objects: int
) -> tuple[DbList | None, list[str]]:
    """`add`: a DbList fragment, or a list of "db" / "db.table" strings."""
    if isinstance(value, list):
        check_object_cap(len(value), max_objects, path)
        refs = [parse_object_ref(item, f"{path}[{i}]", problems) for i, item in enumerate(value)]
        if not value:
            problems.add(path, "expected at least one object to add")
        clean = [r for r in refs if r is not None]
        if len(clean) != len(refs) or not clean:
            return None, []
        fragment, warnings = fragment_from_refs(clean)
        return dblist_from_fragment(fragment, path, problems, what=path), warnings
    if isinstance(value, Mapping):
        if not value:
            problems.add(path, "expected at least one database to add")
            return None, []
        check_object_cap(count_fragment_objects(value), max_objects, path)
        return dblist_from_fragment(value, path, problems, what=path), []
    problems.add(path, f'expected a DbList object or a list of "db.table" strings, got {short_repr(value)}')
    return None, []


def parse_remove(value: Any, path: str, problems: Problems, *, max_objects: int) -> tuple[ObjectRef, ...]:
    """`remove`: ["db", "db.table"], or {"db": true | ["t1"] | {"Table": {"t1": ...}}}."""
    refs: list[ObjectRef | None] = []
    if isinstance(value, list):
        check_object_cap(len(value), max_objects, path)
        refs = [parse_object_ref(item, f"{path}[{i}]", problems) for i, item in enumerate(value)]
    elif isinstance(value, Mapping):
        check_object_cap(count_fragment_objects(value), max_objects, path)
        for db, sel in value.items():
            where = f"{path}.{db}"
            if not _check_name(db, where, problems, "database"):
                continue
            if sel is True or (isinstance(sel, Mapping) and "Table" not in sel):
                refs.append(ObjectRef(db))
            elif isinstance(sel, list) or (
                isinstance(sel, Mapping) and isinstance(sel.get("Table"), Mapping)
            ):
                names = list(sel) if isinstance(sel, list) else list(sel["Table"])
                if not names:
                    problems.add(where, "expected at least one table to remove")
                check_object_cap(len(names), max_objects, where)
                for i, table in enumerate(names):
                    tpath = f"{where}[{i}]" if isinstance(sel, list) else f"{where}.Table.{table}"
                    if not isinstance(table, str):
                        problems.add(tpath, f"expected a table name, got {short_repr(table)}")
                    elif _check_name(table, tpath, problems, "table"):
                        refs.append(ObjectRef(db, table))
            else:
                problems.add(
                    where,
                    "expected true (the whole database), a list of table names, or "
                    f'{{"Table": {{...}}}}, got {short_repr(sel)}',
                )
    else:
        problems.add(
            path,
            f'expected a list of "db" / "db.table" strings or a selector object, got {short_repr(value)}',
        )
        return ()
    if not refs and not problems.items:
        problems.add(path, "expected at least one object to remove")
    clean = [r for r in refs if r is not None]
    return tuple(dict.fromkeys(clean))


def parse_reserved(value: Any, path: str, problems: Problems) -> dict[str, Any] | None:
    if isinstance(value, str):
        try:
            value = load_json(value, what=path, max_depth=16)
        except ChangeDocumentError as exc:
            problems.add(path, exc.message)
            return None
    if not isinstance(value, Mapping) or not value:
        problems.add(path, f"expected a non-empty JSON object of Reserved keys, got {short_repr(value)}")
        return None
    return dict(value)
