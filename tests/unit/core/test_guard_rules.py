"""Rules of the wire guard (issue #11) that mutation testing (#17) found unguarded: what counts as
the same value, what a replace or a removal gives up, DTS's marker, and what a violation tells the
operator (its message and the paths in its details go to the dead letter)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dts_change.core.errors import GuardViolationError
from dts_change.core.guard import (
    MAX_REPORTED,
    Allowance,
    allowance_for,
    check_dblist,
    check_reserved,
    databases_of,
    find_losses,
    without_dts_markers,
)

NOTHING = Allowance()


def losses(before: Any, sent: Any, allowance: Allowance = NOTHING) -> list[tuple[str, str]]:
    return find_losses(json.dumps(before), json.dumps(sent), allowance)


# ---------------------------------------------------------------------- the same value


@pytest.mark.parametrize("value, sent", [
    ([{"b": 1, "a": 2}], [{"a": 2, "b": 1}]),  # key order inside a value does not count
    ([{"a": 2, "b": 1}], [{"b": 1, "a": 2}]),
    (["销售", "é"], ["销售", "é"]),              # nor how non-ASCII text is escaped on the way
    ({"expr": {"z": [1, 2], "a": None}}, {"expr": {"a": None, "z": [1, 2]}}),
])
def test_a_value_sent_back_equal_as_json_is_kept(value, sent):
    before = {"d": {"all": False, "Table": {"t": {"filter": value}}}}
    after = {"d": {"all": False, "Table": {"t": {"filter": sent}}}}
    assert losses(before, after) == []
    # Also when the text is written with escapes on one side only.
    assert find_losses(json.dumps(before, ensure_ascii=True), json.dumps(after, ensure_ascii=False), NOTHING) == []


@pytest.mark.parametrize("value, sent", [(1, 1.0), (1, True), ("1", 1), ([1], [1.0]), (None, False), ([1, 2], [2, 1])])
def test_json_types_and_list_order_are_strict(value, sent):
    assert losses({"d": {"x": value}}, {"d": {"x": sent}}) != []


def test_a_changed_value_is_shown_up_to_60_characters():
    exact = "f" * 58  # 60 characters as JSON
    [(_, what)] = losses({"d": {"x": exact}}, {"d": {"x": "g"}})
    assert what == f'changed from "{exact}" to "g"'
    long = "f" * 59
    [(_, cut)] = losses({"d": {"x": long}}, {"d": {"x": "g"}})
    assert cut == f'changed from {json.dumps(long)[:59]}… to "g"'
    [(_, became)] = losses({"d": {"x": {"k": "é"}}}, {"d": {"x": ["é"]}})
    assert became == 'an object became ["é"]'
    [(_, keys)] = losses({"d": {"x": 1}}, {"d": {"x": {"b": 1, "a": "é"}}})
    assert keys == 'changed from 1 to {"a": "é", "b": 1}'


# ---------------------------------------------------------------------- what a plan gives up


def test_a_replace_without_all_and_without_tables_releases_the_coverage():
    released = allowance_for([], [{"d": {"name": "d2"}}]).released
    assert {("d", "all"), ("d", "Table"), ("d", "name")} <= released
    listed = allowance_for([], [{"d": {"all": False, "Table": {"t": {"filter": "x"}}}}]).released
    assert ("d", "all") not in listed and ("d", "Table") not in listed
    assert ("d", "Table", "t", "filter") in listed


def test_a_whole_database_replace_releases_the_coverage_and_a_table_list_without_tables_does_not():
    assert {("d", "all"), ("d", "Table")} <= allowance_for([], [{"d": {"all": True}}]).released
    assert allowance_for([], [{"d": {"all": False}}]).released == set()


def test_an_entry_that_is_not_an_object_releases_nothing_and_the_next_ones_still_count():
    released = allowance_for([], [{"a": 5, "b": {"dml_op": "I", "all": False, "Table": {"t": 7, "u": {"name": "v"}}}}]).released
    assert released == {("b", "dml_op"), ("b", "Table", "u", "name")}


def test_an_allowance_covers_a_released_path_and_everything_below_it_only():
    allowance = allowance_for([("d", "t"), ("x", None)])
    assert allowance.covers(("d", "Table", "t"))
    assert allowance.covers(("d", "Table", "t", "filter", "k"))
    assert allowance.covers(("x", "all"))
    assert not allowance.covers(("d", "Table", "u"))
    assert not allowance.covers(("d",))
    assert not NOTHING.covers(("d",))


def test_databases_of_pointers_takes_the_first_segment():
    assert databases_of(["/a/Table/t/x", "/b", "no-slash"]) == {"a", "b"}


# ---------------------------------------------------------------------- DTS's marker


def test_without_dts_markers_drops_only_a_string_state_on_an_entry():
    data = {"f": [1], "d": {"state": "normal", "all": False, "Table": {
        "t": {"state": "normal", "column": {"state": "s"}}, "state": {"name": "state"}, "odd": 5}},
        "e": {"state": 1}}
    assert without_dts_markers(data) == {"f": [1], "d": {"all": False, "Table": {
        "t": {"column": {"state": "s"}}, "state": {"name": "state"}, "odd": 5}}, "e": {"state": 1}}


# ---------------------------------------------------------------------- what a violation says


def test_a_write_without_the_dbobject_text_is_refused_with_no_paths():
    with pytest.raises(GuardViolationError) as info:
        check_dblist(None, "{}", NOTHING)
    assert info.value.message == ("Guard violation: no DbObject text was read before this write, so nothing can "
                                  "be compared; nothing was sent")
    assert info.value.details == {"paths": []}


def test_text_that_is_not_json_is_refused_with_no_paths():
    with pytest.raises(GuardViolationError) as info:
        check_dblist("{", "{}", NOTHING)
    assert info.value.message.startswith("Guard violation: the DbObject read or the DbList to send is not JSON (")
    assert info.value.message.endswith("); nothing was sent")
    assert info.value.details == {"paths": []}


def test_a_list_that_is_not_an_object_is_a_loss_at_the_root():
    assert find_losses("[]", "{}", NOTHING) == [("", "the DbObject read or the DbList to send is not a JSON object")]
    with pytest.raises(GuardViolationError) as info:
        check_dblist("[]", "{}", NOTHING)
    assert "that no removal or replace named: / the DbObject read" in info.value.message


def test_a_violation_lists_the_first_paths_and_counts_the_rest():
    before = {f"d{i:02d}": {"all": True} for i in range(MAX_REPORTED + 2)}
    with pytest.raises(GuardViolationError) as info:
        check_dblist(json.dumps(before), "{}", NOTHING)
    shown = "; ".join(f"/d{i:02d} missing" for i in range(MAX_REPORTED))
    assert info.value.message == (
        f"Guard violation: the DbList about to be sent does not keep {MAX_REPORTED + 2} path(s) of the job's "
        f"DbObject that no removal or replace named: {shown} (and 2 more); nothing was sent")
    assert info.value.details["paths"] == [f"/d{i:02d}" for i in range(MAX_REPORTED + 2)]
    assert info.value.details["lost"][0] == {"path": "/d00", "what": "missing"}
    exactly = {f"d{i:02d}": {"all": True} for i in range(MAX_REPORTED)}
    with pytest.raises(GuardViolationError) as at_limit:
        check_dblist(json.dumps(exactly), "{}", NOTHING)
    assert at_limit.value.message.endswith("/d19 missing; nothing was sent")


def test_a_reserved_request_with_a_dblist_or_unasked_keys_is_refused_with_the_paths():
    with pytest.raises(GuardViolationError) as with_list:
        check_reserved("{}", {}, [])
    assert with_list.value.message == ("Guard violation: an UPDATE_RESERVED request would carry a DbList (it would "
                                       "replace the object list); nothing was sent")
    assert with_list.value.details == {"paths": ["/DbList"]}
    with pytest.raises(GuardViolationError) as unasked:
        check_reserved(None, {"a": 1, "b": 2, "c": 3}, [{"a": 1}])
    assert unasked.value.message == ("Guard violation: the Reserved map to send sets /b, /c, which no change asked "
                                     "for with that value; nothing was sent")
    assert unasked.value.details == {"paths": ["/b", "/c"]}
