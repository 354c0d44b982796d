"""change.py: change documents, ModifyDtsJob requests, DbList fragments, table lists, ChangeRequest."""

from __future__ import annotations

import json

import pytest

from dts_change.core.change import ChangeRequest, JobTarget, SourceInfo, build_change_request
from dts_change.core.dblist import ObjectRef
from dts_change.core.errors import ChangeDocumentError, InputTooLargeError
from dts_change.core.merge import ChangeSpec
from dts_change.intake.formats.change_doc import parse as parse_change_document
from dts_change.intake.formats.common import split_object_name
from dts_change.intake.formats.dblist_fragment import parse as parse_dblist_fragment
from dts_change.intake.formats.modify_request import parse as parse_modify_request
from dts_change.intake.formats.table_list import parse as parse_table_list
from dts_change.intake.replay import kept_input, replay_envelopes
from dts_change.intake.split import split_event
from tests.conftest import EVENTS_DIR

CAP = 10_000


def _changes_file(name: str) -> str:
    return (EVENTS_DIR / "changes" / name).read_text()


def _doc(data, *, max_objects: int = CAP):
    return parse_change_document(data, what="doc.json", max_objects=max_objects)


def _doc_error(data, **kw) -> ChangeDocumentError:
    with pytest.raises(ChangeDocumentError) as info:
        _doc(data, **kw)
    return info.value


# ---------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("shop", ("shop", None)),
        ("shop.orders", ("shop", "orders")),
        ("`shop`.`order.archive`", ("shop", "order.archive")),
        ('"Sales"."Orders"', ("Sales", "Orders")),
        ("`we``ird`.t", ("we`ird", "t")),
        ("a.b.c", None),
        ("`open.t", None),
        ("shop.", ("shop", "")),
    ],
)
def test_split_object_name_quoting_rules(text, expected):
    assert split_object_name(text) == expected


# ---------------------------------------------------------------------- format 1


def test_parse_change_document_sample_add_tables(load_event):
    parsed = _doc(load_event("changes/add-tables.json"))
    assert parsed.doc_id == "2024-05-01-shop-orders"
    assert parsed.job is None
    assert parsed.add is not None
    assert parsed.add.to_wire()["shop"]["Table"]["order_items"] == {"name": "order_items", "all": True}
    assert parsed.on_conflict == "reject"


def test_parse_change_document_manual_sample_list_forms(load_event):
    parsed = _doc(load_event("manual-change.json"))
    assert parsed.add is not None
    assert parsed.add.to_wire() == {"shop": {"all": False, "Table": {"customers": {}, "order.archive": {}}}}
    assert parsed.remove == (ObjectRef("staging", "tmp_import"),)


def test_parse_change_document_job_string_and_object():
    assert _doc({"job": "dtsjob1", "add": ["a.b"]}).job == JobTarget("dtsjob1")
    parsed = _doc(
        {
            "job": {"dtsInstanceId": "dtsinst1", "direction": "reverse", "region": "cn-shanghai"},
            "add": ["a"],
        }
    )
    assert parsed.job == JobTarget(None, "dtsinst1", "Reverse", "cn-shanghai")


def test_parse_change_document_whole_database_wins_over_its_tables_with_warning():
    parsed = _doc({"add": ["shop.orders", "shop"]})
    assert parsed.add is not None and parsed.add.to_wire() == {"shop": {"all": True}}
    assert parsed.warnings == ("tables listed for shop are covered by adding the whole database shop",)


def test_parse_change_document_remove_selector_forms():
    parsed = _doc(
        {
            "remove": {
                "legacy": True,
                "shop": ["t1", "t2"],
                "crm": {"Table": {"leads": {"name": "leads"}}},
                "tmp": {},
            }
        }
    )
    assert parsed.remove == (
        ObjectRef("legacy"),
        ObjectRef("shop", "t1"),
        ObjectRef("shop", "t2"),
        ObjectRef("crm", "leads"),
        ObjectRef("tmp"),
    )


def test_parse_change_document_reserved_as_string_or_object():
    assert _doc({"reserved": '{"maxRetryTime": "720"}'}).reserved == {"maxRetryTime": "720"}
    assert _doc({"reserved": {"filterDDL": "true"}}).reserved == {"filterDDL": "true"}


