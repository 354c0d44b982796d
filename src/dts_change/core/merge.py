"""The merge engine: pure functions that fold changes over a job's DbList without losing objects.

ModifyDtsJob replaces the whole list, so the only safe write is "current list + this change".
Rules (docs/formats.md has examples):
- adding an entry that exists with the same settings, or a table inside a database synchronized
  whole, is a no-op; different settings are a conflict unless the change says `replace`;
- only keys a fragment actually carries are compared and overlaid, so extras DTS keeps
  (`primary_key`, `column`, ...) survive an addition that does not mention them;
- a whole database is never narrowed by an addition: narrowing needs an explicit removal;
- removing a table from a database synchronized whole needs its table list, so it is an error;
- removing a name the job does not list is an error naming the near match (`remove-not-listed`);
- removing the last listed table of a database is an error (`removal-empties-database`): deleting
  the entry would drop its settings; and no list sent, removal phase included, may be empty;
- an object a change both removes and adds is re-created: kept with its settings, then merged;
- each change applies entirely or not at all; a rejected change never blocks the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from .dblist import DbList, ObjectRef
from .errors import (
    ConflictError,
    DbListValidationError,
    DtsChangeError,
    EmptyDbListError,
    InvariantViolationError,
    RemovalEmptiesDatabaseError,
    RemovalNeedsTableListError,
    RemoveNotListedError,
    SettingsUnderWholeDatabaseError,
    TargetNameAddedError,
)
from .values import immutable

if TYPE_CHECKING:
    from .entries import DatabaseEntry, TableEntry

_E = TypeVar("_E", "DatabaseEntry", "TableEntry")

OnConflict = Literal["reject", "replace"]
TargetNamePolicy = Literal["warn", "reject"]
OutcomeStatus = Literal["applied", "no_op", "rejected"]

__all__ = [
    "ChangeOutcome",
    "ChangeSpec",
    "DbListDiff",
    "FoldPlan",
    "FoldResult",
    "ObjectRef",
    "apply_change",
    "check_no_loss",
    "diff_dblists",
    "effective_removals",
    "fold_changes",
    "target_name_warnings",
]


@immutable
class ChangeSpec:
    """What the merge needs of a change: its id, a fragment to add, objects to remove, and policy."""

    change_id: str
    add: DbList | None = None
    remove: tuple[ObjectRef, ...] = ()
    on_conflict: OnConflict = "reject"
    target_names: TargetNamePolicy = "warn"
    """An added source named like a mapping's target: "warn" (reported), or "reject" the change."""
    removals_carried_out: bool = False
    """Folded again after its removal phase was confirmed: a removed name not listed any more is
    the removal's own effect, not `remove-not-listed`."""


@dataclass
class DbListDiff:
    """Objects added, removed and changed between two lists, plus case-only name warnings."""

    added: list[ObjectRef] = field(default_factory=list)
    removed: list[ObjectRef] = field(default_factory=list)
    changed: list[ObjectRef] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def summary(self) -> dict[str, int]:
        return {"added": len(self.added), "removed": len(self.removed), "changed": len(self.changed)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": [str(r) for r in self.added],
            "removed": [str(r) for r in self.removed],
            "changed": [str(r) for r in self.changed],
            "warnings": list(self.warnings),
        }


@dataclass
class ChangeOutcome:
    """How one change fared in a fold."""

    change_id: str
    status: OutcomeStatus
    diff: DbListDiff = field(default_factory=DbListDiff)
    error: DtsChangeError | None = None
    waits_for_earlier: bool = False
    """Rejected only by the removal phase (rule 6) because earlier changes of the same fold are
    in it: folded after them on its own it could pass, so a pass defers it instead of refusing."""


@dataclass
class FoldPlan:
    """DTS needs removals and additions in separate submissions, removals first.

    `removal_phase` is the list to send first (None when nothing is removed); `addition_phase` the
    list to send after it (None when the removals already give the final list)."""

    removal_phase: DbList | None
    addition_phase: DbList | None

    def phases(self) -> list[tuple[Literal["removal", "addition"], DbList]]:
        out: list[tuple[Literal["removal", "addition"], DbList]] = []
        if self.removal_phase is not None:
            out.append(("removal", self.removal_phase))
        if self.addition_phase is not None:
            out.append(("addition", self.addition_phase))
        return out


