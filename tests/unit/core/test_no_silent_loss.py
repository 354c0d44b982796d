"""Issue 11, points 1-6: the merge never drops, narrows or misroutes an object without saying so.

Expected lists are written out as plain JSON here (not derived from the engine's model)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dts_change.core.change import ChangeRequest, JobTarget, ParsedChange, SourceInfo, build_change_request
from dts_change.core.dblist import DbList, ObjectRef
from dts_change.core.merge import ChangeSpec, fold_changes, target_name_warnings
from dts_change.reconcile.context import list_digest
from tests.builders import build_change, build_dts_dblist

# ---------------------------------------------------------------------- 1. the `state` marker

NAMED_STATE = {
    "app": {"name": "app", "all": False, "state": "normal", "Table": {
        "state": {"name": "state", "all": True, "state": "normal"},
        "users": {"name": "users", "all": True, "state": "normal",
                  "column": {"state": {"name": "state"}, "id": "id"},
                  "filter": {"state": "active"}},
    }},
    "state": {"name": "state", "all": True, "state": "normal"},
}


def test_state_marker_is_stripped_only_where_dts_puts_it():
    wire = build_dts_dblist(NAMED_STATE).to_wire()
    assert wire == {
        "app": {"name": "app", "all": False, "Table": {
            "state": {"name": "state", "all": True},
            "users": {"name": "users", "all": True,
                      "column": {"state": {"name": "state"}, "id": "id"},
                      "filter": {"state": "active"}},
        }},
        "state": {"name": "state", "all": True},
    }


def test_column_named_state_mapping_to_a_string_is_kept():
    listed = build_dts_dblist({"d": {"name": "d", "all": False, "Table": {
        "t": {"name": "t", "all": True, "column": {"state": "state", "id": "id"}, "state": "normal"}}}})
    assert json.loads(listed.to_json())["d"]["Table"]["t"]["column"] == {"state": "state", "id": "id"}


def test_non_string_state_key_on_an_entry_is_data_and_kept():
    listed = build_dts_dblist({"d": {"name": "d", "all": True, "state": {"custom": 1}}})
    assert listed.to_wire() == {"d": {"name": "d", "all": True, "state": {"custom": 1}}}


def test_table_named_state_survives_a_fold_and_its_settings_compare():
    result = fold_changes(build_dts_dblist(NAMED_STATE), [build_change(add={"app": {"all": False, "Table": {"new": {}}}})])
    after = json.loads(result.after.to_json())
    assert set(after["app"]["Table"]) == {"state", "users", "new"}
    assert after["app"]["Table"]["users"]["filter"] == {"state": "active"}
    assert "state" in after
    assert result.diff.removed == [] and result.diff.changed == []


# ---------------------------------------------------------------------- 2. last table of a database

RENAMED = {
    "shop": {"name": "shop_dst", "all": False, "dml_op": "I,U", "ddl_op": "CreateTable", "x_custom": [1],
             "Table": {"orders": {"name": "orders", "all": True}}},
    "hr": {"name": "hr", "all": True},
}


def test_removing_the_last_table_is_refused_and_keeps_the_database_settings():
    result = fold_changes(build_dts_dblist(RENAMED), [build_change(remove=["shop.orders"])])
    outcome = result.outcomes[0]
    assert outcome.status == "rejected"
    assert outcome.error is not None and outcome.error.code == "removal-empties-database"
    assert 'remove: ["shop"]' in outcome.error.hint
    assert result.plan.phases() == []
    assert json.loads(result.after.to_json())["shop"] == RENAMED["shop"]


def test_removing_the_last_table_together_with_its_database_is_fine():
    result = fold_changes(build_dts_dblist(RENAMED), [build_change(remove=["shop.orders", "shop"])])
    assert result.outcomes[0].status == "applied"
    assert json.loads(result.after.to_json()) == {"hr": {"name": "hr", "all": True}}


def test_removing_every_listed_table_one_change_after_another_refuses_the_one_that_empties():
    two = {"d": {"name": "d_dst", "all": False, "Table": {"a": {"name": "a", "all": True}, "b": {"name": "b", "all": True}}},
           "hr": {"name": "hr", "all": True}}
    result = fold_changes(build_dts_dblist(two), [build_change("c1", remove=["d.a"]), build_change("c2", remove=["d.b"])])
    assert [o.status for o in result.outcomes] == ["applied", "rejected"]
    assert json.loads(result.after.to_json())["d"] == {"name": "d_dst", "all": False, "Table": {"b": {"name": "b", "all": True}}}


def test_removal_phase_that_would_empty_a_database_refills_later_is_refused():
    # c1 adds d.c; c2 removes a and b: the removal phase (sent first) would list d with no table.
    two = {"d": {"name": "d", "all": False, "Table": {"a": {"name": "a", "all": True}, "b": {"name": "b", "all": True}}},
           "hr": {"name": "hr", "all": True}}
    result = fold_changes(build_dts_dblist(two), [
        build_change("c1", add={"d": {"all": False, "Table": {"c": {}}}}),
        build_change("c2", remove=["d.a", "d.b"]),
    ])
    assert [o.status for o in result.outcomes] == ["applied", "rejected"]
    assert result.outcomes[1].error is not None and result.outcomes[1].error.code == "removal-empties-database"
    for _phase, listed in result.plan.phases():
        assert listed.to_wire()["d"].get("Table")
    # only the shared removal phase refused it: a pass defers it until c1 landed
    assert [o.waits_for_earlier for o in result.outcomes] == [False, True]
    # folded on its own after c1, it passes
    alone = fold_changes(result.after, [build_change("c2", remove=["d.a", "d.b"])])
    assert [o.status for o in alone.outcomes] == ["applied"]


def test_a_change_that_empties_a_database_by_itself_does_not_wait():
    two = {"d": {"name": "d", "all": False, "Table": {"a": {"name": "a", "all": True}}},
           "hr": {"name": "hr", "all": True}}
    # alone, and after an accepted change that does not refill d: refused for good either way
    for changes in ([build_change("c2", remove=["d.a"])],
                    [build_change("c1", add={"hr2": {"all": True}}), build_change("c2", remove=["d.a"])]):
        result = fold_changes(build_dts_dblist(two), changes)
        assert result.outcomes[-1].status == "rejected"
        assert result.outcomes[-1].error is not None and result.outcomes[-1].error.code == "removal-empties-database"
        assert result.outcomes[-1].waits_for_earlier is False


# ---------------------------------------------------------------------- 3. never an empty DbList

def test_removing_the_only_database_is_refused():
    only = {"hr": {"name": "hr", "all": True}}
    result = fold_changes(build_dts_dblist(only), [build_change(remove=["hr"])])
    assert result.outcomes[0].status == "rejected"
    assert result.outcomes[0].error is not None and result.outcomes[0].error.code == "dblist-would-be-empty"
    assert result.plan.phases() == []


def test_removal_phase_that_would_be_empty_is_refused_even_if_additions_follow():
    only = {"hr": {"name": "hr", "all": True}}
    result = fold_changes(build_dts_dblist(only), [build_change(add={"crm": {"all": True}}), build_change("c2", remove=["hr"])])
    assert [o.status for o in result.outcomes] == ["applied", "rejected"]
    assert result.outcomes[1].error is not None and result.outcomes[1].error.code == "dblist-would-be-empty"
    assert all(listed.databases for _phase, listed in result.plan.phases())
    assert result.outcomes[1].waits_for_earlier is True


# ---------------------------------------------------------------------- 4. names the job does not list

LISTED = {
    "shop": {"name": "shop", "all": False, "Table": {"orders": {"name": "orders", "all": True},
                                                     "customers": {"name": "customers", "all": True}}},
    "hr": {"name": "hr", "all": True},
}


def test_removing_a_case_variant_is_refused_naming_the_listed_name():
    result = fold_changes(build_dts_dblist(LISTED), [build_change(remove=["shop.Orders"])])
    outcome = result.outcomes[0]
    assert outcome.status == "rejected"
    assert outcome.error is not None and outcome.error.code == "remove-not-listed"
    assert outcome.error.details == {"notListed": ["shop.Orders"], "nearMatches": {"shop.Orders": "shop.orders"}}
    assert "shop.Orders" in outcome.error.message and "shop.orders" in outcome.error.message
    assert set(json.loads(result.after.to_json())["shop"]["Table"]) == {"orders", "customers"}


def test_removing_a_confusable_database_name_suggests_the_listed_one():
    result = fold_changes(build_dts_dblist(LISTED), [build_change(remove=["ｈr", "shoр.orders"])])  # fullwidth ｈ, Cyrillic р
    error = result.outcomes[0].error
    assert error is not None and error.code == "remove-not-listed"
    assert error.details == {"notListed": ["shoр.orders", "ｈr"], "nearMatches": {"shoр.orders": "shop.orders", "ｈr": "hr"}}


def test_a_typo_with_no_near_match_is_refused_and_nothing_else_of_the_change_applies():
    result = fold_changes(build_dts_dblist(LISTED), [build_change(remove=["shop.orders", "shop.ordrs"])])
    error = result.outcomes[0].error
    assert error is not None and error.code == "remove-not-listed"
    assert error.details == {"notListed": ["shop.ordrs"], "nearMatches": {}}
    assert "orders" in json.loads(result.after.to_json())["shop"]["Table"]


def test_removing_an_object_an_earlier_change_of_the_same_fold_added_is_allowed():
    result = fold_changes(build_dts_dblist(LISTED), [
        build_change("c1", add={"crm": {"all": True}}), build_change("c2", remove=["crm"])])
    assert [o.status for o in result.outcomes] == ["applied", "applied"]
    assert "crm" not in result.after.databases


# ---------------------------------------------------------------------- 5. target names added as sources

MAPPED = {
    "shop": {"name": "shop_dst", "all": False, "Table": {"orders": {"name": "orders_v2", "all": True}}},
    "hr": {"name": "hr", "all": True},
}


def test_adding_a_database_named_like_a_mapping_target_warns_naming_the_mapping():
    result = fold_changes(build_dts_dblist(MAPPED), [build_change(add={"shop_dst": {"all": True}})])
    assert result.outcomes[0].status == "applied"
    assert any("shop_dst" in w and "shop -> shop_dst" in w for w in result.diff.warnings)


def test_adding_a_table_named_like_a_renamed_table_target_warns():
    result = fold_changes(build_dts_dblist(MAPPED), [build_change(add={"shop": {"all": False, "Table": {"orders_v2": {}}}})])
    assert any("shop.orders_v2" in w and "shop.orders -> orders_v2" in w for w in result.diff.warnings)


def test_target_name_warnings_are_silent_for_plain_additions_and_identity_names():
    before = build_dts_dblist(MAPPED)
    assert target_name_warnings(before, [ObjectRef("hr2"), ObjectRef("shop", "refunds")]) == []
    same = build_dts_dblist({"a": {"name": "a", "all": True}})
    assert target_name_warnings(same, [ObjectRef("b")]) == []


# ---------------------------------------------------------------------- 6. remove + add of the same object

SETTINGS = {
    "shop": {"name": "shop", "all": False, "Table": {
        "orders": {"name": "orders_v2", "all": True, "filter": "id > 10", "column": {"id": "id"}},
        "customers": {"name": "customers", "all": True}}},
    "hr": {"name": "hr", "all": True},
}


def test_remove_and_add_of_the_same_table_keeps_its_settings():
    result = fold_changes(build_dts_dblist(SETTINGS), [build_change(remove=["shop.orders"], add={"shop": {"all": False, "Table": {"orders": {}}}})])
    assert result.outcomes[0].status == "no_op"
    assert result.plan.phases() == []
    assert json.loads(result.after.to_json())["shop"]["Table"]["orders"] == SETTINGS["shop"]["Table"]["orders"]


def test_remove_and_add_of_the_same_database_keeps_its_tables_and_settings():
    result = fold_changes(build_dts_dblist(SETTINGS), [build_change(remove=["shop"], add={"shop": {"all": False, "Table": {"new": {}}}})])
    assert result.outcomes[0].status == "applied"
    after = json.loads(result.after.to_json())
    assert set(after["shop"]["Table"]) == {"orders", "customers", "new"}
    assert after["shop"]["Table"]["orders"] == SETTINGS["shop"]["Table"]["orders"]
    assert [phase for phase, _ in result.plan.phases()] == ["addition"]


def test_remove_and_add_with_other_settings_is_a_conflict_not_a_silent_reset():
    change = build_change(remove=["shop.orders"], add={"shop": {"all": False, "Table": {"orders": {"name": "orders"}}}})
    result = fold_changes(build_dts_dblist(SETTINGS), [change])
    assert result.outcomes[0].error is not None and result.outcomes[0].error.code == "conflict"


def test_remove_and_add_of_the_same_table_with_replace_overwrites_only_what_it_names():
    change = build_change(remove=["shop.orders"], add={"shop": {"all": False, "Table": {"orders": {"name": "orders"}}}},
                          on_conflict="replace")
    result = fold_changes(build_dts_dblist(SETTINGS), [change])
    orders = json.loads(result.after.to_json())["shop"]["Table"]["orders"]
    assert orders == {"name": "orders", "all": True, "filter": "id > 10", "column": {"id": "id"}}


@pytest.mark.parametrize("db_object", [json.dumps(NAMED_STATE), json.dumps(RENAMED), json.dumps(SETTINGS)])
def test_describe_text_round_trips_without_markers(db_object):
    listed = DbList.from_dts(db_object)
    assert DbList.from_dts(listed.to_json()) == listed


def test_target_name_policy_reject_refuses_the_change_and_keeps_the_list():
    spec = build_change(add={"shop_dst": {"all": True}})
    strict = ChangeSpec(spec.change_id, spec.add, spec.remove, spec.on_conflict, target_names="reject")
    result = fold_changes(build_dts_dblist(MAPPED), [strict])
    error = result.outcomes[0].error
    assert error is not None and error.code == "target-name-added"
    assert "shop -> shop_dst" in error.message
    assert result.plan.phases() == [] and "shop_dst" not in result.after.databases


def test_target_name_policy_travels_with_the_change_record_and_counts_in_its_hash():
    parsed = ParsedChange(format="change-document", doc_id="t-1", add=DbList.from_user({"x": {"all": True}}))

    def request(policy):
        return build_change_request(parsed, job=JobTarget("j1", region="cn-hangzhou"), remove=(), warnings=(),
                                    source=SourceInfo("manual"), correlation_id="c", event_ref={}, target_names=policy)

    warn, strict = request("warn"), request("reject")
    assert "onTargetNameAdd" not in warn.to_record()
    again = ChangeRequest.from_record(json.loads(json.dumps(strict.to_record())))
    assert again.target_names == "reject" and again.to_change_spec().target_names == "reject"
    assert warn.content_hash != strict.content_hash


def test_list_digest_ignores_dts_markers_and_key_order():
    a = DbList.from_dts('{"d":{"name":"d","all":false,"state":"normal","Table":{"t":{"all":true,"name":"t","state":"normal"}}}}')
    b = DbList.from_dts('{"d":{"Table":{"t":{"name":"t","all":true}},"all":false,"name":"d"}}')
    c = DbList.from_dts('{"d":{"Table":{"t":{"name":"t2","all":true}},"all":false,"name":"d"}}')
    assert list_digest(a) == list_digest(b) != list_digest(c)


def test_a_table_of_a_database_the_same_change_removes_is_covered_whatever_the_order():
    for remove in (["hr.payroll", "hr"], ["hr", "hr.payroll"], ["shop.nope", "shop"]):
        result = fold_changes(build_dts_dblist(LISTED), [build_change(remove=remove)])
        assert result.outcomes[0].status == "applied", remove
        assert remove[-1] not in result.after.databases and remove[0].split(".")[0] not in result.after.databases


# ---------------------------------------------------------------------- 1, generated: names are data

_NAMES = st.sampled_from(["state", "State", "name", "all", "Table", "column", "filter", "t", "a.b", ""])
_VALUES = st.one_of(st.sampled_from(["normal", "state", "x"]), st.integers(0, 3), st.booleans())
_MAPS = st.dictionaries(_NAMES, st.one_of(_VALUES, st.dictionaries(_NAMES, _VALUES, max_size=3)), max_size=4)
_TABLE = st.fixed_dictionaries(
    {"name": st.sampled_from(["state", "t2"]), "all": st.just(True)},
    optional={"column": _MAPS, "filter": st.one_of(st.text(max_size=5), _MAPS), "state": st.one_of(st.just("normal"), _MAPS)},
)
_DATABASE = st.fixed_dictionaries(
    {"name": st.sampled_from(["state", "d2"]), "all": st.just(False),
     "Table": st.dictionaries(st.sampled_from(["state", "t", "Table", "name"]), _TABLE, min_size=1, max_size=3)},
    optional={"state": st.one_of(st.just("normal"), st.integers(0, 2)), "x_extra": _MAPS},
)


def _without_markers(db_list: dict) -> dict:
    """Plain reference: drop a string `state` directly on each database and table entry, nothing else."""
    out = {}
    for db, entry in db_list.items():
        entry = {k: v for k, v in entry.items() if not (k == "state" and isinstance(v, str))}
        entry["Table"] = {t: {k: v for k, v in te.items() if not (k == "state" and isinstance(v, str))}
                          for t, te in entry["Table"].items()}
        out[db] = entry
    return out


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["state", "shop", "State"]), _DATABASE, min_size=1, max_size=3))
def test_property_only_dts_markers_are_stripped_names_and_values_survive(db_list):
    listed = DbList.from_dts(json.dumps(db_list))
    assert json.loads(listed.to_json()) == _without_markers(db_list)
    assert json.loads(listed.to_json(keep_server_keys=True)) == db_list


def test_only_a_removal_phase_refusal_after_an_accepted_change_waits():
    # A change refused after its removal phase passed (rule 7) does not wait, even after an
    # accepted change; one refused by a removal phase no accepted change shares does not either.
    spec = build_change("c2", add={"shop_dst": {"all": True}}, remove=["hr"])
    strict = ChangeSpec(spec.change_id, spec.add, spec.remove, spec.on_conflict, target_names="reject")
    result = fold_changes(build_dts_dblist(MAPPED), [build_change("c1", add={"crm": {"all": True}}), strict])
    assert [o.status for o in result.outcomes] == ["applied", "rejected"]
    assert result.outcomes[1].error is not None and result.outcomes[1].error.code == "target-name-added"
    assert result.outcomes[1].waits_for_earlier is False
    only = {"hr": {"name": "hr", "all": True}}
    swap = build_change("c2", remove=["hr"], add={"crm": {"all": True}})  # its removal phase is {}
    result = fold_changes(build_dts_dblist(only), [build_change("c1", remove=["nope"]), swap])
    assert [o.status for o in result.outcomes] == ["rejected", "rejected"]
    assert result.outcomes[1].error is not None and result.outcomes[1].error.code == "dblist-would-be-empty"
    assert result.outcomes[1].waits_for_earlier is False