def test_parse_change_document_flags_and_dry_run():
    parsed = _doc(
        {"add": ["a.b"], "dryRun": True, "structureInitialization": "false", "onConflict": "replace"}
    )
    assert parsed.dry_run is True
    assert parsed.structure_initialization is False
    assert parsed.on_conflict == "replace"


def test_parse_change_document_remove_and_add_same_object_warns():
    parsed = _doc({"add": ["a.b"], "remove": ["a.b"]})
    assert parsed.warnings == ("objects both removed and added are re-created, not removed (their settings are kept): a.b",)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"id": "x"},
            'Invalid change document doc.json: a change document needs at least one of "add", "remove", "reserved"',
        ),
        (
            {"Add": ["a.b"], "add": ["a.c"]},
            "Invalid change document doc.json: Add: unknown key 'Add': did you mean 'add'",
        ),
        (
            {"add": ["a.b"], "on_conflict": "replace"},
            "Invalid change document doc.json: on_conflict: unknown key 'on_conflict': did you mean 'onConflict'",
        ),
        (
            {"add": ["a.b"], "owner": "me"},
            "Invalid change document doc.json: owner: unknown key 'owner'; expected one of: id, job, add, remove, reserved, onConflict, dryRun, structureInitialization, dataInitialization, dataSynchronization, comment",
        ),
        (
            {"id": "", "add": ["a.b"]},
            "Invalid change document doc.json: id: expected a non-empty string id, got ''",
        ),
        (
            {"id": "x" * 129, "add": ["a.b"]},
            "Invalid change document doc.json: id: id '"
            + "x" * 78
            + "… must be at most 128 printable characters",
        ),
        (
            {"job": 5, "add": ["a.b"]},
            'Invalid change document doc.json: job: expected a DTS job id or an object {"dtsJobId", ...}, got 5',
        ),
        (
            {"job": {}, "add": ["a.b"]},
            "Invalid change document doc.json: job: a job needs dtsJobId or dtsInstanceId",
        ),
        (
            {"job": {"dtsJobId": "j", "DtsJobId": "j"}, "add": ["a.b"]},
            "Invalid change document doc.json: job.DtsJobId: unknown key 'DtsJobId': did you mean 'dtsJobId'",
        ),
        (
            {"job": {"dtsJobId": "j/1"}, "add": ["a.b"]},
            "Invalid change document doc.json: job.dtsJobId: expected a DTS id (letters, digits, '_', '-', at most 64 characters), got 'j/1'",
        ),
        (
            {"job": {"dtsJobId": "j", "direction": "Both"}, "add": ["a.b"]},
            'Invalid change document doc.json: job.direction: expected "Forward" or "Reverse", got \'Both\'',
        ),
        (
            {"job": {"dtsJobId": "j", "region": "hz"}, "add": ["a.b"]},
            "Invalid change document doc.json: job.region: expected a region id such as 'cn-hangzhou', got 'hz'",
        ),
        ({"add": []}, "Invalid change document doc.json: add: expected at least one object to add"),
        ({"add": {}}, "Invalid change document doc.json: add: expected at least one database to add"),
        (
            {"add": "shop.orders"},
            "Invalid change document doc.json: add: expected a DbList object or a list of \"db.table\" strings, got 'shop.orders'",
        ),
        (
            {"add": ["a.b.c"]},
            'Invalid change document doc.json: add[0]: expected "db" or "db.table" (quote names containing dots or spaces with backticks), got \'a.b.c\'',
        ),
        (
            {"add": [7]},
            'Invalid change document doc.json: add[0]: expected a "db" or "db.table" string, got 7',
        ),
        (
            {"add": {"shop": {"all": "yes"}}},
            'Invalid change document doc.json: add.shop.all: expected a boolean, got "yes"',
        ),
        (
            {"add": {"shop": {"all": False, "table": {}}}},
            'Invalid change document doc.json: add.shop.table: unknown key "table": DTS reads it only as "Table"',
        ),
        (
            {"remove": 3},
            'Invalid change document doc.json: remove: expected a list of "db" / "db.table" strings or a selector object, got 3',
        ),
        (
            {"remove": {"shop": "orders"}},
            "Invalid change document doc.json: remove.shop: expected true (the whole database), a list of table names, or {\"Table\": {...}}, got 'orders'",
        ),
        (
            {"remove": {"shop": []}},
            "Invalid change document doc.json: remove.shop: expected at least one table to remove",
        ),
        ({"remove": []}, "Invalid change document doc.json: remove: expected at least one object to remove"),
        (
            {"reserved": "{bad"},
            "Invalid change document doc.json: reserved: Invalid JSON in reserved: Expecting property name enclosed in double quotes at line 1 column 2",
        ),
        (
            {"reserved": {}},
            "Invalid change document doc.json: reserved: expected a non-empty JSON object of Reserved keys, got {}",
        ),
        (
            {"add": ["a.b"], "onConflict": "merge"},
            'Invalid change document doc.json: onConflict: expected "reject" or "replace", got \'merge\'',
        ),
        (
            {"add": ["a.b"], "dryRun": "maybe"},
            "Invalid change document doc.json: dryRun: expected true or false, got 'maybe'",
        ),
        (
            {"add": ["a.b"], "comment": 5},
            "Invalid change document doc.json: comment: expected a string, got 5",
        ),
    ],
)
def test_parse_change_document_rejections_name_path_value_and_expectation(data, message):
    error = _doc_error(data)
    assert error.code == "invalid-change"
    assert error.message == message


