"""A deliberately plain second implementation of the merge rules, on plain JSON.

Written from docs/formats.md (§2.1 change documents, §2.3 DbList fragments, §2.6 how a change
merges, §7 names) and from issue #11, never from `merge.py`: no pydantic, no shared helpers, only
dicts and the rules as the documents state them. The properties in `test_reference_properties.py`
feed the same generated jobs and changes to the engine and to this model and compare plain JSON.

The issue #11 rules (§2.6 rules 1-6) are encoded as §2.6 states them, in its documented order,
with the engine's documented error codes (docs/errors.md).
"""

from __future__ import annotations

import copy
import unicodedata
from dataclasses import dataclass, field
from typing import Any

MAX_NAME_CHARS = 128  # docs/formats.md §7
DATABASE_KEYS = ("name", "all", "Table", "dml_op", "ddl_op")
TABLE_KEYS = ("name", "all", "filter", "column", "dml_op", "ddl_op")


class Refused(Exception):
    """The change is refused as a whole; `code` is the documented error code."""

    def __init__(self, code: str, why: str) -> None:
        super().__init__(f"{code}: {why}")
        self.code = code


# ---------------------------------------------------------------------- names and validation


def name_is_valid(name: Any) -> bool:
    """§7: not empty, no control characters, at most 128 characters."""
    if not isinstance(name, str) or name.strip() == "":
        return False
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in name):
        return False
    return len(name) <= MAX_NAME_CHARS


def _misspelt_key(key: str, known: tuple[str, ...]) -> bool:
    """A case variant of a known key (`table`, `ALL`) is an error, not an extra key (§2.1)."""
    return key not in known and any(key.lower() == k.lower() for k in known)


def fragment_is_valid(fragment: Any) -> bool:
    """§2.3 and §7: what `DbList.from_user` must accept (True) or refuse (False)."""
    if not isinstance(fragment, dict):
        return False
    for db, entry in fragment.items():
        if not name_is_valid(db) or not isinstance(entry, dict):
            return False
        if not _entry_is_valid(entry, DATABASE_KEYS):
            return False
        tables = entry.get("Table")
        if tables is None:
            continue
        if not isinstance(tables, dict):
            return False
        if tables and "all" not in entry:
            return False  # a Table list needs "all": false (§2.1)
        for table, t_entry in tables.items():
            if not name_is_valid(table) or not isinstance(t_entry, dict):
                return False
            if not _entry_is_valid(t_entry, TABLE_KEYS):
                return False
            if "column" in t_entry and not isinstance(t_entry["column"], dict):
                return False
    return True


def _entry_is_valid(entry: dict[str, Any], known: tuple[str, ...]) -> bool:
    if any(_misspelt_key(k, known) for k in entry):
        return False
    if "all" in entry and not isinstance(entry["all"], bool):
        return False
    for key in ("name", "dml_op", "ddl_op"):
        if key in entry and not isinstance(entry[key], str):
            return False
    return "name" not in entry or name_is_valid(entry["name"])


# ---------------------------------------------------------------------- reading DTS's list


def strip_markers(dblist: dict[str, Any]) -> dict[str, Any]:
    """The list as it is sent: DTS's `state` marker removed where DTS puts it — a string value on a
    database or table entry (issue #11 point 1) — and nowhere else: a name is data."""
    out: dict[str, Any] = {}
    for db, entry in dblist.items():
        entry = dict(entry)
        if isinstance(entry.get("state"), str):
            del entry["state"]
        tables = entry.get("Table")
        if isinstance(tables, dict):
            new_tables = {}
            for table, t_entry in tables.items():
                t_entry = dict(t_entry)
                if isinstance(t_entry.get("state"), str):
                    del t_entry["state"]
                new_tables[table] = t_entry
            entry["Table"] = new_tables
        out[db] = entry
    return out


def is_whole(entry: dict[str, Any]) -> bool:
    """A missing `all` means the whole database (module docs of the DbList, §2.1)."""
    return entry.get("all") is not False


# ---------------------------------------------------------------------- one change


@dataclass
class Change:
    change_id: str
    add: dict[str, Any] | None = None
    remove: list[tuple[str, str | None]] = field(default_factory=list)
    on_conflict: str = "reject"


@dataclass
class ChangeResult:
    change_id: str
    status: str  # applied | no_op | rejected
    code: str | None = None


