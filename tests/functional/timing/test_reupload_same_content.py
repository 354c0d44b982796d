"""Review finding: a new upload of content the same key held before (same bytes, so the same eTag)
is taken for a redelivery of the old upload's event: outcome `duplicate`, nothing applied. Here
the object is toggled add -> remove -> add on a versioned trigger bucket; each upload has its own
version id and its own event, yet the third is dropped and the table stays removed.

docs/formats.md §5: only "a redelivered event" is "a harmless duplicate"; "Versioned buckets":
"two uploads of one key whose events arrive late are both applied"; docs/errors.md
(source-version-not-found, object-superseded): "upload the content again to apply it".

The identity of an OSS change without a document id names the upload (its version id, else its
request id), so the same toggle on an unversioned bucket applies too, while a redelivery of one
upload's event (an FC retry, or its EventBridge copy) stays a duplicate. Ledger on OSS."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from dts_change.clients.credentials import Credentials
from dts_change.clients.oss import OssClient
from tests.conftest import load_event_json
from tests.functional.timing.test_superseded import (
    _event_for,
    _upload,
    _versioned_deployment,
    _versioned_event,
    table_names,
)
from tests.harness import BUCKET, oss_deployment

KEY = "dts-change/incoming/toggle.json"
ADD, REMOVE = json.dumps({"add": ["shop.t9"]}), json.dumps({"remove": ["shop.t9"]})


def test_third_upload_of_earlier_content_is_applied_not_a_duplicate(tmp_path: Path) -> None:
    deploy = _versioned_deployment(tmp_path)
    try:
        key = "dts-change/incoming/toggle.json"
        add, remove = json.dumps({"add": ["shop.t9"]}), json.dumps({"remove": ["shop.t9"]})
        results = []
        # GIVEN three uploads of one key (no document id): add, remove, add again; each event
        # handled and settled before the next upload
        for n, body in enumerate([add, remove, add]):
            version = _upload(deploy, key, body)
            results.append(deploy.invoke(_versioned_event(key, body, f"REQ{n}", version))["changes"][0])
            deploy.settle()
        # THEN the third upload is a change of its own, applied: the table is listed again
        assert results[2]["outcome"] in ("submitted", "applied"), results[2]
        assert "t9" in table_names(deploy.db_list(), "shop")
    finally:
        deploy.stop()


def _put(deploy: Any, body: str) -> None:
    """PutObject to the (unversioned) trigger bucket through the real client, over loopback."""
    client = OssClient("cn-hangzhou", deploy.server.endpoint, Credentials("LTAIdemo", "demo-secret"))
    try:
        assert client.put_object(BUCKET, KEY, body.encode()).version_id is None
    finally:
        client.close()


def _eventbridge_copy(native: dict[str, Any]) -> dict[str, Any]:
    """The same upload's event as EventBridge delivers it: the record as `data`, its own id."""
    cloud = copy.deepcopy(load_event_json("eventbridge-oss-object-created.json"))
    cloud["id"] = "eb-" + native["events"][0]["responseElements"]["requestId"]
    cloud["data"] = copy.deepcopy(native["events"][0])
    return cloud


def test_unversioned_toggle_with_distinct_request_ids_applies_every_upload_in_order(tmp_path: Path) -> None:
    deploy = oss_deployment(tmp_path)
    try:
        outcomes, listed = [], []
        # GIVEN an unversioned trigger bucket (the recommended setup): add, remove, add, remove,
        # add of one key, each upload's event (its own request id) handled and settled in turn
        for n, body in enumerate([ADD, REMOVE, ADD, REMOVE, ADD]):
            _put(deploy, body)
            outcomes.append(deploy.invoke(_event_for(KEY, body, f"UPLOAD-{n}"))["changes"][0]["outcome"])
            deploy.settle()
            listed.append("t9" in table_names(deploy.db_list(), "shop"))
        # THEN every upload is a change of its own, applied in order: none dropped as a duplicate
        assert outcomes == ["submitted"] * 5, outcomes
        assert listed == [True, False, True, False, True]
        states = deploy.states()
        assert len(states) == 5 and set(states.values()) == {"applied"}, states
        assert deploy.dead_letters() == []
    finally:
        deploy.stop()


def test_redelivery_of_one_upload_is_a_duplicate_also_through_eventbridge(tmp_path: Path) -> None:
    deploy = oss_deployment(tmp_path)
    try:
        _put(deploy, ADD)
        event = _event_for(KEY, ADD, "UPLOAD-1")
        first = deploy.invoke(event)["changes"][0]
        deploy.settle()
        # WHEN FC retries the same event, and EventBridge delivers the same upload too
        again = deploy.invoke(event)["changes"][0]
        bridged = deploy.invoke(_eventbridge_copy(event))["changes"][0]
        # THEN both are the first change again: duplicates, nothing recorded or sent twice
        assert first["outcome"] == "submitted", first
        assert (again["outcome"], again["key"]) == ("duplicate", first["key"]), again
        assert (bridged["outcome"], bridged["key"]) == ("duplicate", first["key"]), bridged
        assert len(deploy.states()) == 1
        assert len(deploy.modify_calls()) == 1
    finally:
        deploy.stop()