def test_parse_change_document_several_problems_are_counted_and_detailed():
    error = _doc_error({"add": ["a.b.c"], "onConflict": "merge", "owner": 1})
    assert error.message.endswith("(and 2 more)")
    assert [d["path"] for d in error.details] == ["owner", "add[0]", "onConflict"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"add": [""]}, 'Invalid change document doc.json: add[0]: invalid database name: empty name ""'),
        (
            {"add": ["shop.\x01t"]},
            "Invalid change document doc.json: add[0]: invalid table name: name '\\x01t' contains control characters",
        ),
        (
            {"add": ["shop." + "t" * 129]},
            "Invalid change document doc.json: add[0]: invalid table name: name '"
            + "t" * 78
            + "… is 129 characters, over the limit of 128",
        ),
        (
            {"remove": {" ": True}},
            'Invalid change document doc.json: remove. : invalid database name: empty name " "',
        ),
    ],
)
def test_parse_change_document_invalid_names_are_invalid_name(data, message):
    error = _doc_error(data)
    assert error.code == "invalid-name"
    assert error.message.startswith(message)


def test_parse_change_document_too_many_objects_is_input_too_large():
    with pytest.raises(InputTooLargeError) as info:
        _doc({"add": [f"db.t{i}" for i in range(11)]}, max_objects=10)
    assert info.value.code == "input-too-large"
    assert (
        info.value.message
        == "Too many objects in add: 11 databases and tables, over the cap of 10 objects per change"
    )


# ---------------------------------------------------------------------- format 2


def _modify(data):
    return parse_modify_request(data, what="req.json", max_objects=CAP)


def test_parse_modify_request_sample_merges_dblist_as_additions(load_event):
    request = _modify(load_event("changes/modify-dts-job-request.json"))
    assert request.file_oss_url is None
    change = request.change
    assert change is not None
    assert change.format == "modify-dts-job"
    assert change.doc_id == "console-preview-0001" and change.id_kind == "ClientToken"
    assert change.job == JobTarget("dtsjob1demo", "dtsinst1demo", "Forward", "cn-hangzhou")
    assert change.add is not None and list(change.add.to_wire()) == ["billing"]
    assert (change.structure_initialization, change.data_initialization, change.data_synchronization) == (
        True,
        True,
        True,
    )


def test_parse_modify_request_manual_sample_has_file_oss_url(load_event):
    request = _modify(load_event("manual-modify-dts-job.json"))
    assert request.file_oss_url == (
        "https://dts-change-config.oss-cn-hangzhou.aliyuncs.com/dts-change/incoming/dblist-fragment.json"
    )
    assert request.change is not None and request.change.add is not None


def test_parse_modify_request_update_reserved_carries_only_reserved():
    request = _modify({"DtsInstanceId": "i1", "ModifyTypeEnum": "UPDATE_RESERVED", "Reserved": '{"a": "1"}'})
    assert request.change is not None
    assert request.change.reserved == {"a": "1"} and request.change.add is None


