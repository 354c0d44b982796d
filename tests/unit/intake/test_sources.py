"""sources.split_event: every trigger shape becomes envelopes with the right correlation id."""

from __future__ import annotations

import base64
import json

import pytest

from dts_change.intake.split import KNOWN_SHAPES, MAX_EVENT_BYTES, split_event


def _one(envelopes):
    assert len(envelopes) == 1
    return envelopes[0]


def test_split_event_oss_created_names_object_and_request_id(event_bytes):
    env = _one(split_event(event_bytes("oss-object-created.json")))
    assert env.kind == "oss"
    assert env.correlation_id == "6632F0A1B2C3D4E5F6A70001"
    assert (env.source.bucket, env.source.key) == ("dts-change-config", "dts-change/incoming/new-table.sql")
    assert env.source.etag == "D61C6242D8A49542CA725B35070C9DBC"
    assert env.reads_object and env.problem is None and env.ignored is None


def test_split_event_oss_deleted_is_ignored_with_reason(event_bytes):
    env = _one(split_event(event_bytes("oss-object-deleted.json")))
    assert env.ignored == "ObjectRemoved:DeleteObject is a deletion; nothing to change"
    assert env.correlation_id == "6632F0A1B2C3D4E5F6A70002"


def test_split_event_oss_every_element_is_processed(load_event):
    # GIVEN a native OSS event with two notifications: a create and a delete
    data = load_event("oss-object-created.json")
    data["events"].append(load_event("oss-object-deleted.json")["events"][0])
    # WHEN split THEN both elements become envelopes, in order
    envs = split_event(json.dumps(data))
    assert [e.ignored is None for e in envs] == [True, False]
    assert [e.event_ref["index"] for e in envs] == [0, 1]


def test_split_event_oss_missing_request_id_gets_generated_correlation_id(load_event):
    data = load_event("oss-object-created.json")
    del data["events"][0]["responseElements"]
    env = _one(split_event(json.dumps(data), request_id="fc-req"))
    assert env.correlation_id == "fc-req#1"


def test_split_event_oss_created_without_etag_is_invalid_event(load_event):
    data = load_event("oss-object-created.json")
    del data["events"][0]["oss"]["object"]["eTag"]
    env = _one(split_event(json.dumps(data)))
    assert env.problem is not None
    assert env.problem.code == "invalid-event"
    assert env.problem.message == (
        "Invalid OSS event events[0]: (top level): Value error, an ObjectCreated event needs oss.object.eTag"
    )


@pytest.mark.parametrize("field", ["versionId", "versionid", "VersionId"])
def test_split_event_oss_version_id_is_carried_to_the_source(load_event, field):
    # UNCONFIRMED where OSS puts the version: the S3-style name and its plausible spellings
    data = load_event("oss-object-created.json")
    data["events"][0]["oss"]["object"][field] = "CAEQNhiBgMDJgZCA0BYiIDc4MGZj+/="
    env = _one(split_event(json.dumps(data)))
    assert env.problem is None
    assert env.source.version_id == "CAEQNhiBgMDJgZCA0BYiIDc4MGZj+/="
    assert env.event_ref["versionId"] == "CAEQNhiBgMDJgZCA0BYiIDc4MGZj+/="


def test_split_event_oss_empty_version_id_is_none(load_event):
    data = load_event("oss-object-created.json")
    data["events"][0]["oss"]["object"]["versionId"] = ""
    env = _one(split_event(json.dumps(data)))
    assert env.problem is None and env.source.version_id is None and "versionId" not in env.event_ref


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("v1&acl", "has characters other than"),
        ("x" * 256, "256 characters long; at most 255"),
        (12, "expected a non-empty string"),
        ("../x", "has characters other than"),
    ],
)
def test_split_event_oss_malformed_version_id_is_invalid_event_naming_the_field(load_event, value, why):
    data = load_event("oss-object-created.json")
    data["events"][0]["oss"]["object"]["versionId"] = value
    env = _one(split_event(json.dumps(data)))
    assert env.problem is not None and env.problem.code == "invalid-event"
    assert env.problem.message.startswith("Invalid OSS event events[0]: oss.object.versionId: ")
    assert why in env.problem.message


def test_split_event_eventbridge_oss_uses_cloud_event_id(event_bytes):
    env = _one(split_event(event_bytes("eventbridge-oss-object-created.json")))
    assert env.kind == "eventbridge-oss"
    assert env.correlation_id == "6632F0A1-0000-4d6e-9c1a-5b2e7d8f0003"
    assert env.source.key == "dts-change/incoming/add-tables.json"
    assert env.event_ref["type"] == "oss:ObjectCreated:PutObject"


def test_split_event_eventbridge_oss_batch_yields_one_envelope_per_event(event_bytes):
    envs = split_event(event_bytes("eventbridge-oss-batch.json"))
    assert [e.source.key.rsplit("/", 1)[1] for e in envs] == ["table-names.txt", "dblist-fragment.json"]
    assert [e.event_ref["index"] for e in envs] == [0, 1]


