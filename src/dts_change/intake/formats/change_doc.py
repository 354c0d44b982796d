"""Format 1: the change document `{"id"?, "job"?, "add"?, "remove"?, "reserved"?, "onConflict"?, "dryRun"?}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...core.change import (
    ParsedChange,
)
from ...core.dblist import DbList, ObjectRef
from ...core.errors import (
    short_repr,
)
from ...core.merge import OnConflict
from .common import (
    Problems,
    check_id,
    check_object_cap,
    parse_add,
    parse_bool,
    parse_job,
    parse_remove,
    parse_reserved,
    unknown_key_message,
)

CHANGE_DOC_KEYS = (
    "id",
    "job",
    "add",
    "remove",
    "reserved",
    "onConflict",
    "dryRun",
    "structureInitialization",
    "dataInitialization",
    "dataSynchronization",
    "comment",
)


def parse(data: Mapping[str, Any], *, what: str, max_objects: int) -> ParsedChange:
    """Format 1: `{"id"?, "job"?, "add"?, "remove"?, "reserved"?, "onConflict"?, "dryRun"?}`."""
    problems = Problems(f"change document {what}")
    for key in data:
        if key not in CHANGE_DOC_KEYS:
            problems.add(str(key), unknown_key_message(str(key), CHANGE_DOC_KEYS))
    if not any(k in data for k in ("add", "remove", "reserved")):
        problems.add("", 'a change document needs at least one of "add", "remove", "reserved"')
    doc_id = check_id(data["id"], "id", problems) if "id" in data else None
    job = parse_job(data["job"], "job", problems) if "job" in data else None
    add: DbList | None = None
    warnings: list[str] = []
    if "add" in data:
        add, warnings = parse_add(data["add"], "add", problems, max_objects=max_objects)
    remove: tuple[ObjectRef, ...] = ()
    if "remove" in data:
        remove = parse_remove(data["remove"], "remove", problems, max_objects=max_objects)
    reserved = parse_reserved(data["reserved"], "reserved", problems) if "reserved" in data else None
    on_conflict: OnConflict = "reject"
    if "onConflict" in data:
        value = data["onConflict"]
        if value in ("reject", "replace"):
            on_conflict = value
        else:
            problems.add("onConflict", f'expected "reject" or "replace", got {short_repr(value)}')
    flags: dict[str, bool | None] = {}
    for key in ("structureInitialization", "dataInitialization", "dataSynchronization", "dryRun"):
        flags[key] = parse_bool(data[key], key, problems) if key in data else None
    if "comment" in data and not isinstance(data["comment"], str):
        problems.add("comment", f"expected a string, got {short_repr(data['comment'])}")
    problems.raise_if_any()
    if add is not None and remove:
        overlap = sorted(set(remove) & add.objects())
        if overlap:
            warnings.append(
                "objects both removed and added are re-created, not removed (their settings are kept): "
                + ", ".join(str(r) for r in overlap[:10])
            )
    check_object_cap((len(add.databases) + add.table_count() if add else 0) + len(remove), max_objects, what)
    return ParsedChange(
        format="change-document",
        doc_id=doc_id,
        job=job,
        add=add,
        remove=remove,
        reserved=reserved,
        on_conflict=on_conflict,
        structure_initialization=flags["structureInitialization"],
        data_initialization=flags["dataInitialization"],
        data_synchronization=flags["dataSynchronization"],
        dry_run=bool(flags["dryRun"]),
        warnings=tuple(warnings),
    )
