from __future__ import annotations

import pytest

from dts_change.core.dblist import DbList, ObjectRef
from dts_change.core.errors import InvariantViolationError
from dts_change.core.merge import check_no_loss, fold_changes
from tests.builders import build_change, build_dts_dblist, tables

CURRENT = {
    "sales": {"name": "sales", "all": False, "state": "normal", "Table": {
        "orders": {"name": "orders", "all": True, "state": "normal", "primary_key": "id"},
        "customers": {"name": "customers", "all": True},
    }},
    "hr": {"name": "hr", "all": True, "state": "normal"},
    "legacy": {"name": "legacy"},
}


def current() -> DbList:
    return build_dts_dblist(CURRENT)


def test_fold_add_new_table_keeps_every_existing_object_and_extras():
    result = fold_changes(current(), [build_change(add=tables("sales", "refunds"))])
    after = result.after.to_wire()
    assert set(after["sales"]["Table"]) == {"orders", "customers", "refunds"}
    assert after["sales"]["Table"]["orders"]["primary_key"] == "id"
    assert after["sales"]["Table"]["refunds"] == {"name": "refunds", "all": True}
    assert "hr" in after and "legacy" in after
    assert result.diff.added == [ObjectRef("sales", "refunds")]
    assert result.outcomes[0].status == "applied"


def test_fold_add_new_database_gets_explicit_name_and_all():
    result = fold_changes(current(), [build_change(add={"crm": {"all": True}})])
    assert result.after.to_wire()["crm"] == {"all": True, "name": "crm"}


def test_fold_identical_existing_entry_is_no_op():
    change = build_change(add={"sales": {"name": "sales", "all": False, "Table": {"orders": {"name": "orders", "all": True}}}})
    result = fold_changes(current(), [change])
    assert result.outcomes[0].status == "no_op"
    assert result.after == current()
    assert result.plan.phases() == []


def test_fold_table_under_whole_database_is_no_op():
    result = fold_changes(current(), [build_change(add=tables("hr", "payroll"))])
    assert result.outcomes[0].status == "no_op"
    assert "Table" not in result.after.to_wire()["hr"]


def test_fold_table_under_database_with_missing_all_is_no_op_not_narrowing():
    result = fold_changes(current(), [build_change(add=tables("legacy", "t1"))])
    assert result.outcomes[0].status == "no_op"
    assert result.after.to_wire()["legacy"] == {"name": "legacy"}


def test_fold_table_settings_under_whole_database_is_rejected_with_hint():
    change = build_change(add={"hr": {"name": "hr", "all": False, "Table": {"payroll": {"name": "payroll_v2", "all": True}}}})
    result = fold_changes(current(), [change])
    outcome = result.outcomes[0]
    assert outcome.status == "rejected"
    assert outcome.error is not None and outcome.error.code == "settings-under-whole-database"
    assert "all: false" in outcome.error.hint
    assert result.after == current()


def test_fold_conflicting_table_settings_rejected_by_default():
    change = build_change(add={"sales": {"name": "sales", "all": False, "Table": {"orders": {"name": "orders", "all": False, "filter": "id>10"}}}})
    result = fold_changes(current(), [change])
    assert result.outcomes[0].status == "rejected"
    assert result.outcomes[0].error.code == "conflict"
    assert "sales.orders" in result.outcomes[0].error.message


def test_fold_conflict_replaced_when_change_says_replace_keeps_unmentioned_extras():
    change = build_change(
        add={"sales": {"name": "sales", "all": False, "Table": {"orders": {"name": "orders_v2", "all": True}}}},
        on_conflict="replace",
    )
    result = fold_changes(current(), [change])
    orders = result.after.to_wire()["sales"]["Table"]["orders"]
    assert orders == {"name": "orders_v2", "all": True, "primary_key": "id"}
    assert result.diff.changed == [ObjectRef("sales", "orders")]
    assert result.plan.removal_phase is None
    assert result.plan.addition_phase == result.after


def test_fold_whole_database_over_partial_is_conflict_unless_replace():
    widen = {"sales": {"name": "sales", "all": True}}
    rejected = fold_changes(current(), [build_change(add=widen)])
    assert rejected.outcomes[0].error.code == "conflict"
    replaced = fold_changes(current(), [build_change(add=widen, on_conflict="replace")])
    assert replaced.after.to_wire()["sales"] == {"name": "sales", "all": True}
    assert replaced.after.covers(ObjectRef("sales", "orders"))