@dataclass
class FoldResult:
    """What folding changes into a DbList gives: both lists, the diff, each change's outcome, the plan."""

    before: DbList
    after: DbList
    diff: DbListDiff
    outcomes: list[ChangeOutcome]
    plan: FoldPlan
    removals: frozenset[ObjectRef]

    def outcome(self, change_id: str) -> ChangeOutcome:
        for item in self.outcomes:
            if item.change_id == change_id:
                return item
        raise KeyError(change_id)


# ---------------------------------------------------------------------- small helpers


def _with_defaults_table(entry: TableEntry, key: str) -> TableEntry:
    """A new table entry as DTS documents it: explicit `name` and `all`."""
    update: dict[str, Any] = {}
    if entry.name is None:
        update["name"] = key
    if entry.all_ is None:
        update["all_"] = True
    return entry.model_copy(update=update) if update else entry


def _with_defaults_database(entry: DatabaseEntry, key: str) -> DatabaseEntry:
    update: dict[str, Any] = {}
    if entry.name is None:
        update["name"] = key
    if entry.all_ is None:
        update["all_"] = True
    if entry.tables:
        update["tables"] = {t: _with_defaults_table(e, t) for t, e in entry.tables.items()}
    return entry.model_copy(update=update) if update else entry


def _effective_table(entry: TableEntry, key: str) -> dict[str, Any]:
    return entry.settings(key)


