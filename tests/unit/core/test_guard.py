"""The wire guard on plain JSON texts: no model, no merge, adversarial names everywhere."""

from __future__ import annotations

import ast
import json
from typing import Any

import pytest

from dts_change.core.errors import GuardViolationError
from dts_change.core.guard import (
    Allowance,
    allowance_for,
    check_dblist,
    check_reserved,
    databases_of,
    find_losses,
    pointer,
)
from tests.conftest import REPO_ROOT

NOTHING = Allowance()

BEFORE: dict[str, Any] = {
    "shop": {
        "name": "shop_dst",
        "all": False,
        "state": "normal",
        "dml_op": "I,U",
        "Table": {
            "state": {"name": "state", "all": True, "state": "normal"},
            "name": {"name": "name_dst", "all": True, "filter": {"state": "open", "all": 1}},
            "all": {"name": "all", "all": True, "column": {"state": {"name": "state"}}},
            "Table": {"name": "Table", "all": True},
            "a.b c": {"name": "a.b c", "all": True, "primary_key": "id"},
            "訂單/歷史": {"name": "訂單/歷史", "all": True, "unknown": [1, {"x": None}]},
        },
    },
    "state": {"name": "state", "all": True, "state": "normal"},
    "hr": {"name": "hr", "all": True, "extra": {}},
}


def text(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)


def without_markers(data: dict[str, Any]) -> dict[str, Any]:
    """What a correct writer sends: DTS's own `state` strings on db and table entries removed."""
    out = json.loads(json.dumps(data))
    for entry in out.values():
        entry.pop("state", None)
        for table in (entry.get("Table") or {}).values():
            table.pop("state", None)
    return out


def lost(before: Any, sent: Any, allowance: Allowance = NOTHING) -> list[str]:
    return [p for p, _ in find_losses(text(before), text(sent), allowance)]


def test_sending_everything_back_without_dts_markers_loses_nothing():
    assert lost(BEFORE, without_markers(BEFORE)) == []
    assert lost(BEFORE, BEFORE) == []


@pytest.mark.parametrize(
    ("drop", "expected"),
    [
        (("shop", "Table", "state"), "/shop/Table/state"),
        (("shop", "Table", "name", "filter", "state"), "/shop/Table/name/filter/state"),
        (("shop", "Table", "all", "column", "state"), "/shop/Table/all/column/state"),
        (("shop", "Table", "Table"), "/shop/Table/Table"),
        (("shop", "Table", "a.b c", "primary_key"), "/shop/Table/a.b c/primary_key"),
        (("shop", "Table", "訂單/歷史"), "/shop/Table/訂單~1歷史"),
        (("state",), "/state"),
        (("hr", "extra"), "/hr/extra"),
        (("shop", "dml_op"), "/shop/dml_op"),
        (("shop", "name"), "/shop/name"),
    ],
)
def test_a_name_or_key_dropped_at_any_depth_is_named_by_its_pointer(drop, expected):
    sent = without_markers(BEFORE)
    node = sent
    for part in drop[:-1]:
        node = node[part]
    del node[drop[-1]]
    assert lost(BEFORE, sent) == [expected]


def test_changed_values_are_losses_and_json_types_are_strict():
    sent = without_markers(BEFORE)
    sent["shop"]["Table"]["name"]["filter"]["all"] = True  # 1 -> true
    sent["shop"]["all"] = True
    sent["shop"]["Table"]["訂單/歷史"]["unknown"] = [1, {"x": 0}]
    sent["hr"]["extra"] = []
    found = dict(find_losses(text(BEFORE), text(sent), NOTHING))
    assert set(found) == {"/shop/Table/name/filter/all", "/shop/all", "/shop/Table/訂單~1歷史/unknown", "/hr/extra"}
    assert found["/shop/all"] == "changed from false to true"
    assert found["/hr/extra"].startswith("an object became")


def test_only_a_string_state_on_a_database_or_table_entry_is_dts_s_marker():
    before = {"d": {"state": {"k": 1}, "Table": {"t": {"state": 7}, "state": {"all": True}}}}
    # an object-valued `state` on the database, a number on the table: data, not markers
    assert lost(before, {"d": {"Table": {"state": {"all": True}, "t": {}}}}) == ["/d/Table/t/state", "/d/state"]
    # the table called `state` itself is a name
    assert lost(before, {"d": {"state": {"k": 1}, "Table": {"t": {"state": 7}}}}) == ["/d/Table/state"]
    # string markers one level too deep are data too
    deep = {"d": {"Table": {"t": {"column": {"c": {"state": "normal"}}}}}}
    assert lost(deep, {"d": {"Table": {"t": {"column": {"c": {}}}}}}) == ["/d/Table/t/column/c/state"]


def test_explicit_removals_release_exactly_their_subtree():
    sent = without_markers(BEFORE)
    del sent["shop"]["Table"]["state"]
    del sent["state"]
    allowance = allowance_for([("shop", "state"), ("state", None)])
    assert lost(BEFORE, sent, allowance) == []
    # removing table `state` does not release the database named `state`, nor the reverse
    assert lost(BEFORE, sent, allowance_for([("shop", "state")])) == ["/state"]
    assert lost(BEFORE, sent, allowance_for([("state", None)])) == ["/shop/Table/state"]


def test_removing_a_databases_last_tables_does_not_release_its_own_settings():
    before = {"s": {"name": "s_dst", "all": False, "dml_op": "I", "Table": {"t": {"name": "t", "all": True}}}}
    assert lost(before, {}, allowance_for([("s", "t")])) == ["/s"]
    assert lost(before, {"s": {}}, allowance_for([("s", "t")])) == ["/s/Table", "/s/all", "/s/dml_op", "/s/name"]
    kept = {"s": {"name": "s_dst", "all": False, "dml_op": "I", "Table": {}}}
    assert lost(before, kept, allowance_for([("s", "t")])) == []


