"""What a user reads when an issue #11 rule refuses a change or warns (docs/formats.md §2.6 rules
3-7): the message names the objects and the phase, the hint says what to send instead, and the
details carry every name. Found unguarded by mutation testing; expected texts are written out."""

from __future__ import annotations

from typing import Any

from dts_change.core.dblist import ObjectRef
from dts_change.core.errors import DtsChangeError
from dts_change.core.merge import ChangeSpec, diff_dblists, fold_changes, target_name_warnings
from tests.builders import build_change, build_dts_dblist

MAPPED = {
    "shop": {"name": "shop_dst", "all": False, "dml_op": "I,U",
             "Table": {"orders": {"name": "orders_v2", "all": True}}},
    "crm": {"name": "crm_dst", "all": True},
    "hr": {"name": "hr", "all": True},
}


def _error(current: dict[str, Any], *changes: ChangeSpec) -> DtsChangeError:
    outcome = fold_changes(build_dts_dblist(current), list(changes)).outcomes[-1]
    assert outcome.status == "rejected"
    assert outcome.error is not None
    return outcome.error


def test_not_listed_message_shows_ten_names_and_an_ellipsis_only_past_ten():
    ten = [f"hr{i}" for i in range(10)]
    error = _error(MAPPED, build_change(remove=ten))
    assert error.code == "remove-not-listed"
    assert error.message == (
        f"Not listed: the change removes 10 name(s) the job does not list: {', '.join(sorted(ten))}; "
        "nothing of this change was applied"
    )
    eleven = _error(MAPPED, build_change(remove=[*ten, "hr99"]))
    assert eleven.details["notListed"] == sorted([*ten, "hr99"])
    assert eleven.message.endswith(" …; nothing of this change was applied")
    assert "hr99" not in eleven.message  # the eleventh name (sorted) is cut off


def test_every_removal_after_a_database_removal_is_checked_too():
    error = _error(MAPPED, build_change(remove=["hr", "shop.ordrs"]))
    assert error.code == "remove-not-listed"
    assert error.details == {"notListed": ["shop.ordrs"], "nearMatches": {}}


def test_near_match_prefers_the_exactly_listed_name_over_a_case_variant():
    two_dbs = {"Shop": {"name": "Shop", "all": False, "Table": {"orders": {"name": "orders", "all": True}}},
               "shop": {"name": "shop", "all": False, "Table": {"ORDERS": {"name": "ORDERS", "all": True}}}}
    assert _error(two_dbs, build_change(remove=["Shop.Orders"])).details["nearMatches"] == {"Shop.Orders": "Shop.orders"}
    two_tables = {"shop": {"name": "shop", "all": False, "Table": {"orders": {"name": "orders", "all": True},
                                                                    "Orders": {"name": "Orders", "all": True}}}}
    assert _error(two_tables, build_change(remove=["Shoр.orders"])).details["nearMatches"] == {"Shoр.orders": "shop.orders"}


def test_emptied_database_message_names_it_and_its_settings_and_the_hint_says_what_to_send():
    error = _error(MAPPED, build_change(remove=["shop.orders"]))
    assert error.code == "removal-empties-database"
    assert error.message.startswith(
        "Removal would leave database shop with no table listed: it is synchronized table by table "
        "and the change removes its last listed table(s); deleting the entry would drop its settings "
    )
    assert "'shop_dst'" in error.message and "'I,U'" in error.message
    assert error.hint == (
        'Remove the database explicitly (remove: ["shop"]) to stop synchronizing it and drop its '
        "settings; to swap its tables, add the new table first, then remove the old one."
    )
    assert error.details == {"databases": ["shop"]}
    assert error.evidence == {"shop": build_dts_dblist(MAPPED).databases["shop"].wire()}
    unnamed = _error({"d": {"all": False, "Table": {"a": {}}}, "hr": {"all": True}}, build_change(remove=["d.a"]))
    assert "its settings {'name': 'd'}" in unnamed.message  # the name DTS writes to, defaulted


def test_removing_several_databases_removes_each():
    result = fold_changes(build_dts_dblist(MAPPED), [build_change(remove=["crm", "hr"])])
    assert result.outcomes[0].status == "applied"
    assert set(result.after.databases) == {"shop"}


