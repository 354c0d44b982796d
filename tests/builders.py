"""Builders shared by tests: small DbLists and changes, written the way users and DTS write them."""

from __future__ import annotations

import json
from typing import Any

from dts_change.core.dblist import DbList, ObjectRef
from dts_change.core.merge import ChangeSpec, OnConflict


def build_dts_dblist(data: dict[str, Any]) -> DbList:
    """A DbList as DescribeDtsJobDetail returns it (a JSON string parsed leniently)."""
    return DbList.from_dts(json.dumps(data))


def build_user_dblist(data: dict[str, Any]) -> DbList:
    return DbList.from_user(data)


def tables(db: str, *names: str, **extra: Any) -> dict[str, Any]:
    """A database entry with all: false and the given tables."""
    return {
        db: {"name": db, "all": False, "Table": {t: {"name": t, "all": True} for t in names}, **extra}
    }


def build_change(
    change_id: str = "c1",
    *,
    add: dict[str, Any] | None = None,
    remove: list[str] | None = None,
    on_conflict: OnConflict = "reject",
) -> ChangeSpec:
    refs = []
    for item in remove or []:
        db, _, table = item.partition(".")
        refs.append(ObjectRef(db, table or None))
    return ChangeSpec(
        change_id=change_id,
        add=DbList.from_user(add) if add is not None else None,
        remove=tuple(refs),
        on_conflict=on_conflict,
    )