@dataclass
class Outcome:
    after: dict[str, Any]
    results: list[ChangeResult]
    removal_phase: dict[str, Any] | None
    addition_phase: dict[str, Any] | None


def _effective(entry: dict[str, Any], key: str, *, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """What an entry asks DTS to do: `name` defaults to its key, `all` to true."""
    data = {k: v for k, v in entry.items() if k not in drop}
    data.setdefault("name", key)
    if "all" not in drop and data.get("all") is None:
        data["all"] = True
    return data


def _differing(carried: dict[str, Any], effective: dict[str, Any]) -> dict[str, Any]:
    """§2.6: only keys the change carries are compared."""
    return {k: v for k, v in carried.items() if effective.get(k) != v}


def _new_entry_with_defaults(entry: dict[str, Any], key: str) -> dict[str, Any]:
    """§2.1: the merge fills in `name` and `all` for new entries."""
    out = copy.deepcopy(entry)
    out.setdefault("name", key)
    if out.get("all") is None:
        out["all"] = True
    return out


def _add_database(work: dict[str, Any], db: str, new: dict[str, Any], on_conflict: str) -> None:
    new_tables = new.get("Table") or {}
    if new.get("all") is False and not new_tables:
        raise Refused("invalid-dblist", f"{db}: all is false and no table is listed")
    old = work.get(db)
    if old is None:
        entry = _new_entry_with_defaults(new, db)
        if new_tables:
            entry["Table"] = {t: _new_entry_with_defaults(e, t) for t, e in new_tables.items()}
        work[db] = entry
        return
    # Database-level settings: every key but the coverage (`all`, `Table`).
    carried = {k: v for k, v in new.items() if k not in ("all", "Table")}
    diff = _differing(carried, _effective(strip_markers({db: old})[db], db, drop=("all", "Table")))
    if diff and on_conflict == "reject":
        raise Refused("conflict", f"database {db} exists with other settings {sorted(diff)}")
    result = {**old, **copy.deepcopy(diff)}
    asks_whole = new.get("all") is True or ("all" not in new and not new_tables)
    if asks_whole:
        if not is_whole(result):
            if on_conflict == "reject":
                raise Refused("conflict", f"{db} is listed table by table; the change wants it whole")
            result = {k: v for k, v in result.items() if k != "Table"}
            result["all"] = True
        work[db] = result
        return
    if is_whole(result):
        # A table inside a database synchronized whole is already synchronized; settings for it
        # cannot be honoured (DTS reads none under a whole database), so they are refused.
        for table, t_new in new_tables.items():
            extra = {
                k: v for k, v in t_new.items()
                if not ((k == "name" and v == table) or (k == "all" and v is True))
            }
            if extra:
                raise Refused("settings-under-whole-database", f"{db}.{table} carries {sorted(extra)}")
        work[db] = result
        return
    tables = dict(result.get("Table") or {})
    for table, t_new in new_tables.items():
        current = tables.get(table)
        if current is None:
            tables[table] = _new_entry_with_defaults(t_new, table)
            continue
        t_eff = _effective(strip_markers({"d": {"Table": {table: current}}})["d"]["Table"][table], table)
        t_diff = _differing(t_new, t_eff)
        if not t_diff:
            continue
        if on_conflict == "reject":
            raise Refused("conflict", f"table {db}.{table} exists with other settings {sorted(t_diff)}")
        tables[table] = {**current, **copy.deepcopy(t_diff)}
    result["Table"] = tables
    work[db] = result


def recreated(change: Change) -> set[tuple[str, str | None]]:
    """§2.6 rule 2: a removed table listed under `add.db.Table`, or a removed database with an
    entry in `add` (whatever it lists), is re-created: its removal is dropped before anything else."""
    add = change.add or {}
    return {
        (db, t) for db, t in change.remove
        if db in add and (t is None or t in (add[db].get("Table") or {}))
    }


def _check_names(work: dict[str, Any], refs: list[tuple[str, str | None]]) -> None:
    """§2.6 rule 3: every remaining removal names a listed object, compared exactly. A table of a
    database the same change removes is covered; a table of a listed whole database is
    `removal-needs-table-list`, which wins over `remove-not-listed`."""
    removed_dbs = {db for db, t in refs if t is None}
    not_listed = []
    for db, table in refs:
        entry = work.get(db)
        if entry is None:
            not_listed.append((db, table))
        elif table is None or db in removed_dbs:
            continue
        elif is_whole(entry):
            raise Refused("removal-needs-table-list", f"{db} is synchronized whole")
        elif table not in (entry.get("Table") or {}):
            not_listed.append((db, table))
    if not_listed:
        raise Refused("remove-not-listed", f"not listed: {sorted(map(str, not_listed))}")


def _remove(work: dict[str, Any], refs: list[tuple[str, str | None]]) -> dict[str, Any]:
    """§2.6 rule 4: the list minus the removals (names it does not hold are passed over: rule 3
    judged them against the working list, and the removal phase may not hold what an earlier
    change added). A database synchronized table by table left with no table, that the same
    removals do not remove, is `removal-empties-database`."""
    out = copy.deepcopy(work)
    removed_dbs = {db for db, t in refs if t is None}
    for db in removed_dbs:
        out.pop(db, None)
    emptied = set()
    for db, table in refs:
        if table is None or db in removed_dbs or db not in out:
            continue
        entry = out[db]
        if is_whole(entry):
            raise Refused("removal-needs-table-list", f"{db} is synchronized whole")
        tables = entry.get("Table") or {}
        if table in tables:
            entry["Table"] = {t: e for t, e in tables.items() if t != table}
            if not entry["Table"]:
                emptied.add(db)
    if emptied:
        raise Refused("removal-empties-database", f"{sorted(emptied)} would list no table")
    return out


def _refuse_empty(dblist: dict[str, Any], what: str) -> None:
    """§2.6 rule 5: DTS is never sent `{}`."""
    if not dblist:
        raise Refused("dblist-would-be-empty", f"{what} would list no database")


def apply_one(current: dict[str, Any], change: Change) -> dict[str, Any]:
    """§2.6 for one change, in the documented order: re-creation (2), names not listed (3),
    removals with the last-table check (4), additions, the empty-list check (5). The change
    applies entirely or not at all."""
    again = recreated(change)
    refs = [ref for ref in change.remove if ref not in again]
    work = copy.deepcopy(current)
    if refs:
        _check_names(work, refs)
        work = _remove(work, refs)
    if change.add is not None:
        for db, new in change.add.items():
            _add_database(work, db, new, change.on_conflict)
    if current:  # "a list which had a database"
        _refuse_empty(work, "after this change the job")
    return work


def fold(current_from_dts: dict[str, Any], changes: list[Change]) -> Outcome:
    """Fold the changes in order against the list as the earlier changes left it; a refused change
    is reported and skipped. Rule 6: the removal phase (the list from DTS minus the accepted
    removals, sent before any addition) is checked per change too."""
    work = current_from_dts
    phase = copy.deepcopy(current_from_dts)
    results = []
    accepted_removals: list[tuple[str, str | None]] = []
    for change in changes:
        refs = [ref for ref in change.remove if ref not in recreated(change)]
        try:
            nxt = apply_one(work, change)
            next_phase = phase
            if refs:
                next_phase = _remove(phase, refs)
                _refuse_empty(next_phase, "the removal phase")
        except Refused as refusal:
            results.append(ChangeResult(change.change_id, "rejected", refusal.code))
            continue
        same = strip_markers(nxt) == strip_markers(work)
        results.append(ChangeResult(change.change_id, "no_op" if same else "applied"))
        accepted_removals.extend(refs)
        work, phase = nxt, next_phase
    before_sent = strip_markers(current_from_dts)
    after_sent = strip_markers(work)
    removal_phase = None
    if accepted_removals and strip_markers(phase) != before_sent:
        removal_phase = strip_markers(phase)
    base = removal_phase if removal_phase is not None else before_sent
    addition_phase = None if after_sent == base else after_sent
    return Outcome(after_sent, results, removal_phase, addition_phase)


# ---------------------------------------------------------------------- what a user can see


def objects(dblist: dict[str, Any]) -> set[tuple[str, str | None]]:
    """Every database and every listed table."""
    out: set[tuple[str, str | None]] = set()
    for db, entry in dblist.items():
        out.add((db, None))
        out.update((db, t) for t in entry.get("Table") or {})
    return out


def covers(dblist: dict[str, Any], db: str, table: str | None) -> bool:
    entry = dblist.get(db)
    if entry is None:
        return False
    return table is None or is_whole(entry) or table in (entry.get("Table") or {})