def test_split_event_mns_queue_cloudevents_carry_body_queue_and_message_id(event_bytes):
    envs = split_event(event_bytes("mns-queue-batch-cloudevents.json"))
    assert [e.kind for e in envs] == ["mns-queue", "mns-queue"]
    first = envs[0]
    assert first.correlation_id == "3f1c2b7a-0000-4d6e-9c1a-5b2e7d8f0011"
    assert first.source.queue == "dts-change-queue"
    assert first.source.message_id == "C6DB60D1574661357FA20011"
    assert json.loads(first.body)["id"] == "mnsq-2024-05-01-0001"
    assert first.body_maybe_base64


def test_split_event_mns_queue_base64_body_is_passed_undecoded(event_bytes):
    env = split_event(event_bytes("mns-queue-batch-base64.json"))[0]
    assert json.loads(base64.b64decode(env.body))["id"] == "mnsq-2024-05-01-0003"


def test_split_event_mns_rawdata_uses_message_id(event_bytes):
    envs = split_event(event_bytes("mns-queue-rawdata.json"))
    assert [e.correlation_id for e in envs] == ["C6DB60D1574661357FA20021", "C6DB60D1574661357FA20022"]
    assert envs[1].body == b"# format: table-list\nshop.coupon_uses\n"


def test_split_event_batch_bad_element_does_not_hide_the_others(load_event):
    # GIVEN a RawData batch whose first element lost its messageBody
    data = load_event("mns-queue-rawdata.json")
    data.insert(0, {"neither": "shape"})
    envs = split_event(json.dumps(data))
    # THEN the bad element is a problem and the two good ones still arrive
    assert envs[0].problem is not None and envs[0].problem.code == "unrecognised-event"
    assert envs[0].problem.message.startswith("Unrecognised batch element [0]: an object with keys")
    assert [e.problem for e in envs[1:]] == [None, None]


def test_split_event_cloud_event_unknown_type_is_unrecognised(load_event):
    data = load_event("eventbridge-oss-object-created.json")
    data["type"] = "rocketmq:Topic:SendMessage"
    data["source"] = "acs.rocketmq"
    env = _one(split_event(json.dumps(data)))
    assert env.problem.code == "unrecognised-event"
    assert "is neither an OSS (oss:*) nor an MNS queue (mns:*) event" in env.problem.message


def test_split_event_cloud_event_without_id_is_invalid_event(load_event):
    data = load_event("eventbridge-oss-object-created.json")
    del data["id"]
    env = _one(split_event(json.dumps(data)))
    assert env.problem.code == "invalid-event"
    assert env.problem.message == "Invalid CloudEvent: id: Field required"


def test_split_event_mns_topic_json_uses_message_id_and_topic(event_bytes):
    env = _one(split_event(event_bytes("mns-topic-json.json")))
    assert env.kind == "mns-topic"
    assert env.correlation_id == "0A1B2C3D4E5F60718293A4B5C6D70031"
    assert env.source.topic == "dts-change-topic"


def test_split_event_mns_topic_json_attributes_are_kept(event_bytes):
    env = _one(split_event(event_bytes("mns-topic-json-attributes.json")))
    assert env.attributes == {"team": "payments", "ticket": "OPS-1234"}


def test_split_event_mns_topic_message_not_a_string_is_invalid_event(load_event):
    data = load_event("mns-topic-json.json")
    data["Message"] = {"add": ["a.b"]}
    env = _one(split_event(json.dumps(data)))
    assert env.problem.code == "invalid-event"
    assert env.problem.message.startswith(
        "Invalid MNS topic message: Message: Input should be a valid string"
    )


def test_split_event_mns_topic_stream_attrs_body_and_attrs(event_bytes):
    env = _one(split_event(event_bytes("mns-topic-stream-attrs.json"), request_id="r"))
    assert env.kind == "mns-topic-stream"
    assert env.body == b"# format: table-list\nshop.gift_cards\nshop.gift_card_uses\n"
    assert env.attributes == {"Extend": '{"team":"payments"}'}
    assert env.correlation_id == "r#1"


def test_split_event_mns_topic_stream_raw_body_is_a_raw_envelope(event_bytes):
    env = _one(split_event(event_bytes("mns-topic-stream-raw.txt")))
    assert env.kind == "raw"
    assert env.body == event_bytes("mns-topic-stream-raw.txt")


def test_split_event_timer_becomes_reconcile_with_parsed_payload(event_bytes):
    env = _one(split_event(event_bytes("timer.json")))
    assert env.correlation_id == "2024-05-01T18:00:00Z"
    assert env.reconcile == {
        "triggerName": "reconcile-every-5m",
        "triggerTime": "2024-05-01T18:00:00Z",
        "payload": {"action": "reconcile"},
    }


def test_split_event_timer_plain_text_payload_is_kept(load_event):
    data = load_event("timer.json")
    data["payload"] = "nightly"
    env = _one(split_event(json.dumps(data)))
    assert env.reconcile["payload"] == "nightly"


