"""#12.4: an OSS object overwritten before its first event is read is visibly `superseded`.

The older event's eTag no longer matches the object: its change is never applied under the old
event's identity; the result and dead letter name both eTags (the newer upload's own event
applies the current content). Ledger and dead letters on OSS."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from dts_change.clients.credentials import Credentials
from dts_change.clients.oss import OssClient
from tests.conftest import load_event_json
from tests.harness import BUCKET, oss_deployment, seed_state


def table_names(db_list: dict, db: str) -> set[str]:
    return set((db_list.get(db) or {}).get("Table", {}))


def _event_for(key: str, body: str, sequencer: str) -> dict:
    event = copy.deepcopy(load_event_json("oss-object-created.json"))
    record = event["events"][0]
    record["oss"]["object"]["key"] = key
    record["oss"]["object"]["eTag"] = hashlib.md5(body.encode(), usedforsecurity=False).hexdigest().upper()
    record["oss"]["object"]["size"] = len(body.encode())
    record["responseElements"]["requestId"] = sequencer
    return event


def test_event_of_an_overwritten_object_is_superseded_with_both_etags_never_applied(tmp_path: Path) -> None:
    deploy = oss_deployment(tmp_path)
    try:
        key = "dts-change/incoming/change.json"
        first = json.dumps({"id": "upload-1", "add": ["shop.first_upload"]})
        second = json.dumps({"id": "upload-2", "add": ["shop.second_upload"]})
        # GIVEN the object was uploaded twice before the first upload's event is handled
        deploy.put_object(key, second)
        old_event, new_event = _event_for(key, first, "REQ1"), _event_for(key, second, "REQ2")
        # WHEN the first upload's event arrives, then the second's
        older = deploy.invoke(old_event)
        newer = deploy.invoke(new_event)
        deploy.settle()
        # THEN the first is superseded, naming both eTags; the second is applied
        result = older["changes"][0]
        assert result["outcome"] == "superseded", result
        old_etag = old_event["events"][0]["oss"]["object"]["eTag"]
        new_etag = new_event["events"][0]["oss"]["object"]["eTag"]
        assert (result["eventETag"], result["currentETag"]) == (old_etag, new_etag)
        assert newer["changes"][0]["outcome"] in ("submitted", "applied")
        letters = deploy.dead_letters()
        assert [d.error["code"] for d in letters] == ["object-superseded"]
        assert letters[0].error["details"] == {"eventETag": old_etag, "currentETag": new_etag}
        # AND the current content was applied once, under the second event only
        shop = table_names(deploy.db_list(), "shop")
        assert "second_upload" in shop and "first_upload" not in shop
        assert [r.change_id for r in deploy.app.ledger.all_records()] == ["upload-2"]
    finally:
        deploy.stop()


# ---------------------------------------------------------------- versioned trigger bucket

UPLOADS = "dts-change-uploads"
"""A trigger bucket of its own: the ledger's bucket must never be versioned (ledger-versioned)."""


def _versioned_deployment(tmp_path: Path, status: str | None = "Enabled") -> Any:
    state = seed_state()
    state["buckets"][UPLOADS] = {}
    if status:
        state["bucketVersioning"] = {UPLOADS: status}
    return oss_deployment(tmp_path, state, DTS_CHANGE_ALLOWED_BUCKETS=f"{BUCKET},{UPLOADS}")


def _upload(deploy: Any, key: str, body: str) -> str | None:
    """PutObject through the real client (signed, over loopback); the version OSS assigned."""
    client = OssClient("cn-hangzhou", deploy.server.endpoint, Credentials("LTAIdemo", "demo-secret"))
    try:
        return client.put_object(UPLOADS, key, body.encode()).version_id
    finally:
        client.close()


def _versioned_event(key: str, body: str, sequencer: str, version_id: str | None, field: str = "versionId") -> dict:
    event = _event_for(key, body, sequencer)
    record = event["events"][0]
    record["oss"]["bucket"]["name"] = UPLOADS
    if version_id is not None:
        record["oss"]["object"][field] = version_id
    return event


def _sent_tables(call: dict) -> set[str]:
    sent = call["dbList"]
    return table_names(json.loads(sent) if isinstance(sent, str) else sent, "shop")


@pytest.mark.parametrize("field", ["versionId", "versionid"])
def test_versioned_bucket_both_late_events_apply_their_own_version_in_order(tmp_path: Path, field: str) -> None:
    deploy = _versioned_deployment(tmp_path)
    try:
        key = "dts-change/incoming/change.json"
        first = json.dumps({"id": "upload-1", "add": ["shop.first_upload"]})
        second = json.dumps({"id": "upload-2", "add": ["shop.second_upload"]})
        # GIVEN a versioned trigger bucket where the key was uploaded twice before any event ran
        v1, v2 = _upload(deploy, key, first), _upload(deploy, key, second)
        assert v1 and v2 and v1 != v2
        old_event = _versioned_event(key, first, "REQ1", v1, field)
        new_event = _versioned_event(key, second, "REQ2", v2, field)
        # WHEN both events arrive late, the older first
        older = deploy.invoke(old_event)
        deploy.settle()
        newer = deploy.invoke(new_event)
        deploy.settle()
        # THEN neither is superseded: each read its own version and was applied
        assert older["changes"][0]["outcome"] in ("submitted", "applied"), older
        assert newer["changes"][0]["outcome"] in ("submitted", "applied"), newer
        assert deploy.dead_letters() == []
        assert deploy.states() == {"upload-1": "applied", "upload-2": "applied"}
        assert [c["versionId"] for c in deploy.server.calls("GetObject") if c.get("versionId")] == [v1, v2]
        # AND DTS received the first upload's content, then both: in order, each exactly once
        calls = deploy.modify_calls()
        assert [_sent_tables(c) & {"first_upload", "second_upload"} for c in calls] == [
            {"first_upload"},
            {"first_upload", "second_upload"},
        ]
        assert {"first_upload", "second_upload"} <= table_names(deploy.db_list(), "shop")
    finally:
        deploy.stop()


