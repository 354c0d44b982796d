"""The merge engine against the plain reference model (tests/reference/model.py), on plain JSON.

Each example is a job's list as DTS returns it and one to three changes; the engine's public API
(`DbList.from_dts`, `DbList.from_user`, `fold_changes`) and the model each compute the list sent,
every change's status (and code when refused) and the two submission phases. Any difference is a
bug in one of them: the documents (docs/formats.md) decide which.
"""

from __future__ import annotations

import json
import os
import unicodedata
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dts_change.core.dblist import DbList, ObjectRef
from dts_change.core.errors import DbListValidationError, DtsChangeError
from dts_change.core.merge import ChangeSpec, fold_changes
from tests.reference import model
from tests.reference.generators import dts_lists, removals, user_fragments

EXAMPLES = int(os.environ.get("DTS_CHANGE_FUZZ_EXAMPLES", "150"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)

def engine_change(change: model.Change) -> ChangeSpec:
    return ChangeSpec(
        change_id=change.change_id,
        add=DbList.from_user(change.add) if change.add is not None else None,
        remove=tuple(ObjectRef(db, t) for db, t in change.remove),
        on_conflict=change.on_conflict,  # type: ignore[arg-type]
    )


def run_engine(current: dict[str, Any], changes: list[model.Change]) -> dict[str, Any]:
    """The engine's answer in the model's terms: plain JSON only."""
    result = fold_changes(DbList.from_dts(json.dumps(current)), [engine_change(c) for c in changes])
    return {
        "after": result.after.to_wire(),
        "results": [
            (o.change_id, o.status, o.error.code if o.error is not None else None) for o in result.outcomes
        ],
        "removal_phase": result.plan.removal_phase.to_wire() if result.plan.removal_phase else None,
        "addition_phase": result.plan.addition_phase.to_wire() if result.plan.addition_phase else None,
    }


def run_model(current: dict[str, Any], changes: list[model.Change]) -> dict[str, Any]:
    out = model.fold(current, changes)
    return {
        "after": out.after,
        "results": [(r.change_id, r.status, r.code) for r in out.results],
        "removal_phase": out.removal_phase,
        "addition_phase": out.addition_phase,
    }


@st.composite
def jobs_and_changes(draw: st.DrawFn, *, with_state: bool = True) -> tuple[dict[str, Any], list[model.Change]]:
    current = draw(dts_lists(with_state=with_state))
    changes = []
    for i in range(draw(st.integers(1, 3))):
        add = draw(st.one_of(st.none(), user_fragments(current, with_state=with_state)))
        remove = draw(removals(current))
        if add is None and not remove:
            add = draw(user_fragments(current, with_state=with_state))
        changes.append(model.Change(f"c{i}", add, remove, draw(st.sampled_from(["reject", "replace"]))))
    return current, changes


@SETTINGS
@given(jobs_and_changes())
def test_engine_matches_reference_model(example):
    current, changes = example
    expected = run_model(current, changes)
    for _, status, code in expected["results"]:
        event(f"{status} {code or ''}".strip())
    assert run_engine(current, changes) == expected


@SETTINGS
@given(st.data())
def test_engine_refuses_exactly_the_fragments_the_docs_refuse(data):
    current = data.draw(dts_lists(with_state=True))
    fragment = data.draw(user_fragments(current, with_state=True, invalid_rate=2))
    try:
        DbList.from_user(fragment)
        accepted = True
    except DbListValidationError:
        accepted = False
    assert accepted == model.fragment_is_valid(fragment), fragment


def _looks_same(name: str) -> str:
    """Case and look-alike folding for the names the generators use (docs: look-alike warning)."""
    confusables = str.maketrans("\u043e\u0430\u0435\u0440\u0441", "oaepc")
    return unicodedata.normalize("NFKC", name).translate(confusables).casefold()


@SETTINGS
@given(jobs_and_changes())
def test_a_new_database_that_looks_like_a_listed_one_is_warned_about(example):
    """Look-alike names (§2.6 rule 3's folding) and target names added as sources (rule 7, judged
    against the list before the pass) are each warned about, and nothing else is."""
    current, changes = example
    expected = run_model(current, changes)
    result = fold_changes(DbList.from_dts(json.dumps(current)), [engine_change(c) for c in changes])
    added = set(expected["after"]) - set(current)
    looks_like = {
        db for db in added
        if any(_looks_same(db) == _looks_same(old) and db != old for old in current)
    }
    targets = {
        _looks_same(entry["name"]) for key, entry in current.items()
        if "name" in entry and entry["name"] != key
    }
    is_target = {db for db in added if _looks_same(db) in targets}
    for db in added:
        said = [w for w in result.diff.warnings if w.startswith(f"Database {db!r} ")]
        assert any("differs only in case or look-alike" in w for w in said) == (db in looks_like), (db, said)
        assert any("is the target name of mapped database" in w for w in said) == (db in is_target), (db, said)


@SETTINGS
@given(jobs_and_changes())
def test_every_object_survives_unless_a_change_removed_it(example):
    """The promise, judged on plain JSON: nothing listed before is missing after unless an
    accepted change named it (or its database)."""
    current, changes = example
    expected = run_model(current, changes)
    after = run_engine(current, changes)["after"]
    accepted = {r[0] for r in expected["results"] if r[1] != "rejected"}
    removed = {ref for c in changes if c.change_id in accepted for ref in c.remove}
    for db, table in model.objects(current):
        if (db, None) in removed or (db, table) in removed:
            continue
        assert model.covers(after, db, table), (db, table)


# ---------------------------------------------------------------------- issue #11, one example per point


def _refused(current: dict[str, Any], change: model.Change) -> str | None:
    try:
        result = fold_changes(DbList.from_dts(json.dumps(current)), [engine_change(change)])
    except DtsChangeError as exc:  # pragma: no cover - the fold reports, it does not raise
        return exc.code
    outcome = result.outcomes[0]
    return outcome.error.code if outcome.error is not None else None


def test_point_1_a_table_and_a_column_named_state_are_kept():
    current = {"shop": {"name": "shop", "all": False, "state": "normal", "Table": {
        "state": {"name": "state", "all": True, "state": "normal"},
        "orders": {"name": "orders", "all": True, "column": {"state": "status"}},
    }}}
    change = model.Change("c", add={"shop": {"all": False, "Table": {"new": {}}}})
    assert run_engine(current, [change])["after"] == run_model(current, [change])["after"]


def test_point_2_removing_the_last_listed_table_is_refused():
    current = {"shop": {"name": "shop_dst", "all": False, "dml_op": "I", "Table": {"t": {"name": "t", "all": True}}},
               "crm": {"all": True}}
    assert _refused(current, model.Change("c", remove=[("shop", "t")])) == "removal-empties-database"


def test_point_3_removing_the_only_database_is_refused():
    assert _refused({"shop": {"all": True}}, model.Change("c", remove=[("shop", None)])) == "dblist-would-be-empty"


def test_point_4_removing_an_unlisted_name_is_never_applied():
    current = {"shop": {"all": False, "Table": {"orders": {}, "items": {}}}}
    result = fold_changes(DbList.from_dts(json.dumps(current)),
                          [engine_change(model.Change("c", remove=[("shop", "Orders")]))])
    outcome = result.outcomes[0]
    said = str(outcome.error or "") + " ".join(outcome.diff.warnings)
    assert (outcome.status, outcome.error.code if outcome.error else None) == ("rejected", "remove-not-listed")
    assert "Orders" in said and "orders" in said  # names the unlisted name and the near-match


def test_point_5_adding_a_name_that_is_a_target_name_warns_naming_the_mapping():
    current = {"src": {"name": "dst", "all": True}, "shop": {"all": False, "Table": {"orders": {"name": "archive"}}}}
    for fragment, mapped in (({"dst": {"all": True}}, "src"),
                             ({"shop": {"all": False, "Table": {"archive": {}}}}, "orders")):
        result = fold_changes(DbList.from_dts(json.dumps(current)), [engine_change(model.Change("c", add=fragment))])
        said = " ".join(result.diff.warnings + result.outcomes[0].diff.warnings)
        assert mapped in said, fragment


def test_recreation_comes_before_the_removal_checks():
    """§2.6: "re-creation (2), names not listed (3), removals with the last-table check (4)": a
    table removed and added again by one change is re-created even in a database synchronized
    whole (no `all`), where its removal alone would be `removal-needs-table-list`; the addition
    then changes nothing there, and the change's other additions apply."""
    current = {"Orders": {"Table": {"orders": {"name": "orders_dst"}, "Orders": {"filter": "id>10"}}},
               "crm": {"all": False, "Table": {"a": {}}}}
    recreate = model.Change("c", add={"Orders": {"all": False, "Table": {"orders": {}}},
                                      "crm": {"all": False, "Table": {"b": {}}}},
                            remove=[("Orders", "orders")])
    engine = run_engine(current, [recreate])
    assert engine == run_model(current, [recreate])
    assert engine["results"] == [("c", "applied", None)]
    assert engine["after"]["Orders"] == current["Orders"]
    alone = model.Change("c", remove=[("Orders", "orders")])
    assert _refused(current, alone) == "removal-needs-table-list"
