"""Trigger models tolerate real-world variants and refuse only what the handler depends on."""

from __future__ import annotations

import copy

import pytest
from pydantic import ValidationError

from dts_change.intake.events import (
    CloudEvent,
    FcFailureRecord,
    MnsTopicJsonMessage,
    MnsTopicStream,
    OssEvent,
    OssEventRecord,
    TimerEvent,
)


def test_oss_event_created_sample_parses_with_wire_names(load_event):
    event = OssEvent.model_validate(load_event("oss-object-created.json"))
    record = event.events[0]
    assert record.is_creation and not record.is_removal
    assert record.oss.bucket.name == "dts-change-config"
    assert record.oss.object_.key == "dts-change/incoming/new-table.sql"
    assert record.oss.object_.eTag == "D61C6242D8A49542CA725B35070C9DBC"
    assert record.request_id == "6632F0A1B2C3D4E5F6A70001"


def test_oss_event_delete_without_size_and_etag_is_accepted(load_event):
    record = OssEvent.model_validate(load_event("oss-object-deleted.json")).events[0]
    assert record.is_removal
    assert record.oss.object_.size is None
    assert record.oss.object_.eTag is None


def test_oss_event_created_without_etag_is_rejected(load_event):
    # GIVEN the created sample with its eTag removed
    data = load_event("oss-object-created.json")["events"][0]
    del data["oss"]["object"]["eTag"]
    # WHEN it is validated THEN the validator names the missing field
    with pytest.raises(ValidationError, match=r"needs oss\.object\.eTag"):
        OssEventRecord.model_validate(data)


def test_oss_event_unknown_keys_are_kept(load_event):
    data = load_event("oss-object-created.json")
    data["events"][0]["oss"]["object"]["storageClass"] = "Standard"
    data["events"][0]["newPlatformField"] = {"x": 1}
    record = OssEvent.model_validate(data).events[0]
    assert record.model_extra == {"newPlatformField": {"x": 1}}
    assert record.oss.object_.model_extra == {"storageClass": "Standard"}


def test_oss_event_empty_events_list_is_rejected():
    with pytest.raises(ValidationError):
        OssEvent.model_validate({"events": []})


def test_cloud_event_oss_sample_keeps_aliyun_extensions(load_event):
    event = CloudEvent.model_validate(load_event("eventbridge-oss-object-created.json"))
    assert event.type == "oss:ObjectCreated:PutObject"
    assert event.model_extra is not None
    assert event.model_extra["aliyunregionid"] == "cn-hangzhou"


def test_mns_topic_json_publish_time_accepts_number_and_string(load_event):
    as_number = MnsTopicJsonMessage.model_validate(load_event("mns-topic-json.json"))
    as_string = MnsTopicJsonMessage.model_validate(load_event("mns-topic-json-attributes.json"))
    assert as_number.PublishTime == 1714550400000
    assert as_string.PublishTime == "1714550460000"


def test_mns_topic_json_attributes_are_extra_keys(load_event):
    message = MnsTopicJsonMessage.model_validate(load_event("mns-topic-json-attributes.json"))
    assert message.attributes == {"team": "payments", "ticket": "OPS-1234"}
    assert message.MessageTag == "dts"


def test_mns_topic_stream_rejects_extra_keys(load_event):
    data = copy.deepcopy(load_event("mns-topic-stream-attrs.json"))
    data["extra"] = 1
    with pytest.raises(ValidationError):
        MnsTopicStream.model_validate(data)


def test_timer_event_payload_stays_a_string(load_event):
    timer = TimerEvent.model_validate(load_event("timer.json"))
    assert timer.payload == '{"action":"reconcile"}'


def test_fc_failure_record_request_payload_is_a_string(load_event):
    record = FcFailureRecord.model_validate(load_event("fc-failure-record.json"))
    assert record.requestContext.condition == "UnhandledInvocationError"
    assert record.requestPayload.startswith('{"events"')
