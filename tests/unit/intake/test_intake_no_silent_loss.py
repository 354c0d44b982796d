"""Issue 11 (intake points) at unit level: own prefixes, kept input and its replay forms."""

from __future__ import annotations

import json

import pytest

from dts_change.core.change import SourceInfo
from dts_change.core.errors import DtsChangeError, InvalidEventError
from dts_change.intake.accept import own_record
from dts_change.intake.replay import RAW_CAP_BYTES, kept_input, replay_envelopes
from dts_change.intake.settings import IntakeSettings, store_location
from dts_change.intake.split import Envelope


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("oss://b/dts-change/ledger/", ("b", "dts-change/ledger/")),
        ("oss://b/dts-change/ledger", ("b", "dts-change/ledger/")),
        ("oss://b", ("b", "")),
        ("oss://b/", ("b", "")),
        ("oss://b/a%20b/", ("b", "a b/")),
        ("file:///tmp/ledger", None),
        ("", None),
        ("oss:///x", None),
    ],
)
def test_store_location(url, expected):
    assert store_location(url) == expected


def _oss_envelope(key: str, **kw) -> Envelope:
    return Envelope(kind="oss", correlation_id="c1", source=SourceInfo("oss", bucket="b", key=key, etag="E"), **kw)


@pytest.mark.parametrize(
    ("key", "own"),
    [
        ("ledger/changes/x.json", True),
        ("ledger%2Fchanges%2Fx.json", True),  # an encoded spelling of the same key
        ("ledger-notes.json", False),
        ("incoming/ledger/x.json", False),
    ],
)
def test_own_record_matches_keys_under_the_prefix_only(key, own):
    settings = IntakeSettings(own_prefixes=(("b", "ledger/"),))
    assert (own_record(_oss_envelope(key), settings) is not None) is own


def test_own_record_ignores_other_buckets_and_inline_bodies():
    settings = IntakeSettings(own_prefixes=(("other", "ledger/"),))
    assert own_record(_oss_envelope("ledger/x.json"), settings) is None
    inline = _oss_envelope("ledger/x.json", body=b"{}")
    assert own_record(inline, IntakeSettings(own_prefixes=(("b", "ledger/"),))) is None


def test_kept_input_of_a_read_object_and_its_replay_keeps_the_source():
    envelope = _oss_envelope("incoming/t.txt", event_ref={"trigger": "oss", "versionId": "v1"})
    kept = kept_input(envelope, b"crm\n")
    assert kept["raw"]["what"] == "object" and kept["raw"]["text"] == "crm\n"
    assert kept["locators"] == {
        "bucket": "b", "key": "incoming/t.txt", "eTag": "E", "versionId": "v1", "correlationId": "c1"
    }
    [again] = replay_envelopes(json.loads(json.dumps(kept)), dl_id="_unrouted/x", correlation_id="c1")
    assert again.body == b"crm\n" and again.source == envelope.source
    assert again.event_ref["replayOf"] == "_unrouted/x"


def test_truncated_object_replays_by_reading_it_again():
    kept = kept_input(_oss_envelope("incoming/big.json"), b"x" * (RAW_CAP_BYTES + 1))
    assert kept["raw"]["truncated"] is True
    [again] = replay_envelopes(kept, dl_id="d", correlation_id=None)
    assert again.body is None and again.reads_object


def test_element_replays_inside_its_trigger_shape():
    element = {"eventName": "ObjectCreated:PutObject", "oss": {"bucket": {"name": "b"}, "object": {"key": "k"}}}
    envelope = Envelope(kind="oss", correlation_id="c", source=SourceInfo("oss"), problem=InvalidEventError("x"),
                        raw=element, event_ref={"trigger": "oss", "index": 0})
    kept = kept_input(envelope)
    assert kept["locators"]["bucket"] == "b" and kept["locators"]["key"] == "k"
    again = replay_envelopes(kept, dl_id="d", correlation_id="c")
    assert json.loads(again) == {"events": [element]}


@pytest.mark.parametrize("kept", [None, "text", {"kind": "manual", "source": {"kind": "manual"}}])
def test_replay_without_kept_input_is_refused(kept):
    with pytest.raises(DtsChangeError) as raised:
        replay_envelopes(kept, dl_id="d", correlation_id=None)
    assert raised.value.code == "replay-refused"