def test_parse_modify_request_ignored_parameters_warn():
    request = _modify({"DtsInstanceId": "i1", "DbList": {"a": {"all": True}}, "ResourceGroupId": "rg-1"})
    assert request.change is not None and request.change.warnings == ("ResourceGroupId ignored",)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"DtsInstanceId": "i1", "DbList": {"a": {"all": True}}, "Foo": 1},
            "Invalid ModifyDtsJob request req.json: Foo: unknown parameter 'Foo'; known ModifyDtsJob parameters: "
            "DtsInstanceId, DtsJobId, DbList, SynchronizationDirection, Reserved, FileOssUrl, ClientToken, "
            "StructureInitialization, DataInitialization, DataSynchronization, ModifyTypeEnum, RegionId, "
            "ResourceGroupId, ZeroEtlJob, FilterTableName, EtlOperatorColumnReference",
        ),
        (
            {"Action": "DescribeDtsJobDetail", "DtsInstanceId": "i1", "DbList": {"a": {"all": True}}},
            "Invalid ModifyDtsJob request req.json: Action: expected \"ModifyDtsJob\", got 'DescribeDtsJobDetail'",
        ),
        (
            {"DtsInstanceId": "i1", "DbList": {"a": {"all": True}}, "FilterTableName": "t"},
            "Invalid ModifyDtsJob request req.json: FilterTableName: FilterTableName is not supported by this handler; remove it",
        ),
        (
            {"DtsInstanceId": "i1", "ModifyTypeEnum": "ALL", "DbList": {"a": {"all": True}}},
            "Invalid ModifyDtsJob request req.json: ModifyTypeEnum: expected \"UPDATE_RESERVED\" or no value, got 'ALL'",
        ),
        (
            {"DtsInstanceId": "i1", "ModifyTypeEnum": "UPDATE_RESERVED", "DbList": {"a": {"all": True}}},
            'Invalid ModifyDtsJob request req.json: DbList: DbList cannot be sent with ModifyTypeEnum "UPDATE_RESERVED"',
        ),
        (
            {"DtsInstanceId": "i1", "DbList": '{"a": '},
            "Invalid ModifyDtsJob request req.json: DbList: Invalid JSON in DbList: Expecting value at line 1 column 7",
        ),
        (
            {"DtsInstanceId": "i1", "DbList": "[1]"},
            "Invalid ModifyDtsJob request req.json: DbList: expected a DbList object, got [1]",
        ),
        (
            {"DtsInstanceId": "i1"},
            "Invalid ModifyDtsJob request req.json: a ModifyDtsJob request needs DbList, Reserved or FileOssUrl",
        ),
        (
            {"DtsInstanceId": "i1", "FileOssUrl": 5},
            "Invalid ModifyDtsJob request req.json: FileOssUrl: expected a URL string, got 5",
        ),
        (
            {"DtsInstanceId": "i1", "DbList": {"a": {"all": True}}, "SynchronizationDirection": "Up"},
            'Invalid ModifyDtsJob request req.json: SynchronizationDirection: expected "Forward" or "Reverse", got \'Up\'',
        ),
        (
            {"DtsInstanceId": "i1", "DbList": {"a": {"all": True}}, "StructureInitialization": "sometimes"},
            "Invalid ModifyDtsJob request req.json: StructureInitialization: expected true or false, got 'sometimes'",
        ),
        (
            {"DtsInstanceId": "i1", "DbList": {"a": {"all": True}}, "ClientToken": "x\ny"},
            "Invalid ModifyDtsJob request req.json: ClientToken: ClientToken 'x\\ny' must be at most 128 printable characters",
        ),
    ],
)
def test_parse_modify_request_rejections(data, message):
    with pytest.raises(ChangeDocumentError) as info:
        _modify(data)
    assert info.value.code == "invalid-change"
    assert info.value.message == message


def test_parse_modify_request_common_parameters_are_ignored(load_event):
    data = load_event("changes/modify-dts-job-request.json")
    data.update({"Format": "JSON", "SignatureNonce": "n", "Timestamp": "2024-05-01T00:00:00Z"})
    assert _modify(data).change is not None


# ---------------------------------------------------------------------- format 3 and 4


def test_parse_dblist_fragment_sample(load_event):
    parsed = parse_dblist_fragment(load_event("changes/dblist-fragment.json"), what="f.json", max_objects=CAP)
    assert parsed.format == "dblist"
    assert parsed.add is not None and parsed.add.table_count() == 2