def test_fold_remove_every_table_of_a_database_is_refused_not_an_implicit_database_removal():
    result = fold_changes(current(), [build_change(remove=["sales.orders", "sales.customers"])])
    assert "sales" in result.after
    assert result.outcomes[0].status == "rejected"
    assert result.outcomes[0].error.code == "removal-empties-database"
    assert result.plan.phases() == []


def test_fold_remove_table_from_whole_database_is_rejected_with_hint():
    result = fold_changes(current(), [build_change(remove=["hr.payroll"])])
    assert result.outcomes[0].error.code == "removal-needs-table-list"
    assert "all: false" in result.outcomes[0].error.hint


def test_fold_remove_absent_object_is_refused_never_a_no_op():
    result = fold_changes(current(), [build_change(remove=["nope", "sales.nope"])])
    assert result.outcomes[0].status == "rejected"
    assert result.outcomes[0].error.code == "remove-not-listed"
    assert result.outcomes[0].error.details["notListed"] == ["nope", "sales.nope"]


def test_fold_remove_plus_add_plans_removal_phase_first():
    change = build_change(add=tables("crm", "leads"), remove=["sales.customers"])
    result = fold_changes(current(), [change])
    removal, addition = result.plan.removal_phase, result.plan.addition_phase
    assert removal is not None and addition is not None
    assert not removal.covers(ObjectRef("sales", "customers"))
    assert "crm" not in removal
    assert addition == result.after and addition.covers(ObjectRef("crm", "leads"))
    assert [p for p, _ in result.plan.phases()] == ["removal", "addition"]


def test_fold_rejected_change_does_not_block_the_others():
    bad = build_change("bad", add={"sales": {"name": "sales", "all": False, "Table": {"orders": {"name": "x", "all": True}}}})
    good = build_change("good", add=tables("sales", "refunds"))
    result = fold_changes(current(), [bad, good])
    assert [o.status for o in result.outcomes] == ["rejected", "applied"]
    assert result.after.covers(ObjectRef("sales", "refunds"))
    assert result.after.to_wire()["sales"]["Table"]["orders"]["name"] == "orders"


def test_fold_change_is_atomic_when_one_part_fails():
    change = build_change(add=tables("crm", "leads"), remove=["hr.payroll"])
    result = fold_changes(current(), [change])
    assert result.outcomes[0].status == "rejected"
    assert "crm" not in result.after


def test_fold_case_only_name_difference_is_a_warning():
    result = fold_changes(current(), [build_change(add=tables("sales", "Orders"))])
    assert result.outcomes[0].status == "applied"
    assert any("differs only in case" in w for w in result.diff.warnings)


def test_fold_empty_partial_database_is_rejected():
    result = fold_changes(current(), [build_change(add={"crm": {"name": "crm", "all": False}})])
    assert result.outcomes[0].error.code == "invalid-dblist"


def test_check_no_loss_detects_dropped_table_and_narrowed_database():
    before = current()
    after = build_dts_dblist({"sales": {"name": "sales", "all": False, "Table": {"orders": {"name": "orders"}}},
                              "hr": {"name": "hr", "all": False, "Table": {"a": {"name": "a"}}}})
    with pytest.raises(InvariantViolationError) as info:
        check_no_loss(before, after, [])
    assert set(info.value.missing_objects) == {"sales.customers", "hr", "legacy"}


def test_check_no_loss_allows_named_removals():
    before = current()
    after = build_dts_dblist({"sales": CURRENT["sales"], "hr": CURRENT["hr"]})
    check_no_loss(before, after, [ObjectRef("legacy")])


@pytest.mark.parametrize("lookalike", ["оrders", "Ｏrders", "or\u200bders", "ORDERS"])
def test_fold_lookalike_name_is_added_exactly_with_a_warning(lookalike):
    # Cyrillic о, fullwidth Ｏ, a zero-width space, and plain case: added as a new table, and flagged
    result = fold_changes(current(), [build_change(add=tables("sales", lookalike))])
    assert result.outcomes[0].status == "applied"
    assert result.after.covers(ObjectRef("sales", lookalike))
    assert result.after.to_wire()["sales"]["Table"]["orders"] == current().to_wire()["sales"]["Table"]["orders"]
    assert any("look-alike" in w and "sales.orders" in w for w in result.diff.warnings)