def test_split_event_timer_payload_not_a_string_is_invalid_event(load_event):
    data = load_event("timer.json")
    data["payload"] = {"action": "reconcile"}
    env = _one(split_event(json.dumps(data)))
    assert env.problem.code == "invalid-event"
    assert env.problem.message.startswith("Invalid timer event: payload:")


def test_split_event_manual_change_keeps_the_bytes(event_bytes):
    env = _one(split_event(event_bytes("manual-change.json"), request_id="r"))
    assert env.kind == "manual"
    assert env.body == event_bytes("manual-change.json")
    assert env.correlation_id == "r#1"


def test_split_event_manual_reconcile_action_is_a_reconcile_request():
    env = _one(split_event(b'{"action": "reconcile", "job": "dtsjob1demo"}'))
    assert env.reconcile == {
        "triggerName": "manual",
        "payload": {"action": "reconcile", "job": "dtsjob1demo"},
    }


def test_split_event_fc_failure_record_replays_original_payload(event_bytes):
    env = _one(split_event(event_bytes("fc-failure-record.json")))
    assert env.kind == "oss"
    assert env.correlation_id == "6632F0A1B2C3D4E5F6A70001"
    assert env.source.key == "dts-change/incoming/new-table.sql"
    assert env.event_ref["replay"]["replayOf"] == "1-6632f0a1-abcdef0123456789"


def test_split_event_fc_failure_record_payload_not_a_string_is_invalid_event(load_event):
    data = load_event("fc-failure-record.json")
    data["requestPayload"] = json.loads(data["requestPayload"])
    env = _one(split_event(json.dumps(data)))
    assert env.problem.code == "invalid-event"
    assert env.problem.message.startswith("Invalid FC failure record: requestPayload:")


def test_split_event_nested_failure_records_stop_at_the_depth_limit(load_event):
    # GIVEN a failure record of a failure record of a failure record
    record = load_event("fc-failure-record.json")
    for _ in range(2):
        outer = load_event("fc-failure-record.json")
        outer["requestPayload"] = json.dumps(record)
        record = outer
    env = _one(split_event(json.dumps(record)))
    assert env.problem.code == "invalid-event"
    assert env.problem.message == "Invalid FC failure record: failure records nest deeper than 2 levels"


def test_split_event_http_trigger_is_unrecognised():
    event = {"version": "v1", "rawPath": "/", "body": "", "requestContext": {"requestId": "x"}}
    env = _one(split_event(json.dumps(event)))
    assert env.problem.code == "unrecognised-event"
    assert env.problem.message.startswith("Unrecognised event: HTTP trigger requests are not supported")


@pytest.mark.parametrize("payload", [b"42", b"null", b"true", b"[]"])
def test_split_event_non_object_json_is_unrecognised_and_lists_known_shapes(payload):
    env = _one(split_event(payload))
    assert env.problem.code == "unrecognised-event"
    assert env.problem.message.startswith("Unrecognised event: ")
    assert all(shape in env.problem.message for shape in KNOWN_SHAPES)


def test_split_event_truncated_json_is_invalid_json(event_bytes):
    data = event_bytes("oss-object-created.json")[:-20]
    env = _one(split_event(data))
    assert env.problem.code == "invalid-json"
    assert env.problem.message.startswith("Invalid JSON in event: ")


def test_split_event_duplicate_keys_are_invalid_json():
    env = _one(split_event(b'{"events": [], "events": []}'))
    assert env.problem.code == "invalid-json"
    assert env.problem.message == "Invalid JSON: duplicate key 'events' in one object"


def test_split_event_over_fc_payload_limit_is_input_too_large():
    env = _one(split_event(b"x" * (MAX_EVENT_BYTES + 1)))
    assert env.problem.code == "input-too-large"
    assert env.problem.message == (
        f"Input too large: event is {MAX_EVENT_BYTES + 1} bytes, over the cap of {MAX_EVENT_BYTES} bytes"
    )


def test_split_event_json_list_of_strings_is_a_manual_table_list():
    env = _one(split_event(b'["shop.a", "shop.b"]'))
    assert env.kind == "manual" and env.body == b'["shop.a", "shop.b"]'


def test_split_event_json_string_is_a_raw_body():
    env = _one(split_event(b'"shop.t1\\nshop.t2"'))
    assert env.kind == "raw" and env.body == b"shop.t1\nshop.t2"


def test_split_event_str_input_is_accepted(event_bytes):
    env = _one(split_event(event_bytes("mns-topic-json.json").decode()))
    assert env.kind == "mns-topic"



def test_split_event_oss_created_with_blank_etag_is_invalid_event(load_event):
    # A blank eTag names no content: the event is refused, not read as a superseded upload
    # (found by the handler fuzz: eTag " " was reported `superseded` against the real object).
    data = load_event("oss-object-created.json")
    data["events"][0]["oss"]["object"]["eTag"] = "  "
    env = _one(split_event(json.dumps(data)))
    assert env.problem is not None and env.problem.code == "invalid-event"
    assert "needs oss.object.eTag" in env.problem.message
