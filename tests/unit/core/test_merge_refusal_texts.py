"""What a user reads when an issue #11 rule refuses a change or warns (docs/formats.md §2.6 rules
3-7): the message names the objects and the phase, the hint says what to send instead, and the
details carry every name. Found unguarded by mutation testing; expected texts are written out."""

from __future__ import annotations

from typing import Any

from dts_change.dblist import ObjectRef
from dts_change.errors import DtsChangeError
from dts_change.merge import ChangeSpec, fold_changes, target_name_warnings
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


def test_target_name_warnings_look_past_listed_databases_and_tables_of_unlisted_ones():
    before = build_dts_dblist(MAPPED)
    found = target_name_warnings(before, [ObjectRef("hr"), ObjectRef("shop_dst")])
    assert found == ["Database 'shop_dst' is the target name of mapped database shop -> shop_dst: "
                     "it was added as a new source database"]
    found = target_name_warnings(before, [ObjectRef("new", "t"), ObjectRef("shop", "orders_v2")])
    assert found == ["Table 'shop.orders_v2' is the target name of mapped table shop.orders -> orders_v2: "
                     "it was added as a new source table"]
