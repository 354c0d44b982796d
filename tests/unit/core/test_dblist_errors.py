"""What a user reads when a list is refused: every problem, its exact path, what was wrong, the fix.

The structured `details` go into the result and the dead-letter record (docs/errors.md), so they
are part of the contract, as are the hints that say how to fix a refused change. Found unguarded by
mutation testing (#17).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from dts_change.core.dblist import DbList, ObjectRef
from dts_change.core.errors import (
    DbListValidationError,
    InvalidJsonError,
    InvariantViolationError,
    UnreadableDbObjectError,
    short_repr,
)
from dts_change.core.merge import ChangeSpec, check_no_loss, fold_changes


def refusal(fragment: Any) -> DbListValidationError:
    with pytest.raises(DbListValidationError) as info:
        DbList.from_user(fragment)
    return info.value


def test_every_problem_of_a_fragment_is_reported_with_its_path_and_the_first_leads_the_message():
    error = refusal({"shop": {"ALL": True, "all": False,
                              "Table": {"t": {"all": "yes", "name": "", "Name": "x"}}}, "": {"all": 1}})
    assert error.details == [
        {"path": "shop.ALL", "msg": 'unknown key "ALL": DTS reads it only as "all"', "type": "key_case"},
        {"path": "shop.Table.t.Name", "msg": 'unknown key "Name": DTS reads it only as "name"', "type": "key_case"},
        {"path": "shop.Table.t.name", "msg": 'invalid name: empty name ""', "type": "invalid_name"},
        {"path": "", "msg": 'invalid database name: empty name ""', "type": "invalid_name"},
        {"path": "shop.Table.t.all", "msg": 'expected a boolean, got "yes"', "type": "bool_type", "input": '"yes"'},
        {"path": ".all", "msg": "expected a boolean, got 1", "type": "bool_type", "input": "1"},
    ]
    assert error.message == 'Invalid DbList: shop.ALL: unknown key "ALL": DTS reads it only as "all" (and 5 more)'


def test_a_single_problem_says_no_more():
    error = refusal({"a": {"Table": {"t": {}}}})
    assert error.message == (
        'Invalid DbList: a: a Table list without "all": set "all": false to synchronize only the listed '
        'tables (a missing "all" means the whole database)'
    )
    assert [p["type"] for p in error.details] == ["ambiguous_coverage"]


def test_a_fragment_that_is_not_an_object_is_refused_with_what_it_was():
    error = refusal(["shop"])
    assert error.message == 'Invalid DbList: expected an object of databases, got ["shop"]'
    assert error.details == [{"path": "", "msg": "expected an object", "input": '["shop"]'}]
    text = refusal(b'["shop"]')
    assert text.details == error.details


def test_a_fragment_in_text_names_what_it_came_from():
    with pytest.raises(InvalidJsonError) as info:
        DbList.from_user(b"{not json", what="add")
    assert info.value.message.startswith("Invalid JSON in add:")


def test_names_in_problems_are_shown_whole_up_to_80_characters_then_cut():
    bad = "x" * 100
    error = refusal({"d": {"all": bad}})
    shown = json.dumps(bad)[:79] + "…"
    assert error.details[0]["msg"] == f"expected a boolean, got {shown}"
    exact = "y" * 78  # 80 characters once quoted
    assert refusal({"d": {"all": exact}}).details[0]["input"] == json.dumps(exact)
    over = "y" * 79  # 81 characters once quoted
    assert refusal({"d": {"all": over}}).details[0]["input"] == json.dumps(over)[:79] + "…"
    assert refusal({"d": {"all": "销售"}}).details[0]["input"] == '"销售"'  # not \\u escapes


@pytest.mark.parametrize("name, why", [
    ("bad\x07", "contains control characters"),
    ("\ud800x", "contains control characters"),  # a lone surrogate (category Cs)
    ("n" * 129, "is 129 characters, over the limit of 128"),
    ("  ", "empty name"),
])
def test_each_name_problem_says_why(name, why):
    error = refusal({name: {"all": True}})
    assert why in error.details[0]["msg"]
    assert short_repr(name) in error.details[0]["msg"] or why == "empty name"
    assert error.details[0]["path"] == name


def test_two_problems_say_one_more():
    error = refusal({"a": {"ALL": True}, "b": {"Table": {"t": {}}}})
    assert error.message.endswith(" (and 1 more)")


def test_a_database_entry_that_is_not_an_object_does_not_hide_the_next_ones():
    error = refusal({"a": 5, "b": {"ALL": True}})
    assert [p["path"] for p in error.details] == ["b.ALL", "a"]


def test_a_name_that_is_not_a_string_is_reported_once_as_a_type_problem():
    error = refusal({"d": {"name": 5}})
    assert error.details == [{"path": "d.name", "msg": "expected a string, got 5", "type": "string_type", "input": "5"}]


def test_a_problem_named_twice_is_reported_once():
    error = refusal({"d": {"all": False, "Table": {"t": {"name": "\x01"}}}})
    assert [p["path"] for p in error.details] == ["d.Table.t.name"]


@pytest.mark.parametrize("db_object, message", [
    (None, "Unreadable DbObject: the job returned None instead of an object list"),
    ("", "Unreadable DbObject: the job returned '' instead of an object list"),
    ("  ", "Unreadable DbObject: the job returned '  ' instead of an object list"),
    ("null", "Unreadable DbObject: the job returned 'null' instead of an object list"),
    ("[]", "Unreadable DbObject: expected a JSON object, got list"),
])
def test_an_unreadable_dbobject_is_never_read_as_an_empty_list(db_object, message):
    with pytest.raises(UnreadableDbObjectError) as info:
        DbList.from_dts(db_object)
    assert info.value.message == message


def test_a_dbobject_with_a_wrong_type_names_the_first_path():
    with pytest.raises(UnreadableDbObjectError) as info:
        DbList.from_dts('{"a": {"all": "yes"}, "b": {"all": 2}}')
    assert info.value.message == 'Unreadable DbObject: a.all: expected a boolean, got "yes"'
    assert [p["path"] for p in info.value.details] == ["a.all", "b.all"]
    with pytest.raises(UnreadableDbObjectError) as bad:
        DbList.from_dts('{"a": ')
    assert bad.value.message.startswith("Unreadable DbObject: not valid JSON (")


# ---------------------------------------------------------------------- refusals of the merge


def job(data: dict[str, Any]) -> DbList:
    return DbList.from_dts(json.dumps(data))


PARTIAL = {"shop": {"name": "shop", "all": False, "Table": {"orders": {"name": "orders", "all": True}}},
           "crm": {"all": True}}


def refused(fragment: dict[str, Any], on_conflict: str = "reject") -> Any:
    result = fold_changes(job(PARTIAL), [ChangeSpec("c", add=DbList.from_user(fragment), on_conflict=on_conflict)])  # type: ignore[arg-type]
    assert result.outcomes[0].status == "rejected"
    return result.outcomes[0].error


def test_all_false_without_tables_says_how_to_fix_it():
    error = refused({"hr": {"all": False}})
    assert error.message == ("Invalid addition: hr: all is false and no tables are listed, so nothing would be "
                             "synchronized")
    assert error.hint == 'List the tables under "Table", or set "all": true for the whole database'


def test_whole_over_a_table_list_says_how_to_fix_it():
    error = refused({"shop": {"all": True}})
    assert error.message == ("Conflict: database shop is synchronized table by table and the change asks for "
                             "the whole database")
    assert error.hint == 'Send onConflict: "replace" to synchronize the whole database'


def test_conflicts_show_the_existing_and_the_wanted_settings():
    db = refused({"shop": {"name": "elsewhere", "all": False, "Table": {"orders": {}}}})
    assert db.message == ("Conflict: database shop exists with different settings (name): existing "
                          "{'name': 'shop'}, change wants {'name': 'elsewhere'}")
    table = refused({"shop": {"all": False, "Table": {"orders": {"filter": "id>1"}}}})
    assert table.message == ("Conflict: table shop.orders exists with different settings (filter): existing "
                             "{'name': 'orders', 'all': True}, change wants {'filter': 'id>1'}")


def test_a_conflict_names_every_differing_setting():
    db = refused({"shop": {"name": "elsewhere", "dml_op": "I", "all": False, "Table": {"orders": {}}}})
    assert "different settings (dml_op, name):" in db.message
    table = refused({"shop": {"all": False, "Table": {"orders": {"filter": "x", "name": "o2"}}}})
    assert "different settings (filter, name):" in table.message
    whole = refused({"crm": {"all": False, "Table": {"leads": {"filter": "x", "name": "l2"}}}})
    assert "carries filter, name but" in whole.message


def test_long_settings_in_a_conflict_are_cut_at_120_characters():
    error = refused({"shop": {"all": False, "Table": {"orders": {"filter": "f" * 200}}}})
    wanted = repr({"filter": "f" * 200})[:119] + "…"
    assert error.message.endswith(f"change wants {wanted}")
    exact = {"filter": "f" * 106}  # 120 characters: shown whole
    assert len(repr(exact)) == 120
    assert refused({"shop": {"all": False, "Table": {"orders": exact}}}).message.endswith(f"change wants {exact!r}")
    over = {"filter": "f" * 107}
    assert refused({"shop": {"all": False, "Table": {"orders": over}}}).message.endswith(repr(over)[:119] + "…")


def test_settings_under_a_whole_database_keep_the_database_entry_as_evidence():
    error = refused({"crm": {"all": False, "Table": {"leads": {"filter": "id>1"}}}})
    assert error.evidence == {"all": True}
    assert error.message == ("Table settings under a whole database: crm.leads carries filter but crm is "
                             "synchronized whole (all: true)")


def test_removing_a_table_of_a_whole_database_says_why():
    result = fold_changes(job(PARTIAL), [ChangeSpec("c", remove=(ObjectRef("crm", "t"),))])
    assert result.outcomes[0].error.message == ("Cannot remove table crm.t: database crm is synchronized whole "
                                                "(all: true), so its tables are not listed")


def test_an_invariant_violation_lists_the_first_ten_lost_objects():
    before = job({f"d{i:02d}": {"all": True} for i in range(11)})
    with pytest.raises(InvariantViolationError) as many:
        check_no_loss(before, DbList({}), ())
    assert many.value.message == ("Invariant violated: the new DbList would drop 11 object(s) nobody removed: "
                                  + ", ".join(f"d{i:02d}" for i in range(10)) + " …")
    ten = job({f"d{i:02d}": {"all": True} for i in range(10)})
    with pytest.raises(InvariantViolationError) as exact:
        check_no_loss(ten, DbList({}), ())
    assert exact.value.message.endswith("d08, d09")


# ---------------------------------------------------------------------- results


def test_a_fold_result_keeps_the_list_before_and_finds_outcomes_by_change():
    before = job(PARTIAL)
    result = fold_changes(before, [ChangeSpec("a", add=DbList.from_user({"hr": {"all": True}})),
                                   ChangeSpec("b", add=DbList.from_user({"hr2": {"all": True}}))])
    assert result.before is before
    assert result.outcome("b").change_id == "b"
    assert result.outcome("a").diff.summary() == {"added": 1, "removed": 0, "changed": 0}
    with pytest.raises(KeyError, match="nope"):
        result.outcome("nope")


def test_a_list_iterates_its_databases_and_counts_listed_tables():
    listed = job({"a": {"all": False, "Table": {"t": {}, "u": {}}}, "b": {"all": True, "Table": {"v": {}}}})
    assert list(listed) == ["a", "b"]
    assert listed.table_count() == 3
    with pytest.raises(TypeError, match="DbList is not hashable"):
        hash(listed)