def test_removal_phase_passes_over_a_table_an_earlier_change_added_and_removes_the_rest():
    two = {"d": {"name": "d", "all": False, "Table": {"a": {"name": "a", "all": True}, "b": {"name": "b", "all": True}}}}
    result = fold_changes(build_dts_dblist(two), [
        build_change("c1", add={"d": {"all": False, "Table": {"c": {}}}}),
        build_change("c2", remove=["d.c", "d.a"]),
    ])
    assert [o.status for o in result.outcomes] == ["applied", "applied"]
    assert result.plan.removal_phase is not None
    assert result.plan.removal_phase.to_wire() == {"d": {"name": "d", "all": False, "Table": {"b": {"name": "b", "all": True}}}}


def test_a_confirmed_removal_of_a_table_of_a_whole_database_is_still_refused_with_its_reason():
    spec = build_change(remove=["hr.t"])
    again = ChangeSpec(spec.change_id, spec.add, spec.remove, spec.on_conflict, removals_carried_out=True)
    error = _error(MAPPED, again)
    assert error.code == "removal-needs-table-list"
    assert error.message == ("Cannot remove table hr.t: database hr is synchronized whole (all: true), "
                             "so its tables are not listed")


def test_empty_list_message_says_whether_the_change_or_the_removal_phase_empties_it():
    only = {"hr": {"name": "hr", "all": True}}
    after_change = _error(only, build_change(remove=["hr"]))
    assert after_change.code == "dblist-would-be-empty"
    assert after_change.message == (
        "Empty DbList: after this change the job would list no database; DTS would be sent {}"
    )
    phase = _error(only, build_change("c1", add={"crm": {"all": True}}), build_change("c2", remove=["hr"]))
    assert phase.code == "dblist-would-be-empty"
    assert phase.message == (
        "Empty DbList: the removal phase (sent before any addition) would list no database; "
        "DTS would be sent {}"
    )


def test_target_name_refusal_counts_the_other_mappings_and_lists_every_warning():
    spec = build_change(add={"shop_dst": {"all": True}, "crm_dst": {"all": True}})
    strict = ChangeSpec(spec.change_id, spec.add, spec.remove, spec.on_conflict, target_names="reject")
    error = _error(MAPPED, strict)
    assert error.code == "target-name-added"
    warnings = error.details["warnings"]
    assert set(error.details) == {"warnings"} and len(warnings) == 2
    assert error.message == f"Target name added as a source: {warnings[0]} (and 1 more)"
    one = build_change(add={"crm_dst": {"all": True}})
    single = _error(MAPPED, ChangeSpec(one.change_id, one.add, one.remove, one.on_conflict, target_names="reject"))
    assert single.message == f"Target name added as a source: {single.details['warnings'][0]}"


def test_target_name_warnings_look_past_listed_databases_and_tables_of_unlisted_ones():
    before = build_dts_dblist(MAPPED)
    found = target_name_warnings(before, [ObjectRef("hr"), ObjectRef("shop_dst")])
    assert found == ["Database 'shop_dst' is the target name of mapped database shop -> shop_dst: "
                     "it was added as a new source database"]
    found = target_name_warnings(before, [ObjectRef("new", "t"), ObjectRef("shop", "orders"),
                                          ObjectRef("shop", "orders_v2")])
    assert found == ["Table 'shop.orders_v2' is the target name of mapped table shop.orders -> orders_v2: "
                     "it was added as a new source table"]


def test_a_table_newly_listed_under_a_database_that_was_whole_is_changed_not_added():
    """It was synchronized already, as part of the whole database."""
    before = build_dts_dblist({"d": {"name": "d", "all": True}})
    after = build_dts_dblist({"d": {"name": "d", "all": False, "Table": {"t": {"name": "t", "all": True}}}})
    diff = diff_dblists(before, after)
    assert ObjectRef("d", "t") in diff.changed and ObjectRef("d", "t") not in diff.added


def test_covers_is_false_for_a_database_the_list_does_not_hold():
    """What reconcile asks before it reports an object as synchronized."""
    listed = build_dts_dblist(MAPPED)
    assert not listed.covers(ObjectRef("nowhere"))
    assert not listed.covers(ObjectRef("nowhere", "t"))
    assert listed.covers(ObjectRef("hr", "any")) and not listed.covers(ObjectRef("shop", "t"))