def test_parse_dblist_fragment_invalid_is_invalid_dblist():
    with pytest.raises(ChangeDocumentError) as info:
        parse_dblist_fragment(
            {"shop": {"name": "shop", "Table": {"t": {"all": True}}}}, what="f.json", max_objects=CAP
        )
    assert info.value.code == "invalid-dblist"
    assert info.value.message.startswith('Invalid DbList fragment f.json: shop: a Table list without "all"')


def test_parse_table_list_sample():
    parsed = parse_table_list(
        _changes_file("table-names.txt"), what="t.txt", max_objects=CAP, max_line_length=1024
    )
    assert parsed.add is not None
    assert parsed.add.to_wire() == {
        "crm": {"all": True},
        "shop": {"all": False, "Table": {"customers": {}, "addresses": {}, "gift.cards": {}}},
    }


def test_parse_table_list_bad_line_names_the_line():
    with pytest.raises(ChangeDocumentError) as info:
        parse_table_list("shop.a\nshop b c\n", what="t.txt", max_objects=CAP, max_line_length=1024)
    assert info.value.code == "invalid-change"
    assert info.value.message == (
        'Invalid table list t.txt: line 2: expected "db" or "db.table" (quote names containing dots '
        "or spaces with backticks), got 'shop b c'"
    )


def test_parse_table_list_quoted_names_may_contain_spaces_and_hashes():
    parsed = parse_table_list("`my db`.`t #1`  # comment", what="t.txt", max_objects=CAP, max_line_length=100)
    assert parsed.add is not None and parsed.add.to_wire() == {"my db": {"all": False, "Table": {"t #1": {}}}}


def test_parse_table_list_only_comments_is_rejected():
    with pytest.raises(ChangeDocumentError) as info:
        parse_table_list("# nothing\n\n", what="t.txt", max_objects=CAP, max_line_length=1024)
    assert (
        info.value.message
        == "Invalid table list t.txt: the list names no tables (only blank lines and comments)"
    )


def test_parse_table_list_long_line_is_input_too_large():
    with pytest.raises(InputTooLargeError) as info:
        parse_table_list("a." + "t" * 40, what="t.txt", max_objects=CAP, max_line_length=32)
    assert (
        info.value.message == "Line too long in table list t.txt: line 1 is 42 characters, over the cap of 32"
    )


def test_parse_table_list_too_many_objects_is_input_too_large():
    with pytest.raises(InputTooLargeError) as info:
        parse_table_list("a.b\na.c\na.d\n", what="t.txt", max_objects=2, max_line_length=100)
    assert info.value.message.startswith("Too many objects in table list t.txt: 3")


# ---------------------------------------------------------------------- ChangeRequest


def _request(parsed, *, source=None, job=JobTarget("j1", region="cn-hangzhou")):
    return build_change_request(
        parsed,
        job=job,
        remove=parsed.remove,
        warnings=parsed.warnings,
        source=source or SourceInfo("oss", bucket="b", key="k", etag="E1"),
        correlation_id="corr-1",
        event_ref={"trigger": "oss"},
    )


def test_change_request_record_round_trips(load_event):
    parsed = _doc(load_event("manual-change.json") | {"reserved": {"a": "1"}, "dataInitialization": False})
    request = _request(parsed)
    record = json.loads(json.dumps(request.to_record()))
    again = ChangeRequest.from_record(record)
    assert again == request or again.to_record() == request.to_record()
    assert again.add == request.add
    assert again.remove == request.remove


def test_change_request_to_change_spec():
    request = _request(_doc({"id": "c-1", "add": ["a.b"], "remove": ["x"], "onConflict": "replace"}))
    spec = request.to_change_spec()
    assert isinstance(spec, ChangeSpec)
    assert (spec.change_id, spec.remove, spec.on_conflict) == ("c-1", (ObjectRef("x"),), "replace")
    assert spec.add == request.add


def test_change_request_same_id_different_content_gets_new_key_same_identity():
    first = _request(_doc({"id": "c-1", "add": ["a.b"]}))
    second = _request(_doc({"id": "c-1", "add": ["a.c"]}))
    assert first.identity == second.identity == "id:c-1"
    assert first.idempotency_key != second.idempotency_key
    assert first.change_id == second.change_id == "c-1"