def _present(entry: TableEntry | DatabaseEntry, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """The keys a fragment entry explicitly carries (server keys and `drop` removed)."""
    data = entry.wire()
    for key in drop:
        data.pop(key, None)
    return data


def _differences(wanted: dict[str, Any], effective: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in wanted.items() if effective.get(k) != v}


_ALIAS_TO_FIELD = {"all": "all_", "filter": "filter_", "Table": "tables"}


def _overlay(entry: _E, wanted: dict[str, Any]) -> _E:
    """`entry` with the fragment's keys written over it, keeping every key it did not mention."""
    known = {k: v for k, v in wanted.items() if _ALIAS_TO_FIELD.get(k, k) in type(entry).model_fields}
    extra = {k: v for k, v in wanted.items() if k not in known}
    data = entry.model_dump(by_alias=True, exclude_unset=True)
    data.update(known)
    data.update(extra)
    return type(entry).model_validate(data)


def _rebuild(entry: _E, *, set_keys: dict[str, Any], drop_keys: tuple[str, ...]) -> _E:
    data = entry.model_dump(by_alias=True, exclude_unset=True)
    for key in drop_keys:
        data.pop(key, None)
    data.update(set_keys)
    return type(entry).model_validate(data)


# ---------------------------------------------------------------------- one change


def _add_fragment(
    work: dict[str, DatabaseEntry], fragment: DbList, on_conflict: OnConflict
) -> None:
    for db, new in fragment.databases.items():
        old = work.get(db)
        if new.all_ is False and not new.table_map():
            raise DbListValidationError(
                f"Invalid addition: {db}: all is false and no tables are listed, so nothing would "
                "be synchronized",
                hint='List the tables under "Table", or set "all": true for the whole database',
            )
        if old is None:
            work[db] = _with_defaults_database(new, db)
            continue
        work[db] = _merge_database(db, old, new, on_conflict)


def _merge_database(
    db: str, old: DatabaseEntry, new: DatabaseEntry, on_conflict: OnConflict
) -> DatabaseEntry:
    wanted = _present(new, drop=("all", "Table"))
    conflicts = _differences(wanted, old.own_settings(db))
    if conflicts and on_conflict == "reject":
        raise ConflictError(
            f"Conflict: database {db} exists with different settings ({', '.join(sorted(conflicts))}): "
            f"existing {_short(old.own_settings(db))}, change wants {_short(wanted)}",
            existing=old.wire(),
        )
    result = _overlay(old, conflicts) if conflicts else old
    new_whole = new.all_ is True or (new.all_ is None and not new.table_map())
    if new_whole:
        if result.whole:
            return result
        if on_conflict == "reject":
            raise ConflictError(
                f"Conflict: database {db} is synchronized table by table and the change asks "
                "for the whole database",
                hint='Send onConflict: "replace" to synchronize the whole database',
                existing=old.wire(),
            )
        return _rebuild(result, set_keys={"all": True}, drop_keys=("Table",))
    # The change lists tables.
    if result.whole:
        for table, entry in new.table_map().items():
            asked = _present(entry)
            plain = {
                k: v
                for k, v in asked.items()
                if not ((k == "name" and v == table) or (k == "all" and v is True))
            }
            if plain:
                raise SettingsUnderWholeDatabaseError(
                    f"Table settings under a whole database: {db}.{table} carries "
                    f"{', '.join(sorted(plain))} but {db} is synchronized whole (all: true)",
                    evidence=old.wire(),
                )
        return result
    tables = dict(result.table_map())
    for table, entry in new.table_map().items():
        current = tables.get(table)
        if current is None:
            tables[table] = _with_defaults_table(entry, table)
            continue
        wanted_t = _present(entry)
        diff_t = _differences(wanted_t, _effective_table(current, table))
        if not diff_t:
            continue
        if on_conflict == "reject":
            raise ConflictError(
                f"Conflict: table {db}.{table} exists with different settings ({', '.join(sorted(diff_t))}): "
                f"existing {_short(_effective_table(current, table))}, change wants {_short(wanted_t)}",
                existing=current.wire(),
            )
        tables[table] = _overlay(current, diff_t)
    return result.model_copy(update={"tables": tables})


def _short(data: dict[str, Any]) -> str:
    text = repr(data)
    return text if len(text) <= 120 else text[:119] + "…"


def recreated(change: ChangeSpec) -> frozenset[ObjectRef]:
    """Objects the change both removes and adds (the same database, or the same db.table).

    Such an object is re-created, as DDL `DROP` + `CREATE` is: the removal is dropped, so its
    settings (rename, filter, columns, op filters, other tables) are kept and the addition merges
    over them by the usual rules; nothing is reset implicitly (docs/formats.md §2.6)."""
    if change.add is None or not change.remove:
        return frozenset()
    out = set()
    for ref in change.remove:
        entry = change.add.databases.get(ref.db)
        if entry is not None and (ref.table is None or ref.table in entry.table_map()):
            out.add(ref)
    return frozenset(out)


def effective_removals(change: ChangeSpec) -> tuple[ObjectRef, ...]:
    """The change's removals without the objects it re-creates."""
    again = recreated(change)
    return tuple(ref for ref in change.remove if ref not in again) if again else change.remove


def _check_listed(work: Mapping[str, DatabaseEntry], refs: Sequence[ObjectRef]) -> None:
    """Every removed name must be listed, compared exactly; a table of a database the same change
    removes is covered by that removal. Not listed: `remove-not-listed` with the near matches."""
    removed_dbs = {ref.db for ref in refs if ref.table is None}
    missing: list[ObjectRef] = []
    for ref in refs:
        entry = work.get(ref.db)
        if entry is None:
            missing.append(ref)
            continue
        if ref.table is None or ref.db in removed_dbs:
            continue
        if entry.whole:
            raise RemovalNeedsTableListError(
                f"Cannot remove table {ref}: database {ref.db} is synchronized whole (all: true), "
                "so its tables are not listed"
            )
        if ref.table not in entry.table_map():
            missing.append(ref)
    if not missing:
        return
    names = sorted({str(ref) for ref in missing})
    near: dict[str, str] = {}
    for ref in missing:
        match = _near_match(work, ref)
        if match is not None:
            near[str(ref)] = match
    shown = ", ".join(f"{n} (did you mean {near[n]}?)" if n in near else n for n in names[:10])
    raise RemoveNotListedError(
        f"Not listed: the change removes {len(names)} name(s) the job does not list: {shown}"
        f"{' …' if len(names) > 10 else ''}; nothing of this change was applied",
        details={"notListed": names, "nearMatches": dict(sorted(near.items()))},
    )


def _near_match(work: Mapping[str, DatabaseEntry], ref: ObjectRef) -> str | None:
    """The listed object `ref` most likely meant: the same name up to case and look-alikes."""
    db = ref.db if ref.db in work else {name_key(d): d for d in work}.get(name_key(ref.db))
    if db is None:
        return None
    if ref.table is None:
        return db
    tables = work[db].table_map()
    table = ref.table if ref.table in tables else {name_key(t): t for t in tables}.get(name_key(ref.table))
    return None if table is None else str(ObjectRef(db, table))


def _remove_objects(work: dict[str, DatabaseEntry], refs: Iterable[ObjectRef]) -> None:
    """Remove listed objects (names not listed are skipped: `_check_listed` judges those).

    A database whose last listed table goes, and that the same removals do not remove themselves,
    is refused: deleting its entry would silently drop its settings."""
    refs = tuple(refs)
    removed_dbs = {ref.db for ref in refs if ref.table is None}
    emptied: dict[str, DatabaseEntry] = {}
    for ref in refs:
        entry = work.get(ref.db)
        if entry is None or (ref.table is not None and ref.db in removed_dbs):
            continue  # not listed, or covered by the removal of its database
        if ref.table is None:
            del work[ref.db]
            continue
        if entry.whole:
            raise RemovalNeedsTableListError(
                f"Cannot remove table {ref}: database {ref.db} is synchronized whole (all: true), "
                "so its tables are not listed"
            )
        tables = entry.table_map()
        if ref.table not in tables:
            continue
        remaining = {t: e for t, e in tables.items() if t != ref.table}
        if not remaining:
            emptied.setdefault(ref.db, entry)
        work[ref.db] = entry.model_copy(update={"tables": remaining})
    still = sorted(db for db in emptied if db in work)
    if still:
        db = still[0]
        settings = emptied[db].own_settings(db)
        raise RemovalEmptiesDatabaseError(
            f"Removal would leave database {db} with no table listed: it is synchronized table by "
            f"table and the change removes its last listed table(s); deleting the entry would drop "
            f"its settings {_short(settings)}",
            hint=f'Remove the database explicitly (remove: ["{db}"]) to stop synchronizing it and drop '
            "its settings; to swap its tables, add the new table first, then remove the old one.",
            details={"databases": still},
            evidence={d: emptied[d].wire() for d in still},
        )


def _refuse_empty(work: Mapping[str, DatabaseEntry], what: str) -> None:
    if not work:
        raise EmptyDbListError(
            f"Empty DbList: {what} would list no database; DTS would be sent {{}}"
        )


def apply_change(current: DbList, change: ChangeSpec) -> DbList:
    """The list after one change (removals, then additions); raises when the change is rejected."""
    work = dict(current.databases)
    removals = effective_removals(change)
    if removals:
        if not change.removals_carried_out:
            _check_listed(work, removals)
        _remove_objects(work, removals)
    if change.add is not None:
        _add_fragment(work, change.add, change.on_conflict)
    if current.databases:  # a list that was already empty stays unsent: nothing changes
        _refuse_empty(work, "after this change the job")
    return DbList(work)


# ---------------------------------------------------------------------- diff and invariant


def diff_dblists(
    before: DbList,
    after: DbList,
    only: Iterable[str] | None = None,
    *,
    focus: Mapping[str, Iterable[str]] | None = None,
    warnings: bool = True,
) -> DbListDiff:
    """What changed, object by object, with a warning for names that differ only in case.

    `only` limits the comparison to those databases (a change touches few of thousands); `focus`
    further limits the settings comparison of tables listed on both sides to the named ones. Works
    on key sets and entry identity (entries are immutable), so unchanged tables cost next to nothing."""
    out = DbListDiff()
    names = set(only) if only is not None else set(before.databases) | set(after.databases)
    for db in names:
        b = before.databases.get(db)
        a = after.databases.get(db)
        if a is b:
            continue
        if b is None:
            assert a is not None
            out.added.append(ObjectRef(db))
            out.added.extend(ObjectRef(db, t) for t in a.table_map())
            continue
        if a is None:
            out.removed.append(ObjectRef(db))
            out.removed.extend(ObjectRef(db, t) for t in b.table_map())
            continue
        if b.whole != a.whole or b.own_settings(db) != a.own_settings(db):
            out.changed.append(ObjectRef(db))
        b_tables, a_tables = b.table_map(), a.table_map()
        for table in a_tables.keys() - b_tables.keys():
            # Newly listed under a database that was synchronized whole: not new to DTS.
            (out.changed if b.whole else out.added).append(ObjectRef(db, table))
        for table in b_tables.keys() - a_tables.keys():
            (out.changed if a.whole else out.removed).append(ObjectRef(db, table))
        candidates = a_tables.keys() if focus is None else set(focus.get(db, ())) & a_tables.keys()
        for table in candidates:
            a_entry = a_tables[table]
            b_entry = b_tables.get(table)
            if b_entry is None or b_entry is a_entry:
                continue
            if b_entry.settings(table) != a_entry.settings(table):
                out.changed.append(ObjectRef(db, table))
    out.added.sort()
    out.removed.sort()
    out.changed.sort()
    if warnings:
        out.warnings = _case_warnings(before, out.added) + target_name_warnings(before, out.added)
    return out


_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
# The Cyrillic and Greek letters most often mistaken for Latin ones in identifiers.
_LOOKALIKES = str.maketrans("аеорсухіјѕԁɡοαеΑΒΕΗΙΚΜΝΟΡΤΧΥΖ", "aeopcyxijsdgoaeABEHIKMNOPTXYZ")


def name_key(name: str) -> str:
    """A name folded for "looks the same" comparisons: compatibility forms (fullwidth letters),
    zero-width characters, common Cyrillic/Greek look-alikes and case all removed."""
    import unicodedata  # noqa: PLC0415 - only when a change adds objects

    return unicodedata.normalize("NFKC", name).translate(_ZERO_WIDTH).translate(_LOOKALIKES).casefold()


def _case_warnings(before: DbList, added: list[ObjectRef]) -> list[str]:
    """Names are compared exactly; one that differs from an existing name only by case or by
    look-alike characters is almost always a typo, so it is reported."""
    warnings = []
    dbs_folded: dict[str, str] | None = None
    tables_folded: dict[str, dict[str, str]] = {}
    for ref in added:
        if ref.table is None:
            if dbs_folded is None:
                dbs_folded = {name_key(db): db for db in before.databases}
            match = dbs_folded.get(name_key(ref.db))
            if match is not None and match != ref.db:
                warnings.append(
                    f"Database {ref.db!r} differs only in case or look-alike characters from existing database {match!r}"
                )
            continue
        entry = before.databases.get(ref.db)
        if entry is None:
            continue
        if ref.db not in tables_folded:
            tables_folded[ref.db] = {name_key(t): t for t in entry.table_map()}
        found = tables_folded[ref.db].get(name_key(ref.table))
        if found is not None and found != ref.table:
            warnings.append(
                f"Table {str(ref)!r} differs only in case or look-alike characters from existing table "
                f"{ref.db + '.' + found!r}"
            )
    return warnings


def target_name_warnings(before: DbList, added: Iterable[ObjectRef]) -> list[str]:
    """An added source object whose name is where the job already writes a mapped entry (a
    database's `name`, or a table's `name` in the same database, other than its own key) is most
    likely that target mistaken for a source: warn, naming the mapping. Names compare like
    `name_key` (case and look-alikes folded)."""
    warnings: list[str] = []
    db_targets: dict[str, tuple[str, str]] | None = None
    for ref in added:
        if ref.table is None:
            if ref.db in before.databases:
                continue
            if db_targets is None:
                db_targets = {}
                for db, db_entry in before.databases.items():
                    if db_entry.name is not None and db_entry.name != db:
                        db_targets.setdefault(name_key(db_entry.name), (db, db_entry.name))
            hit = db_targets.get(name_key(ref.db))
            if hit is not None:
                warnings.append(
                    f"Database {ref.db!r} is the target name of mapped database {hit[0]} -> {hit[1]}: "
                    "it was added as a new source database"
                )
            continue
        entry = before.databases.get(ref.db)
        if entry is None:
            continue
        listed = entry.table_map()
        if ref.table in listed:
            continue
        for table, t_entry in listed.items():
            if t_entry.name is not None and t_entry.name != table and name_key(t_entry.name) == name_key(ref.table):
                warnings.append(
                    f"Table {str(ref)!r} is the target name of mapped table {ref.db}.{table} -> "
                    f"{t_entry.name}: it was added as a new source table"
                )
                break
    return warnings


def _refuse_target_names(before: DbList, added: list[ObjectRef]) -> None:
    found = target_name_warnings(before, added)
    if found:
        raise TargetNameAddedError(
            f"Target name added as a source: {found[0]}"
            + (f" (and {len(found) - 1} more)" if len(found) > 1 else ""),
            details={"warnings": found},
        )


def check_no_loss(
    before: DbList, after: DbList, removals: Iterable[ObjectRef], only: Iterable[str] | None = None
) -> None:
    """DESIGN §1.1: every object of `before` is in `after` unless a removal named it.

    `only` limits the check to those databases; the fold still checks the whole list at the end."""
    removed_dbs: set[str] = set()
    removed_tables: dict[str, set[str]] = {}
    for ref in removals:
        if ref.table is None:
            removed_dbs.add(ref.db)
        else:
            removed_tables.setdefault(ref.db, set()).add(ref.table)
    missing: list[ObjectRef] = []
    names = set(only) if only is not None else before.databases.keys()
    for db in names:
        entry = before.databases.get(db)
        if entry is None or db in removed_dbs:
            continue
        now = after.databases.get(db)
        if now is entry:
            continue
        tables = entry.table_map()
        gone = removed_tables.get(db, set())
        if now is None:
            if entry.whole or not tables.keys() <= gone:
                missing.append(ObjectRef(db))
            continue
        if entry.whole and not now.whole:
            missing.append(ObjectRef(db))
        if now.whole:
            continue
        lost = tables.keys() - now.table_map().keys() - gone
        missing.extend(ObjectRef(db, t) for t in lost)
    if missing:
        refs = sorted(missing)
        shown = ", ".join(str(r) for r in refs[:10])
        raise InvariantViolationError(
            f"Invariant violated: the new DbList would drop {len(refs)} object(s) nobody removed: "
            f"{shown}{' …' if len(refs) > 10 else ''}",
            missing_objects=[str(r) for r in refs],
        )


# ---------------------------------------------------------------------- fold


def fold_changes(current: DbList, changes: Sequence[ChangeSpec]) -> FoldResult:
    """Fold changes in order; rejected ones are reported and skipped, the rest still apply.

    Alongside the final list it keeps the removal phase (the current list minus the accepted
    removals, sent first): a change is rejected too when that phase would empty a database or
    the whole list, even if a later addition refills it."""
    work = current
    removal_work = dict(current.databases)
    outcomes: list[ChangeOutcome] = []
    accepted_removals: list[ObjectRef] = []
    for change in changes:
        removals = effective_removals(change)
        touched = {r.db for r in change.remove}
        if change.add is not None:
            touched.update(change.add.databases)
        focus = {db: e.table_map().keys() for db, e in change.add.databases.items()} if change.add else {}
        in_removal_phase = False
        try:
            nxt = apply_change(work, change)
            check_no_loss(work, nxt, removals, only=touched)
            phase_work = removal_work
            if removals:
                in_removal_phase = True
                phase_work = dict(removal_work)
                _remove_objects(phase_work, removals)
                _refuse_empty(phase_work, "the removal phase (sent before any addition)")
                in_removal_phase = False
            step = diff_dblists(work, nxt, only=touched, focus=focus, warnings=False)
            if change.target_names == "reject":
                _refuse_target_names(work, step.added)
        except DtsChangeError as exc:
            # The change passed on the list the earlier changes left; only their shared removal
            # phase refused it: with nothing accepted before it, that phase is its own list.
            waits = in_removal_phase and any(o.status != "rejected" for o in outcomes)
            outcomes.append(ChangeOutcome(change.change_id, "rejected", error=exc, waits_for_earlier=waits))
            continue
        outcomes.append(ChangeOutcome(change.change_id, "no_op" if step.empty else "applied", step))
        accepted_removals.extend(removals)
        removal_work = phase_work
        work = nxt
    check_no_loss(current, work, accepted_removals)
    return FoldResult(
        before=current,
        after=work,
        diff=diff_dblists(current, work),
        outcomes=outcomes,
        plan=_plan(current, work, accepted_removals, DbList(removal_work)),
        removals=frozenset(accepted_removals),
    )


def _plan(before: DbList, after: DbList, removals: list[ObjectRef], removed: DbList) -> FoldPlan:
    """`removed`: `before` minus the accepted removals, as the fold computed it."""
    removal_phase: DbList | None = None
    if removals and not diff_dblists(before, removed, warnings=False).empty:
        removal_phase = removed
    base = removal_phase if removal_phase is not None else before
    addition_phase = None if diff_dblists(base, after, warnings=False).empty else after
    if removal_phase is not None:
        check_no_loss(before, removal_phase, removals)
    if addition_phase is not None:
        check_no_loss(base, addition_phase, ())
    return FoldPlan(removal_phase=removal_phase, addition_phase=addition_phase)