def test_replace_releases_only_the_keys_the_fragment_carries():
    before = {"d": {"name": "d", "all": False, "dml_op": "I", "Table": {
        "t": {"name": "t", "all": True, "filter": {"a": 1}, "primary_key": "id"}}}}
    fragment = {"d": {"all": False, "Table": {"t": {"filter": "x > 1"}}}}
    sent = {"d": {"name": "d", "all": False, "dml_op": "I", "Table": {"t": {"name": "t", "all": True, "filter": "x > 1"}}}}
    assert lost(before, sent, allowance_for([], [fragment])) == ["/d/Table/t/primary_key"]
    sent["d"]["Table"]["t"]["primary_key"] = "id"
    assert lost(before, sent, allowance_for([], [fragment])) == []
    assert lost(before, sent) == ["/d/Table/t/filter"]


def test_a_whole_database_replace_releases_its_table_list_and_all():
    before = {"d": {"name": "d", "all": False, "Table": {"t": {"name": "t", "all": True}}}}
    sent = {"d": {"name": "d", "all": True}}
    assert lost(before, sent, allowance_for([], [{"d": {"name": "d"}}])) == []
    assert lost(before, sent, allowance_for([], [{"d": {"name": "d", "all": False, "Table": {"t": {}}}}])) == [
        "/d/Table", "/d/all"]


def test_check_dblist_raises_with_every_path_and_sends_nothing():
    sent = without_markers(BEFORE)
    del sent["hr"]
    del sent["shop"]["Table"]["state"]
    with pytest.raises(GuardViolationError) as caught:
        check_dblist(text(BEFORE), text(sent), NOTHING)
    error = caught.value
    assert error.code == "guard-violation"
    assert error.details == {"paths": ["/hr", "/shop/Table/state"], "lost": [
        {"path": "/hr", "what": "missing"}, {"path": "/shop/Table/state", "what": "missing"}]}
    assert "/hr missing" in error.message and "/shop/Table/state missing" in error.message
    check_dblist(text(BEFORE), text(without_markers(BEFORE)), NOTHING)


@pytest.mark.parametrize("before", [None, "", "not json", "[1]"])
def test_no_readable_dbobject_text_means_no_write(before):
    with pytest.raises(GuardViolationError):
        check_dblist(before, "{}", NOTHING)


def test_deep_nesting_is_walked_without_recursion_and_too_deep_text_is_refused():
    depth = 400
    before = '{"d":{"filter":' + '{"k":' * depth + "{}" + "}" * depth + "}}"
    assert find_losses(before, before, NOTHING) == []
    sent = '{"d":{"filter":' + '{"k":' * (depth - 1) + "{}" + "}" * (depth - 1) + "}}"
    assert [p for p, _ in find_losses(before, sent, NOTHING)] == ["/d/filter" + "/k" * depth]
    too_deep = '{"d":' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(GuardViolationError, match="not JSON"):
        check_dblist(too_deep, too_deep, NOTHING)


def test_pointer_escapes_tilde_and_slash():
    assert pointer(("a~b", "c/d", "")) == "/a~0b/c~1d/"


def test_reserved_requests_carry_no_dblist_and_only_what_changes_asked():
    check_reserved(None, {"a": 1, "b": "x"}, [{"a": 0}, {"a": 1, "b": "x"}])
    with pytest.raises(GuardViolationError, match="would carry a DbList"):
        check_reserved("{}", {"a": 1}, [{"a": 1}])
    with pytest.raises(GuardViolationError) as caught:
        check_reserved(None, {"a": 1, "c": 2}, [{"a": "1"}])
    assert caught.value.details == {"paths": ["/a", "/c"]}


def test_every_modify_dts_job_call_in_the_package_is_preceded_by_the_guard():
    """Structural: a call site added later without the guard fails here."""
    calls = []
    for path in sorted((REPO_ROOT / "src" / "dts_change").rglob("*.py")):
        if "emulator" in path.parts or path.name == "dts.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef):
                continue
            names = [
                (node.lineno, node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", ""))
                for node in ast.walk(func)
                if isinstance(node, ast.Call)
            ]
            modify = [line for line, name in names if name == "modify_dts_job"]
            if not modify:
                continue
            guards = [line for line, name in names if name in ("check_dblist", "check_reserved", "_guard_dblist")]
            calls.append((path.name, func.name))
            assert guards and min(guards) < min(modify), f"{path.name}:{func.name} calls ModifyDtsJob unguarded"
    assert len(calls) == 2, calls


def test_databases_of_pointers_unescapes_the_first_segment():
    assert databases_of(["/a~1b/Table/t", "/c~0d", "/e", ""]) == {"a/b", "c~d", "e"}


def test_the_dbobject_text_reaches_the_guard_exactly_as_dts_wrote_it():
    from dts_change.clients.dts_models import JobDetail

    raw = '{ "shop" : {"name":"shop","state":"normal","Table":{"state":{"all":true}}, "x": 1.0} }'
    detail = JobDetail.from_response(json.loads(json.dumps({"DbObject": raw, "Status": "synchronizing"})))
    assert detail.db_object == raw
    # 1.0 stays a float in the text the guard reads: sending 1 is a change, not the same value
    assert [p for p, _ in find_losses(detail.db_object, '{"shop":{"name":"shop","Table":{"state":{"all":true}},"x":1}}',
                                      NOTHING)] == ["/shop/x"]
