"""Dead letters: round trip, redaction, unique ids, replay bookkeeping."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dts_change.core.errors import ConflictError, InvalidStoreKeyError, ReplayRefusedError
from dts_change.state.deadletter import DeadLetterRecord, DeadLetterSink
from dts_change.state.storage import Store

from .fakes import FakeClock

SECRET = "s3cr3t-AccessKeySecret-value"
TOKEN = "CAIS-sts-token-value-123"


def _dead_letter(clock: FakeClock, **overrides: Any) -> DeadLetterRecord:
    error = ConflictError(
        "Conflict at add.sales.Table.orders: existing {'all': True} -> expected identical settings",
        existing={"all": True},
        request_id="req-1",
    )
    values: dict[str, Any] = {
        "key": "0123456789abcdef0123456789abcdef",
        "change_id": "c1",
        "job_key": "dtsab12cd/Forward",
        "correlation_id": "corr-1",
        "original_event": {"bucket": "dts-changes", "key": "changes/add.json", "etag": "E1"},
        "change": {
            "add": {"sales": {"name": "sales", "all": False, "Table": {"orders": {"name": "orders"}}}}
        },
        "error": error.to_dict(),
        "attempts": 2,
        "first_seen": clock() - 60,
        "dead_lettered_at": clock(),
        "request_ids": ["req-1"],
        "job_status": "Synchronizing",
        "evidence": {"PrecheckStatus": {"Detail": [{"CheckItem": "x", "FailedReason": "y"}]}},
    }
    values.update(overrides)
    return DeadLetterRecord(**values)


@pytest.fixture
def sink(store: Store, clock: FakeClock) -> DeadLetterSink:
    return DeadLetterSink(store, clock=clock)


def test_deadletter_write_then_get_and_list_round_trip(sink: DeadLetterSink, clock: FakeClock) -> None:
    record = _dead_letter(clock)
    dl_id = sink.write(record)
    assert dl_id.startswith("dtsab12cd%2FForward/")
    assert dl_id.endswith("-" + record.key)
    got = sink.get(dl_id)
    assert got is not None
    assert got.dl_id == dl_id
    assert got.to_dict() == {**record.to_dict(), "dl_id": dl_id}
    assert [r.dl_id for r in sink.list()] == [dl_id]


def test_deadletter_secrets_are_masked_but_object_names_survive(
    store: Store, sink: DeadLetterSink, clock: FakeClock
) -> None:
    # GIVEN a dead letter whose event and error carry a secret and a token, and whose change names
    # tables that look like secret keys
    change = {
        "add": {"auth": {"name": "auth", "all": False, "Table": {"user_tokens": {"name": "user_tokens"}}}}
    }
    record = _dead_letter(
        clock,
        original_event={"headers": {"AccessKeySecret": SECRET, "x-acs-security-token": TOKEN}, "body": "ok"},
        change=change,
        evidence={"request": {"SecurityToken": TOKEN, "Signature": "abc123sig"}},
    )
    # WHEN it is written
    dl_id = sink.write(record)
    # THEN the stored bytes hold no secret, and the change is intact
    raw = store.get(dl_id + ".json")
    assert raw is not None
    text = raw.decode()
    assert SECRET not in text and TOKEN not in text and "abc123sig" not in text
    stored = json.loads(text)
    assert stored["change"] == change
    assert stored["original_event"]["body"] == "ok"


def test_deadletter_same_key_and_time_get_distinct_ids(sink: DeadLetterSink, clock: FakeClock) -> None:
    first = sink.write(_dead_letter(clock))
    second = sink.write(_dead_letter(clock, attempts=5))
    assert first != second
    assert [r.attempts for r in sink.list()] == [2, 5]


def test_deadletter_unrouted_input_goes_to_unrouted_folder(sink: DeadLetterSink, clock: FakeClock) -> None:
    dl_id = sink.write(_dead_letter(clock, job_key="", change=None, original_event=b"\xff not json"))
    assert dl_id.startswith("_unrouted/")
    got = sink.get(dl_id)
    assert got is not None and got.change is None
    assert got.original_event == {"base64": "/yBub3QganNvbg=="}
    assert sink.write(_dead_letter(clock, job_key="_unrouted")).startswith("_unrouted/")


def test_deadletter_mark_replayed_moves_it_out_of_the_list(sink: DeadLetterSink, clock: FakeClock) -> None:
    dl_id = sink.write(_dead_letter(clock))
    clock.advance(100)
    sink.mark_replayed(dl_id)
    assert sink.list() == []
    replayed = sink.get(dl_id)
    assert replayed is not None and replayed.replayed_at == clock()
    assert [r.dl_id for r in sink.list(include_replayed=True)] == [dl_id]
    sink.mark_replayed(dl_id)  # a second replay is harmless


def test_deadletter_get_by_change_key_finds_latest(sink: DeadLetterSink, clock: FakeClock) -> None:
    record = _dead_letter(clock)
    sink.write(record)
    clock.advance(10)
    latest = sink.write(_dead_letter(clock, attempts=9))
    got = sink.get(record.key)
    assert got is not None and got.dl_id == latest
    sink.mark_replayed(record.key)
    assert [r.attempts for r in sink.list()] == [2]


def test_deadletter_unknown_id_get_returns_none_and_replay_refused(sink: DeadLetterSink) -> None:
    assert sink.get("dtsab12cd%2FForward/20250101T000000.000000Z-nothing") is None
    with pytest.raises(ReplayRefusedError):
        sink.mark_replayed("dtsab12cd%2FForward/20250101T000000.000000Z-nothing")


@pytest.mark.parametrize("dl_id", ["../outside", "/etc/passwd", "_replayed/x/y", "a/b.json", ""])
def test_deadletter_malformed_id_raises_invalid_store_key(sink: DeadLetterSink, dl_id: str) -> None:
    with pytest.raises(InvalidStoreKeyError):
        sink.get(dl_id)
