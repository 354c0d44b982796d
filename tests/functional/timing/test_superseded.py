"""#12.4: an OSS object overwritten before its first event is read is visibly `superseded`.

The older event's eTag no longer matches the object: its change is never applied under the old
event's identity; the result and dead letter name both eTags (the newer upload's own event
applies the current content). Ledger and dead letters on OSS."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

from tests.conftest import load_event_json
from tests.harness import oss_deployment


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
