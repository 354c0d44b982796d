"""Rules a user relies on that mutation testing (#17, `make mutation`) found unguarded.

Each test states one documented rule (docs/formats.md §2.6, §7) on plain JSON in and out; none is
written to a particular line of merge.py or dblist.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from dts_change.core.dblist import MAX_DBLIST_BYTES, MAX_IDENTIFIER_LENGTH, DbList, ObjectRef
from dts_change.core.errors import DbListTooLargeError, DbListValidationError, InvariantViolationError
from dts_change.core.merge import ChangeSpec, check_no_loss, fold_changes


def job(data: dict[str, Any]) -> DbList:
    return DbList.from_dts(json.dumps(data))


def add(fragment: dict[str, Any], on_conflict: str = "reject", change_id: str = "c") -> ChangeSpec:
    return ChangeSpec(change_id, add=DbList.from_user(fragment), on_conflict=on_conflict)  # type: ignore[arg-type]


PARTIAL_SHOP = {"shop": {"name": "shop_dst", "all": False, "dml_op": "I,U",
                         "Table": {"orders": {"name": "orders", "all": True}}},
                "crm": {"name": "crm", "all": True}}


# ---------------------------------------------------------------------- the no-loss check


def test_no_loss_check_looks_at_every_database_not_only_up_to_the_first_unchanged_one():
    before = job({"a": {"all": True}, "b": {"all": True}, "c": {"all": False, "Table": {"t": {}}}})
    only_a = DbList({"a": before.databases["a"]})  # the same, unchanged entry for "a"
    with pytest.raises(InvariantViolationError) as info:
        check_no_loss(before, only_a, ())
    assert info.value.missing_objects == ["b", "c"]


def test_no_loss_check_accepts_a_database_that_was_removed_by_name():
    before = job({"a": {"all": True}, "b": {"all": True}})
    check_no_loss(before, DbList({"a": before.databases["a"]}), [ObjectRef("b")])


# ---------------------------------------------------------------------- implicit `all`


def test_a_new_database_sent_without_all_is_synchronized_whole():
    result = fold_changes(job(PARTIAL_SHOP), [add({"hr": {"name": "hr_dst"}})])
    assert result.outcomes[0].status == "applied"
    assert result.after.to_wire()["hr"] == {"name": "hr_dst", "all": True}
    assert result.plan.addition_phase is not None and result.plan.addition_phase.to_wire()["hr"]["all"] is True


def test_a_new_table_sent_without_all_is_synchronized_whole():
    result = fold_changes(job(PARTIAL_SHOP), [add({"shop": {"all": False, "Table": {"items": {"filter": "id>1"}}}})])
    assert result.after.to_wire()["shop"]["Table"]["items"] == {"name": "items", "all": True, "filter": "id>1"}


def test_a_database_with_all_false_and_no_tables_is_refused_new_or_listed():
    for db in ("hr", "shop"):
        result = fold_changes(job(PARTIAL_SHOP), [add({db: {"all": False}})])
        assert result.outcomes[0].status == "rejected"
        assert result.outcomes[0].error.code == "invalid-dblist"
        assert "nothing would be synchronized" in str(result.outcomes[0].error)
        assert result.after == job(PARTIAL_SHOP)


# ---------------------------------------------------------------------- database-level settings


def test_database_settings_that_differ_are_a_conflict_by_default():
    result = fold_changes(job(PARTIAL_SHOP), [add({"shop": {"name": "elsewhere", "all": False,
                                                            "Table": {"orders": {}}}})])
    outcome = result.outcomes[0]
    assert outcome.status == "rejected" and outcome.error.code == "conflict"
    assert "database shop" in str(outcome.error) and "name" in str(outcome.error)
    assert result.after.to_wire() == job(PARTIAL_SHOP).to_wire()
    assert result.plan.phases() == []


def test_database_settings_replaced_on_request_keep_the_tables_and_are_submitted():
    result = fold_changes(job(PARTIAL_SHOP), [add({"shop": {"dml_op": "I", "all": False,
                                                            "Table": {"orders": {}}}}, "replace")])
    assert result.outcomes[0].status == "applied"
    assert result.diff.changed == [ObjectRef("shop")]
    sent = result.plan.addition_phase
    assert sent is not None
    assert sent.to_wire()["shop"] == {"name": "shop_dst", "all": False, "dml_op": "I",
                                      "Table": {"orders": {"name": "orders", "all": True}}}


def test_database_settings_equal_to_the_listed_ones_change_nothing():
    same = {"shop": {"name": "shop_dst", "dml_op": "I,U", "all": False, "Table": {"orders": {}}}}
    result = fold_changes(job(PARTIAL_SHOP), [add(same)])
    assert result.outcomes[0].status == "no_op"
    assert result.plan.phases() == []


def test_a_database_rename_on_a_whole_database_is_compared_with_its_default_name():
    # `crm` lists no `name` beyond its own key: asking for name "crm" is the same setting.
    result = fold_changes(job({"crm": {"all": True}, "hr": {"all": True}}), [add({"crm": {"name": "crm"}})])
    assert result.outcomes[0].status == "no_op"
    renamed = fold_changes(job({"crm": {"all": True}, "hr": {"all": True}}), [add({"crm": {"name": "crm2"}})])
    assert renamed.outcomes[0].error.code == "conflict"


# ---------------------------------------------------------------------- whole vs table by table


def test_whole_database_over_a_table_list_is_a_conflict_unless_replace():
    rejected = fold_changes(job(PARTIAL_SHOP), [add({"shop": {"all": True}})])
    assert rejected.outcomes[0].error.code == "conflict"
    assert "table by table" in str(rejected.outcomes[0].error)
    assert rejected.after.to_wire() == job(PARTIAL_SHOP).to_wire()

    replaced = fold_changes(job(PARTIAL_SHOP), [add({"shop": {}}, "replace")])  # missing all = whole
    assert replaced.outcomes[0].status == "applied"
    assert replaced.after.to_wire()["shop"] == {"name": "shop_dst", "all": True, "dml_op": "I,U"}
    assert replaced.plan.addition_phase is not None


def test_a_table_list_over_a_whole_database_never_narrows_it():
    result = fold_changes(job(PARTIAL_SHOP), [add({"crm": {"all": False, "Table": {"leads": {"name": "leads", "all": True}}}})])
    assert result.outcomes[0].status == "no_op"
    assert result.after.to_wire()["crm"] == {"name": "crm", "all": True}


@pytest.mark.parametrize("table_entry", [{"all": False}, {"name": "leads_dst"}, {"filter": "id>1"}])
def test_table_settings_under_a_whole_database_are_refused(table_entry):
    result = fold_changes(job(PARTIAL_SHOP), [add({"crm": {"all": False, "Table": {"leads": table_entry}}})])
    outcome = result.outcomes[0]
    assert outcome.status == "rejected" and outcome.error.code == "settings-under-whole-database"
    assert "crm.leads" in str(outcome.error)


def test_a_changed_table_setting_is_submitted_when_replaced():
    result = fold_changes(job(PARTIAL_SHOP), [add({"shop": {"all": False, "Table": {"orders": {"filter": "id>5"}}}}, "replace")])
    assert result.outcomes[0].status == "applied"
    assert result.after.to_wire()["shop"]["Table"]["orders"] == {"name": "orders", "all": True, "filter": "id>5"}
    rejected = fold_changes(job(PARTIAL_SHOP), [add({"shop": {"all": False, "Table": {"orders": {"filter": "id>5"}}}})])
    assert rejected.outcomes[0].error.code == "conflict"
    assert "shop.orders" in str(rejected.outcomes[0].error)


# ---------------------------------------------------------------------- warnings


def test_a_new_database_that_differs_only_in_case_is_warned_about_and_a_new_name_is_not():
    result = fold_changes(job(PARTIAL_SHOP), [add({"Shop": {"all": True}, "billing": {"all": True}})])
    assert result.outcomes[0].status == "applied"
    assert len(result.diff.warnings) == 1
    assert "'Shop'" in result.diff.warnings[0] and "'shop'" in result.diff.warnings[0]


def test_a_new_table_that_differs_only_in_case_is_warned_about():
    result = fold_changes(job(PARTIAL_SHOP), [add({"shop": {"all": False, "Table": {"Orders": {}, "items": {}}}})])
    assert len(result.diff.warnings) == 1
    assert "shop.Orders" in result.diff.warnings[0] and "shop.orders" in result.diff.warnings[0]


# ---------------------------------------------------------------------- names and limits


@pytest.mark.parametrize("fragment", [
    {"sh\x00op": {"all": True}},
    {"shop": {"all": False, "Table": {"or\nders": {}}}},
    {"shop": {"name": "", "all": True}},
    {"shop": {"all": False, "Table": {"orders": {"name": "   "}}}},
    {"": {"all": True}},
])
def test_names_that_are_empty_or_carry_control_characters_are_refused(fragment):
    with pytest.raises(DbListValidationError) as info:
        DbList.from_user(fragment)
    assert any(p["type"] == "invalid_name" for p in info.value.details)


def test_a_128_character_name_is_accepted_and_129_refused():
    longest = "n" * MAX_IDENTIFIER_LENGTH
    assert MAX_IDENTIFIER_LENGTH == 128
    DbList.from_user({longest: {"all": False, "Table": {longest: {"name": longest}}}})
    for fragment in ({longest + "n": {"all": True}}, {"d": {"all": False, "Table": {longest + "n": {}}}},
                     {"d": {"name": longest + "n"}}):
        with pytest.raises(DbListValidationError) as info:
            DbList.from_user(fragment)
        assert "129 characters" in str(info.value)


def _list_of_exactly(size: int) -> DbList:
    base = DbList.from_user({"d": {"all": True, "x": ""}})
    pad = size - base.byte_size()
    return DbList.from_user({"d": {"all": True, "x": "p" * pad}})


def test_a_list_of_exactly_1048576_bytes_is_sent_and_one_byte_more_is_refused():
    assert MAX_DBLIST_BYTES == 1_048_576
    exact = _list_of_exactly(MAX_DBLIST_BYTES)
    assert exact.byte_size() == MAX_DBLIST_BYTES
    assert exact.check_size() == MAX_DBLIST_BYTES
    with pytest.raises(DbListTooLargeError) as info:
        _list_of_exactly(MAX_DBLIST_BYTES + 1).check_size()
    assert info.value.details == {"bytes": MAX_DBLIST_BYTES + 1, "limit": MAX_DBLIST_BYTES, "over_by": 1}


def test_the_size_checked_is_that_of_the_list_sent_without_dts_markers():
    listed = job({"d": {"all": False, "state": "normal", "Table": {"t": {"state": "normal"}}}})
    assert b"state" not in listed.to_bytes()
    assert listed.check_size() == len(b'{"d":{"all":false,"Table":{"t":{}}}}')


def test_size_counts_utf8_bytes_not_characters():
    listed = DbList.from_user({"销售": {"all": True}})
    assert listed.byte_size() == len('{"销售":{"all":true}}'.encode())
    assert listed.to_json() == '{"销售":{"all":true}}'


# ---------------------------------------------------------------------- what the result reports


def test_a_new_and_a_removed_database_are_reported_with_their_tables_in_order():
    before = job({"old": {"all": False, "Table": {"b": {}, "a": {}}}, "keep": {"all": True}})
    result = fold_changes(before, [ChangeSpec("c", add=DbList.from_user({"new": {"all": False, "Table": {"y": {}, "x": {}}}}),
                                              remove=(ObjectRef("old"),))])
    assert result.diff.to_dict() == {"added": ["new", "new.x", "new.y"], "removed": ["old", "old.a", "old.b"],
                                     "changed": [], "warnings": []}


def test_widening_a_database_reports_its_tables_as_changed_not_removed():
    result = fold_changes(job(PARTIAL_SHOP), [add({"shop": {"all": True}}, "replace")])
    assert result.diff.to_dict()["removed"] == []
    assert result.diff.to_dict()["changed"] == ["shop", "shop.orders"]


def test_a_replaced_table_setting_is_reported_as_changed():
    result = fold_changes(job(PARTIAL_SHOP), [add({"shop": {"all": False, "Table": {"orders": {"name": "o2"}}}}, "replace")])
    assert result.diff.to_dict()["changed"] == ["shop.orders"]
    assert result.outcomes[0].diff.changed == [ObjectRef("shop", "orders")]


@pytest.mark.parametrize("listed, asked", [
    ({}, {"name": "orders"}),                 # DTS omitted the name: it is the key
    ({"name": "orders"}, {"all": True}),      # DTS omitted all: it is true
    ({"state": "normal"}, {"name": "orders", "all": True}),  # DTS's marker is not a setting
    ({"all": False}, {"all": False}),         # an explicit setting equal to the one asked
])
def test_what_dts_leaves_implicit_is_not_a_difference(listed, asked):
    current = job({"shop": {"all": False, "Table": {"orders": listed, "items": {}}}})
    result = fold_changes(current, [add({"shop": {"all": False, "Table": {"orders": asked}}})])
    assert result.outcomes[0].status == "no_op"
    assert result.plan.phases() == []


def test_objects_can_be_limited_to_some_databases():
    listed = job({"a": {"all": False, "Table": {"t": {}}}, "b": {"all": True}, "c": {"all": False, "Table": {"u": {}}}})
    assert listed.objects(only={"a", "c"}) == {ObjectRef("a"), ObjectRef("a", "t"), ObjectRef("c"), ObjectRef("c", "u")}


def test_reports_sort_a_database_before_its_tables_and_names_exactly():
    refs = [ObjectRef("b", "a"), ObjectRef("b"), ObjectRef("a", "z"), ObjectRef("a", "A"), ObjectRef("a", ""), ObjectRef("a")]
    assert sorted(refs) == [ObjectRef("a"), ObjectRef("a", ""), ObjectRef("a", "A"), ObjectRef("a", "z"),
                            ObjectRef("b"), ObjectRef("b", "a")]
    assert not ObjectRef("a") < ObjectRef("a")
    assert len({ObjectRef("a", "t"), ObjectRef("a", "t"), ObjectRef("a")}) == 2


def test_removing_a_listed_table_reports_it_removed_and_sends_a_removal_phase():
    current = job({"shop": {"all": False, "Table": {"a": {}, "b": {}}}, "crm": {"all": True}})
    result = fold_changes(current, [ChangeSpec("c", remove=(ObjectRef("shop", "a"),))])
    assert result.diff.to_dict()["removed"] == ["shop.a"]
    assert result.plan.removal_phase is not None and result.plan.addition_phase is None
    assert result.plan.removal_phase.to_wire()["shop"]["Table"] == {"b": {}}


def test_a_fragment_whose_first_table_is_already_listed_still_adds_the_next_ones():
    result = fold_changes(job(PARTIAL_SHOP), [add({"shop": {"all": False, "Table": {
        "orders": {"name": "orders"}, "items": {}, "refunds": {}}}})])
    assert sorted(result.after.to_wire()["shop"]["Table"]) == ["items", "orders", "refunds"]
    assert result.diff.to_dict()["added"] == ["shop.items", "shop.refunds"]


def test_one_changed_table_or_database_among_many_unchanged_ones_is_reported():
    data = {f"db{i:02d}": {"all": False, "Table": {f"t{j}": {} for j in range(5)}} for i in range(20)}
    data["db10"]["Table"]["t0"] = {"filter": "id>0"}
    fragment = {"db10": {"all": False, "Table": {f"t{j}": {} for j in range(5)} | {"t3": {"filter": "id>3"}}}}
    result = fold_changes(job(data), [add(fragment, "replace")])
    assert result.diff.to_dict()["changed"] == ["db10.t3"]
    assert result.outcomes[0].diff.changed == [ObjectRef("db10", "t3")]
    # And with the full comparison (whole lists), every database is looked at.
    renamed = fold_changes(job(data), [add({"db19": {"name": "x", "all": False, "Table": {"t0": {}}}}, "replace")])
    assert renamed.diff.to_dict()["changed"] == ["db19"]


def test_every_look_alike_name_of_a_change_is_warned_about_not_only_the_first():
    current = job({"shop": {"all": False, "Table": {"orders": {}}}, "crm": {"all": True}})
    result = fold_changes(current, [add({"aaa": {"all": False, "Table": {"t": {}}}, "Crm": {"all": True}, "new": {"all": True},
                                         "shop": {"all": False, "Table": {"Orders": {}}}})])
    text = "\n".join(result.diff.warnings)
    assert len(result.diff.warnings) == 2
    assert "'Crm'" in text and "'shop.Orders'" in text


def test_no_loss_check_goes_on_after_a_removed_or_whole_database():
    before = job({"a": {"all": True}, "b": {"all": False, "Table": {"t": {}, "u": {}}}})
    with pytest.raises(InvariantViolationError) as removed_first:
        check_no_loss(before, DbList({}), [ObjectRef("a")])
    assert removed_first.value.missing_objects == ["b"]
    still_whole = job({"a": {"all": True, "name": "a2"}, "b": {"all": False, "Table": {"u": {}}}})
    with pytest.raises(InvariantViolationError) as whole_first:
        check_no_loss(before, still_whole, ())
    assert whole_first.value.missing_objects == ["b.t"]


def test_a_removed_database_does_not_hide_the_other_changes_of_the_fold():
    current = job({"gone": {"all": False, "Table": {"t": {}}}, "keep": {"all": True}})
    fragment = {f"new{i}": {"all": True} for i in range(10)}
    result = fold_changes(current, [ChangeSpec("c", add=DbList.from_user(fragment), remove=(ObjectRef("gone"),))])
    assert result.diff.to_dict()["removed"] == ["gone", "gone.t"]
    assert result.diff.to_dict()["added"] == sorted(fragment)


def test_a_database_dts_lists_with_all_false_and_no_table_map_can_be_made_whole():
    current = job({"odd": {"name": "odd", "all": False}, "crm": {"all": True}})
    result = fold_changes(current, [add({"odd": {"all": True}}, "replace")])
    assert result.outcomes[0].status == "applied"
    assert result.after.to_wire()["odd"] == {"name": "odd", "all": True}


@pytest.mark.parametrize("ref, shown", [
    (ObjectRef("shop", "orders"), "shop.orders"),
    (ObjectRef("shop", "gift.cards"), "shop.`gift.cards`"),
    (ObjectRef("my db"), "`my db`"),
    (ObjectRef("a`b", "t"), "`a``b`.t"),
])
def test_an_object_is_printed_so_that_it_reads_back_as_one(ref, shown):
    assert str(ref) == shown
