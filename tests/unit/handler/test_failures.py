"""The failure function's pure part: what it finds in its input and what `dlq replay` sends back."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dts_change.app.failure_function import FailureRecorder
from dts_change.app.failures import dead_letter_record, failure_dead_letters, replay_payload
from dts_change.state.deadletter import DeadLetterSink
from dts_change.state.storage import open_store
from tests.conftest import EVENTS_DIR


def test_fc_failure_record_sample_keeps_request_payload_and_reason() -> None:
    raw = (EVENTS_DIR / "fc-failure-record.json").read_bytes()
    (failure,) = failure_dead_letters(raw)
    assert failure.kind == "fc-async-failure"
    assert failure.payload == json.loads(raw)["requestPayload"].encode()
    assert failure.attempts == 3
    assert failure.error.code == "async-invocation-failed"
    assert "NetworkError: network-error: connection reset by oss" in failure.error.message


def test_rawdata_dead_letter_is_replayed_as_a_batch_of_one() -> None:
    element = {"requestId": "r1", "messageId": "m1", "messageBody": '{"id": "c1", "add": ["a.b"]}'}
    event = [{"messageId": "dlq-1", "messageBody": json.dumps(element)}]
    (failure,) = failure_dead_letters(json.dumps(event))
    assert failure.kind == "eventbridge-dead-letter"
    assert json.loads(failure.payload) == element
    assert json.loads(failure.replay or b"") == [element]  # the handler reads RawData as a list
    record = dead_letter_record(failure, now=1_700_000_000.0)
    assert replay_payload(record) == failure.replay


def test_queue_body_that_is_plain_text_is_kept_as_text() -> None:
    # A table list sent to the queue by hand: not base64 of JSON, so not decoded.
    event = [{"messageId": "m2", "messageBody": "shop.orders\nshop.items\n"}]
    (failure,) = failure_dead_letters(json.dumps(event))
    assert failure.payload == b"shop.orders\nshop.items\n"


def test_mixed_batch_records_each_element() -> None:
    event = [*json.loads((EVENTS_DIR / "eventbridge-dead-letter.json").read_bytes()), {"no": "message"}]
    kinds = [f.kind for f in failure_dead_letters(json.dumps(event))]
    assert kinds == ["eventbridge-dead-letter", "unrecognised"]


def test_replay_payload_none_for_dead_letters_of_other_origins() -> None:
    (failure,) = failure_dead_letters(b"\xff\x01")
    record = dead_letter_record(failure, now=1.0)
    assert record.original_event["payloadBase64"] == "/wE="
    assert replay_payload(record) is None
    record.original_event = {"kind": "manual", "payload": "x", "replayable": True}
    assert replay_payload(record) is None


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.binary(max_size=512), st.text(max_size=256)))
def test_failure_dead_letters_never_raises_and_keeps_unknown_input(data: bytes | str) -> None:
    failures = failure_dead_letters(data)
    assert failures
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    for failure in failures:
        record = dead_letter_record(failure, now=1.0)
        json.dumps(record.to_dict(), default=str)
    if all(f.kind == "unrecognised" for f in failures):
        assert [f.payload for f in failures] == [raw]  # kept exactly as it came, once


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=2048))
def test_recorder_writes_any_bytes_to_a_real_store(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    # GIVEN the recorder on a directory store (real files, the local form of the OSS store)
    folder = tmp_path_factory.mktemp("dead-letter")
    recorder = FailureRecorder(DeadLetterSink(open_store(folder.as_uri())), clock=lambda: 1_700_000_000.0)
    # WHEN anything arrives THEN it is written, never refused
    result = recorder.handle(data)
    stored = sorted(folder.rglob("*.json"))
    assert len(stored) == len([d for d in result["deadLetters"] if not d.get("duplicate")]) >= 1
    letter = json.loads(stored[0].read_bytes())["original_event"]
    if letter["kind"] == "unrecognised":
        kept = letter["payload"].encode() if "payload" in letter else base64.b64decode(letter["payloadBase64"])
        assert kept == data


def test_find_unrouted_sees_active_and_replayed_only_under_unrouted(tmp_path: Path) -> None:
    sink = DeadLetterSink(open_store(tmp_path.as_uri()), clock=lambda: 1_700_000_000.0)
    (failure,) = failure_dead_letters((EVENTS_DIR / "fc-failure-record.json").read_bytes())
    record = dead_letter_record(failure, now=1_700_000_000.0)
    assert sink.find_unrouted(record.key) is None
    routed = dead_letter_record(failure, now=1_700_000_000.0)
    routed.job_key = "dtsjob/Forward"  # same key, but a job's dead letter: not a failed event
    sink.write(routed)
    assert sink.find_unrouted(record.key) is None
    dl_id = sink.write(record)
    assert sink.find_unrouted(record.key) == dl_id
    sink.mark_replayed(dl_id)
    assert sink.find_unrouted(record.key) == dl_id
