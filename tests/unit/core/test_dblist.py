from __future__ import annotations

import json

import pytest

from dts_change.core.dblist import MAX_DBLIST_BYTES, DbList, ObjectRef
from dts_change.core.errors import DbListTooLargeError, DbListValidationError, UnreadableDbObjectError

REALISTIC_DB_OBJECT = (
    '{"dtstestdata":{"all":true,"name":"dtstestdata","state":"normal"},'
    '"sales":{"name":"sales_rpt","all":false,"state":"normal","Table":{'
    '"orders":{"name":"orders","all":true,"state":"normal","primary_key":"id","part_key":"id",'
    '"type":"partition"},"customers":{"name":"customers","all":false,"filter":"id>10",'
    '"column":{"id":{"name":"id","type":"int(11)"}},"state":"normal"}},'
    '"View":{"v1":{"name":"v1"}}},"legacy":{"name":"legacy","Table":{"t":{"name":"t"}}}}'
)


def test_from_dts_realistic_db_object_round_trips_unknown_keys_and_strips_state():
    parsed = DbList.from_dts(REALISTIC_DB_OBJECT)
    wire = parsed.to_wire()
    original = json.loads(REALISTIC_DB_OBJECT)
    assert "state" not in wire["sales"]
    assert "state" not in wire["sales"]["Table"]["orders"]
    assert wire["sales"]["Table"]["orders"]["primary_key"] == "id"
    assert wire["sales"]["Table"]["orders"]["part_key"] == "id"
    assert wire["sales"]["View"] == {"v1": {"name": "v1"}}
    assert wire["sales"]["Table"]["customers"]["column"] == {"id": {"name": "id", "type": "int(11)"}}
    assert parsed.to_wire(keep_server_keys=True) == original


def test_from_dts_missing_all_means_whole_and_stays_absent():
    parsed = DbList.from_dts('{"hr":{"name":"hr"}}')
    assert parsed.databases["hr"].whole
    assert parsed.covers(ObjectRef("hr", "anything"))
    assert parsed.to_wire() == {"hr": {"name": "hr"}}


def test_from_dts_legacy_table_map_without_all_is_still_whole():
    parsed = DbList.from_dts(REALISTIC_DB_OBJECT)
    assert parsed.databases["legacy"].whole
    assert parsed.covers(ObjectRef("legacy", "other"))


@pytest.mark.parametrize("text", [None, "", "   ", "null"])
def test_from_dts_empty_db_object_is_an_error_not_an_empty_list(text):
    with pytest.raises(UnreadableDbObjectError) as info:
        DbList.from_dts(text)
    assert info.value.code == "dbobject-unreadable"


def test_from_dts_non_object_json_is_unreadable():
    with pytest.raises(UnreadableDbObjectError, match="expected a JSON object"):
        DbList.from_dts("[1, 2]")


def test_from_dts_keeps_case_variant_keys_as_unknown():
    parsed = DbList.from_dts('{"db":{"name":"db","all":false,"table":{"t":{}},"Table":{"u":{"name":"u"}}}}')
    assert parsed.to_wire()["db"]["table"] == {"t": {}}
    assert list(parsed.databases["db"].table_map()) == ["u"]


def test_from_user_wrong_type_names_exact_path_and_value():
    with pytest.raises(DbListValidationError) as info:
        DbList.from_user({"sales": {"name": "sales", "all": False, "Table": {"orders": {"all": "yes"}}}})
    assert 'sales.Table.orders.all: expected a boolean, got "yes"' in str(info.value)
    assert info.value.code == "invalid-dblist"
    assert info.value.details[0]["path"] == "sales.Table.orders.all"


@pytest.mark.parametrize(
    ("entry", "path", "right"),
    [
        ({"name": "s", "all": False, "table": {"t": {}}}, "sales.table", "Table"),
        ({"Name": "s", "all": True}, "sales.Name", "name"),
        ({"name": "s", "ALL": True}, "sales.ALL", "all"),
    ],
)
def test_from_user_case_variant_of_known_key_is_rejected_with_right_spelling(entry, path, right):
    with pytest.raises(DbListValidationError) as info:
        DbList.from_user({"sales": entry})
    problem = next(p for p in info.value.details if p["path"] == path)
    assert f'"{right}"' in problem["msg"]