def test_versioned_bucket_unknown_version_is_a_clear_dead_letter(tmp_path: Path) -> None:
    deploy = _versioned_deployment(tmp_path)
    try:
        key = "dts-change/incoming/change.json"
        body = json.dumps({"id": "upload-1", "add": ["shop.first_upload"]})
        _upload(deploy, key, body)
        # GIVEN an event naming a version the object does not have (deleted since, say)
        result = deploy.invoke(_versioned_event(key, body, "REQ1", "CAEQgone+/="))
        # THEN nothing reaches DTS and the dead letter names the code, key and version
        assert deploy.modify_calls() == []
        letters = deploy.dead_letters()
        assert [d.error["code"] for d in letters] == ["source-version-not-found"], result
        assert letters[0].error["details"] == {"bucket": UPLOADS, "key": key, "versionId": "CAEQgone+/="}
        assert "CAEQgone+/=" in letters[0].error["message"]
        # AND a replay reads that version again (the source keeps it), so it is located exactly
        assert letters[0].original_event["locators"]["versionId"] == "CAEQgone+/="
        assert letters[0].original_event["source"]["version_id"] == "CAEQgone+/="
    finally:
        deploy.stop()


def test_versioned_bucket_malformed_version_id_is_an_invalid_event_naming_the_field(tmp_path: Path) -> None:
    deploy = _versioned_deployment(tmp_path)
    try:
        key = "dts-change/incoming/change.json"
        body = json.dumps({"id": "upload-1", "add": ["shop.first_upload"]})
        _upload(deploy, key, body)
        deploy.invoke(_versioned_event(key, body, "REQ1", "v1&acl=" + "x" * 300))
        assert not any(c.get("versionId") for c in deploy.server.calls("GetObject"))
        letters = deploy.dead_letters()
        assert [d.error["code"] for d in letters] == ["invalid-event"]
        assert "oss.object.versionId" in letters[0].error["message"]
    finally:
        deploy.stop()


@pytest.mark.parametrize("status", [None, "Enabled"])
def test_event_without_version_id_keeps_the_superseded_behaviour(tmp_path: Path, status: str | None) -> None:
    deploy = _versioned_deployment(tmp_path, status)
    try:
        key = "dts-change/incoming/change.json"
        first = json.dumps({"id": "upload-1", "add": ["shop.first_upload"]})
        second = json.dumps({"id": "upload-2", "add": ["shop.second_upload"]})
        # GIVEN two uploads and events that name no version (unversioned bucket, or none sent)
        versions = [_upload(deploy, key, first), _upload(deploy, key, second)]
        assert all(versions) == (status is not None)
        older = deploy.invoke(_versioned_event(key, first, "REQ1", None))
        newer = deploy.invoke(_versioned_event(key, second, "REQ2", None))
        deploy.settle()
        # THEN the older is superseded (the current object is not its content), as before
        assert older["changes"][0]["outcome"] == "superseded", older
        assert newer["changes"][0]["outcome"] in ("submitted", "applied")
        assert [d.error["code"] for d in deploy.dead_letters()] == ["object-superseded"]
        assert "first_upload" not in table_names(deploy.db_list(), "shop")
    finally:
        deploy.stop()


def test_file_oss_url_version_id_reads_that_version_not_the_current_object(tmp_path: Path) -> None:
    deploy = _versioned_deployment(tmp_path)
    try:
        key = "dts-change/incoming/fragment.txt"
        # GIVEN a FileOssUrl object overwritten after the URL naming its first version was written
        v1 = _upload(deploy, key, "shop.first_upload\n")
        _upload(deploy, key, "shop.second_upload\n")
        request = load_event_json("manual-modify-dts-job.json")
        del request["DbList"]
        request["FileOssUrl"] = f"{deploy.server.endpoint}/{UPLOADS}/{key}?versionId={quote(v1 or '', safe='')}"
        # WHEN the ModifyDtsJob request is handled
        result = deploy.invoke(request)
        deploy.settle()
        # THEN the version the URL named is what DTS received, not the current object
        assert [(c["outcome"], c["objects"]) for c in result["changes"]] == [
            ("submitted", {"added": ["shop.first_upload"]})
        ], result
        sent = [_sent_tables(c) & {"first_upload", "second_upload"} for c in deploy.modify_calls()]
        assert sent == [{"first_upload"}]
        assert [c["versionId"] for c in deploy.server.calls("GetObject") if c.get("versionId")] == [v1]
    finally:
        deploy.stop()