def test_change_request_content_hash_ignores_spelling():
    a = _request(_doc({"add": {"shop": {"all": False, "Table": {"t": {}}}}}))
    b = _request(_doc({"add": ["shop.t"]}))
    assert a.content_hash == b.content_hash


def test_change_request_without_id_uses_source_identity():
    request = _request(_doc({"add": ["a.b"]}), source=SourceInfo("oss", bucket="b", key="k", etag="E1"))
    assert request.identity == "oss:b/k#E1"
    assert request.change_id == f"chg-{request.idempotency_key[:16]}"
    by_message = _request(_doc({"add": ["a.b"]}), source=SourceInfo("mns-topic", message_id="M1", topic="t"))
    assert by_message.identity == "mns:t#M1"
    assert by_message.idempotency_key != request.idempotency_key


def test_oss_identity_names_the_upload_version_first_then_request_id():
    # GIVEN the same key and content (one eTag) uploaded twice
    plain = SourceInfo("oss", bucket="b", key="k", etag="E1")
    by_request = [SourceInfo("oss", bucket="b", key="k", etag="E1", request_id=r) for r in ("R1", "R2")]
    by_version = SourceInfo("oss", bucket="b", key="k", etag="E1", version_id="V1", request_id="R1")
    # THEN each upload has its own identity: the version id when the event names one, else the
    # request id, else (an event with neither) the eTag alone as before
    assert plain.identity() == "oss:b/k#E1"
    assert [s.identity() for s in by_request] == ["oss:b/k#E1;requestId=R1", "oss:b/k#E1;requestId=R2"]
    assert by_version.identity() == "oss:b/k#E1;versionId=V1"
    # AND a redelivery (the same upload, from the native trigger or EventBridge) has the same one
    again = SourceInfo("eventbridge-oss", bucket="b", key="k", etag="E1", request_id="R1", event_id="CE-9")
    assert again.identity() == by_request[0].identity()
    # AND the source round-trips through the ledger's JSON with its request id
    assert SourceInfo.from_dict(by_request[0].to_dict()).identity() == by_request[0].identity()


def test_file_oss_url_identity_names_the_delivery_that_carried_it():
    url = "oss://b/f.json"
    by_message = [SourceInfo("mns-topic", message_id=m, topic="t", bucket="b", key="f.json", etag="E",
                             file_oss_url=url) for m in ("M1", "M2")]
    assert [s.identity() for s in by_message] == [f"file:{url}#E;messageId=M1", f"file:{url}#E;messageId=M2"]
    manual = SourceInfo("manual", bucket="b", key="f.json", etag="E", file_oss_url=url)
    assert manual.identity() == f"file:{url}#E"


def test_change_request_different_job_is_different_content():
    parsed = _doc({"id": "c-1", "add": ["a.b"]})
    assert _request(parsed).content_hash != _request(parsed, job=JobTarget("j2")).content_hash


def test_change_request_modification_flags_use_api_names():
    request = _request(
        _modify({"DtsInstanceId": "i1", "DbList": {"a": {"all": True}}, "DataSynchronization": True}).change
    )
    assert request.modification_flags == {"DataSynchronization": True}


def test_oss_identity_survives_split_and_dead_letter_replay_for_every_oss_channel():
    record = {
        "eventName": "ObjectCreated:PutObject", "region": "cn-hangzhou",
        "oss": {"bucket": {"name": "b"}, "object": {"key": "k.json", "eTag": "E1"}},
        "responseElements": {"requestId": "R1"},
    }
    native = split_event(json.dumps({"events": [record]}))[0]
    bridged = split_event(json.dumps({"id": "CE-1", "source": "acs.oss", "specversion": "1.0",
                                      "type": "oss:ObjectCreated:PutObject", "data": record}))[0]
    # THEN one upload has one identity through the native trigger and EventBridge
    assert native.source.identity() == bridged.source.identity() == "oss:b/k.json#E1;requestId=R1"
    # AND a dead letter of the event, replayed from its kept source (object bytes or locators),
    # names the same upload: a duplicate if the change was recorded meanwhile
    for body in (b'{"add": ["a.b"]}', None):
        again = replay_envelopes(kept_input(native, body), dl_id="dl-1", correlation_id=None)
        assert not isinstance(again, bytes)
        assert again[0].source.identity() == native.source.identity()