def test_from_user_table_list_without_all_is_rejected_as_ambiguous():
    with pytest.raises(DbListValidationError, match='set "all": false'):
        DbList.from_user({"sales": {"name": "sales", "Table": {"t": {"name": "t"}}}})


@pytest.mark.parametrize("name", ["", "bad\x00name", "tab\tname", "x" * 129])
def test_from_user_invalid_table_name_is_rejected_with_the_name(name):
    with pytest.raises(DbListValidationError) as info:
        DbList.from_user({"db": {"name": "db", "all": False, "Table": {name: {"all": True}}}})
    assert any(p["type"] == "invalid_name" for p in info.value.details)


def test_from_user_accepts_cjk_names_and_json_text():
    parsed = DbList.from_user('{"销售":{"name":"销售","all":false,"Table":{"订单":{"name":"订单","all":true}}}}')
    assert parsed.covers(ObjectRef("销售", "订单"))
    assert "销售" in parsed.to_json()


def test_from_user_non_object_is_rejected():
    with pytest.raises(DbListValidationError, match="expected an object of databases"):
        DbList.from_user("[1]")


def test_to_json_is_compact_utf8_and_size_counts_bytes():
    parsed = DbList.from_user({"库": {"name": "库", "all": True}})
    text = parsed.to_json()
    assert text == '{"库":{"name":"库","all":true}}'
    assert parsed.byte_size() == len(text.encode("utf-8")) > len(text)


def test_check_size_over_limit_says_by_how_much():
    big = {f"db{i}": {"name": f"db{i}", "all": True, "pad": "x" * 1000} for i in range(1100)}
    parsed = DbList.from_user(big)
    size = parsed.byte_size()
    assert size > MAX_DBLIST_BYTES
    with pytest.raises(DbListTooLargeError) as info:
        parsed.check_size()
    assert f"{size - MAX_DBLIST_BYTES} over" in str(info.value)
    assert info.value.details == {"bytes": size, "limit": MAX_DBLIST_BYTES, "over_by": size - MAX_DBLIST_BYTES}


def test_equality_ignores_state_keys_and_key_order():
    a = DbList.from_dts('{"d":{"all":true,"name":"d","state":"normal"}}')
    b = DbList.from_user({"d": {"name": "d", "all": True}})
    assert a == b


def test_object_ref_is_an_immutable_hashable_value_that_survives_copy_and_pickle():
    import copy
    import dataclasses
    import pickle

    ref = ObjectRef("sales", "orders")
    # equal by value, hashable as a set member, never equal to a look-alike tuple
    assert ref == ObjectRef("sales", "orders") and ref != ObjectRef("sales") and ref != ("sales", "orders")
    assert {ref, ObjectRef("sales", "orders"), ObjectRef("sales")} == {ObjectRef("sales"), ref}
    with pytest.raises(dataclasses.FrozenInstanceError):
        ref.table = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del ref.db
    for clone in (copy.copy(ref), copy.deepcopy(ref), pickle.loads(pickle.dumps(ref))):
        assert clone == ref and hash(clone) == hash(ref)
    assert repr(ref) == "ObjectRef(db='sales', table='orders')" and str(ref) == "sales.orders"
    assert sorted([ObjectRef("b"), ObjectRef("a", "t"), ObjectRef("a")]) == [
        ObjectRef("a"), ObjectRef("a", "t"), ObjectRef("b"),
    ]


def test_an_entry_on_the_wire_drops_the_server_marker_unless_asked_to_keep_it():
    # GIVEN a job's list as DTS returns it: `state` markers on the database and table entries
    listed = DbList.from_dts(
        '{"shop": {"all": false, "state": "normal", "Table": {"orders": {"all": true, "state": "normal"}}}}'
    )
    entry = listed.databases["shop"]
    # THEN by default an entry goes on the wire without them (DTS adds them, never reads them) ...
    assert entry.wire() == {"all": False, "Table": {"orders": {"all": True}}}
    assert entry.table_map()["orders"].wire() == {"all": True}
    # ... and with them only when asked
    assert entry.wire(keep_server_keys=True) == {
        "all": False, "state": "normal", "Table": {"orders": {"all": True, "state": "normal"}}
    }
