"""The pydantic models of one DbList entry (database, table), and the validator of a whole list.

Imported by `dblist.py` on the first validation, not with it: building these model classes (and
the parts of pydantic they need) is most of the cost of importing the DbList model, and an
invocation that validates nothing (a timer pass with nothing pending) never needs them.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from .dblist import _strip_entry_marker


class _Entry(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        strict=True,
        frozen=True,
        populate_by_name=True,
        revalidate_instances="never",
        defer_build=True,
    )

    def wire(self, *, keep_server_keys: bool = False) -> dict[str, Any]:
        data = self.model_dump(by_alias=True, exclude_unset=True)
        if not keep_server_keys:
            self._strip_markers(data)
        return data

    @staticmethod
    def _strip_markers(data: dict[str, Any]) -> None:
        _strip_entry_marker(data)


class TableEntry(_Entry):
    """A table item under `Table`: destination `name`, `all`, row `filter`, `column` map, op filters."""

    name: str | None = None
    all_: bool | None = Field(None, alias="all")
    filter_: Any = Field(None, alias="filter")
    column: dict[str, Any] | None = None
    dml_op: str | None = None
    ddl_op: str | None = None

    def settings(self, key: str) -> dict[str, Any]:
        """What this entry asks DTS to do, for comparisons: server keys dropped, defaults filled."""
        data = self.wire()
        data.setdefault("name", key)
        if data.get("all") is None:
            data["all"] = True
        return data


class DatabaseEntry(_Entry):
    """A database item: destination `name`, `all` (absent = whole), `Table` map, op filters."""

    name: str | None = None
    all_: bool | None = Field(None, alias="all")
    tables: dict[str, TableEntry] | None = Field(None, alias="Table")
    dml_op: str | None = None
    ddl_op: str | None = None

    @property
    def whole(self) -> bool:
        """True when the whole database is synchronized (`all` true or absent)."""
        return self.all_ is not False

    def table_map(self) -> dict[str, TableEntry]:
        return self.tables or {}

    @staticmethod
    def _strip_markers(data: dict[str, Any]) -> None:
        _strip_entry_marker(data)
        tables = data.get("Table")
        if isinstance(tables, dict):
            for table in tables.values():
                if isinstance(table, dict):
                    _strip_entry_marker(table)

    def own_settings(self, key: str) -> dict[str, Any]:
        """Database-level settings without `all` and `Table` (those describe coverage, not settings)."""
        # No alias among the fields left (`all` and `Table` are the aliased ones, excluded).
        data = self.model_dump(exclude_unset=True, exclude={"tables", "all_"})
        _strip_entry_marker(data)
        data.setdefault("name", key)
        return data


@cache
def dblist_adapter() -> TypeAdapter[dict[str, DatabaseEntry]]:
    """The validator of a whole list (`{database: DatabaseEntry}`), built once, on first use."""
    return TypeAdapter(dict[str, DatabaseEntry])
