"""Issue 11, intake points (7, 11, 12, 13, 14): the handler against the emulator over loopback.

Each test checks what the emulator received (raw ModifyDtsJob parameters, OSS calls) or the
dead-letter files on disk, not the handler's own report of it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dts_change.core.errors import DtsChangeError
from tests.conftest import load_event_json
from tests.harness import BUCKET, INSTANCE, JOB, LocalDeployment, fc_context

PREFIX = "dts-change/incoming/"


@pytest.fixture
def deploy(tmp_path: Path) -> Iterator[LocalDeployment]:
    d = LocalDeployment(tmp_path)
    yield d
    d.stop()


def _file_url(deploy: LocalDeployment, key: str) -> str:
    return f"{deploy.server.endpoint}/{BUCKET}/{key}"


def _oss_event(key: str, body: str) -> dict[str, Any]:
    """The demo OSS event, pointed at `key` (eTag = MD5 of `body`, as OSS computes it)."""
    event = load_event_json("oss-object-created.json")
    obj = event["events"][0]["oss"]["object"]
    obj["key"] = key
    obj["eTag"] = hashlib.md5(body.encode("utf-8")).hexdigest().upper()
    obj["size"] = len(body.encode("utf-8"))
    return dict(event)


def _tables_sent(call: dict[str, Any], db: str) -> set[str]:
    sent = call["dbList"]  # the DbList text DTS received, parsed by the emulator
    return set((sent.get(db) or {}).get("Table", {}))


# ---------------------------------------------------------------------- 7: FileOssUrl flags


def test_file_oss_url_objects_are_submitted_with_the_requests_flags(deploy):
    # GIVEN a ModifyDtsJob-shaped request whose objects all come from FileOssUrl, with flags
    request = {
        "DtsInstanceId": INSTANCE,
        "DtsJobId": JOB,
        "ClientToken": "flags-from-file-1",
        "FileOssUrl": _file_url(deploy, PREFIX + "dblist-fragment.json"),
        "StructureInitialization": True,
        "DataInitialization": False,
        "DataSynchronization": True,
    }
    # WHEN the handler runs it and the job settles
    deploy.invoke(request)
    deploy.settle()
    # THEN the ModifyDtsJob that added the file's tables carried the request's flags on the wire
    calls = [c for c in deploy.modify_calls() if "stock_levels" in _tables_sent(c, "inventory")]
    assert len(calls) == 1
    params = calls[0]["params"]
    assert params.get("StructureInitialization") == "true"
    assert params.get("DataInitialization") == "false"
    assert params.get("DataSynchronization") == "true"
    assert set(deploy.states().values()) == {"applied"}


def test_file_oss_url_and_inline_dblist_both_carry_the_flags(deploy):
    request = load_event_json("manual-modify-dts-job.json")
    request["FileOssUrl"] = _file_url(deploy, PREFIX + "dblist-fragment.json")
    request["DataInitialization"] = False
    deploy.invoke(request)
    deploy.settle()
    sent = deploy.modify_calls()
    file_calls = [c for c in sent if "warehouses" in _tables_sent(c, "inventory")]
    inline_calls = [c for c in sent if "campaigns" in _tables_sent(c, "marketing")]
    assert file_calls and inline_calls
    for call in (file_calls[0], inline_calls[0]):
        assert call["params"].get("DataInitialization") == "false"
        assert call["params"].get("StructureInitialization") == "true"


def test_file_oss_url_document_with_other_flags_is_refused(deploy):
    # GIVEN a file that states its own, different flags
    doc = {"add": {"crm": {"name": "crm", "all": True}}, "dataInitialization": True}
    deploy.put_object(PREFIX + "flags-doc.json", json.dumps(doc))
    request = {
        "DtsJobId": JOB,
        "DtsInstanceId": INSTANCE,
        "FileOssUrl": _file_url(deploy, PREFIX + "flags-doc.json"),
        "DataInitialization": False,
    }
    result = deploy.invoke(request)
    assert [c["outcome"] for c in result["changes"]] == ["dead_lettered"]
    assert result["changes"][0]["code"] == "invalid-change"
    assert "DataInitialization" in result["changes"][0]["message"]
    assert deploy.modify_calls(accepted_only=False) == []


# ---------------------------------------------------------------------- 12: bare words


def test_manual_bare_word_is_refused_not_added_as_a_whole_database(deploy):
    # GIVEN a manual invocation whose payload is the plain word "test"
    before = deploy.db_list()
    result = deploy.invoke(b"test")
    # THEN it is refused with a code, nothing reaches DTS, and the job's list is unchanged
    assert [c["outcome"] for c in result["changes"]] == ["dead_lettered"]
    assert result["changes"][0]["code"] == "ambiguous-format"
    assert ".txt" in result["changes"][0]["hint"]
    assert deploy.modify_calls(accepted_only=False) == []
    assert deploy.db_list() == before


def test_mns_plain_text_without_a_signal_is_refused(deploy):
    message = {"TopicOwner": "1", "TopicName": "t", "MessageId": "m-plain-1", "Message": "shop.refunds\n"}
    result = deploy.invoke(message)
    assert [c["code"] for c in result["changes"]] == ["ambiguous-format"]
    assert deploy.modify_calls(accepted_only=False) == []


def test_table_list_with_a_format_line_is_accepted(deploy):
    body = "# format: table-list\ncrm\nshop.refunds\n"
    message = {"TopicOwner": "1", "TopicName": "t", "MessageId": "m-list-1", "Message": body}
    deploy.invoke(message)
    deploy.settle()
    after = deploy.db_list()
    assert after["crm"]["all"] is True
    assert "refunds" in after["shop"]["Table"]


def test_txt_object_with_a_bare_database_is_a_table_list(deploy):
    deploy.put_object(PREFIX + "whole-db.txt", "crm\n")
    deploy.invoke(_oss_event(PREFIX + "whole-db.txt", "crm\n"))
    deploy.settle()
    assert deploy.db_list()["crm"]["all"] is True


def test_object_without_extension_holding_plain_text_is_refused(deploy):
    deploy.put_object(PREFIX + "tables", "test\n")
    result = deploy.invoke(_oss_event(PREFIX + "tables", "test\n"))
    assert [c["code"] for c in result["changes"]] == ["ambiguous-format"]
    assert deploy.modify_calls(accepted_only=False) == []


# ---------------------------------------------------------------------- 14: self-triggering


@pytest.fixture
def oss_stores(tmp_path: Path) -> Iterator[LocalDeployment]:
    """Ledger and dead letters on the emulator's OSS, in the bucket the trigger watches."""
    d = LocalDeployment(
        tmp_path,
        DTS_CHANGE_LEDGER=f"oss://{BUCKET}/dts-change/ledger",
        DTS_CHANGE_DEAD_LETTER=f"oss://{BUCKET}/dts-change/dead-letter/",
    )
    yield d
    d.stop()


@pytest.mark.parametrize(
    "key", ["dts-change/ledger/changes/abc.json", "dts-change/dead-letter/_unrouted/x.json"]
)
def test_event_for_the_functions_own_records_is_ignored_with_a_log_line(oss_stores, key, caplog):
    body = '{"add": ["shop.looped"]}'
    oss_stores.put_object(key, body)
    gets_before = len(oss_stores.server.calls("GetObject"))
    with caplog.at_level("INFO"):
        result = oss_stores.invoke(_oss_event(key, body))
    # THEN nothing is read, recorded or sent, and the log says why
    assert result["changes"] == []
    assert len(result["ignored"]) == 1 and "own" in result["ignored"][0]["reason"]
    assert len(oss_stores.server.calls("GetObject")) == gets_before
    assert oss_stores.modify_calls(accepted_only=False) == []
    assert any("event ignored" in r.getMessage() and key in r.getMessage() for r in caplog.records)


def test_event_next_to_the_ledger_prefix_is_still_a_change(oss_stores):
    key = "dts-change/ledger-notes.json"  # shares the text, not the folder
    body = '{"add": ["shop.notes"]}'
    oss_stores.put_object(key, body)
    result = oss_stores.invoke(_oss_event(key, body))
    assert [c["outcome"] for c in result["changes"]] == ["submitted"]


# ---------------------------------------------------------------------- 13: versioned buckets


def _set_versioning(deploy: LocalDeployment, status: str) -> None:
    state = deploy.server.get_state()
    state["bucketVersioning"] = {BUCKET: status}
    deploy.server.put_state(state)


def _initialize(deploy: LocalDeployment, monkeypatch: pytest.MonkeyPatch) -> None:
    """FC's initializer, `index.initialize`, on the deployment's environment."""
    import index
    from dts_change.app.handler import reset_app

    for name, value in deploy.env.items():
        monkeypatch.setenv(name, value)
    reset_app()
    try:
        index.initialize(fc_context())
    finally:
        reset_app()


@pytest.mark.parametrize("status", ["Enabled", "Suspended"])
def test_initialize_refuses_stores_in_a_versioned_bucket(oss_stores, monkeypatch, status):
    # GIVEN the ledger's bucket has versioning on, so x-oss-forbid-overwrite would be ignored
    _set_versioning(oss_stores, status)
    # WHEN the instance initializes THEN it refuses, naming the bucket and the state
    with pytest.raises(DtsChangeError) as raised:
        _initialize(oss_stores, monkeypatch)
    assert raised.value.code == "store-bucket-versioned"
    assert BUCKET in raised.value.message and status in raised.value.message
    assert "DTS_CHANGE_LEDGER" in raised.value.message
    assert [c["bucket"] for c in oss_stores.server.calls("GetBucketVersioning")] == [BUCKET]
    # AND nothing was written to the store
    assert oss_stores.server.calls("PutObject") == []


def test_initialize_accepts_a_bucket_that_never_had_versioning(oss_stores, monkeypatch):
    _initialize(oss_stores, monkeypatch)
    assert len(oss_stores.server.calls("GetBucketVersioning")) == 1  # one bucket, checked once


def test_handler_refuses_to_write_records_into_a_versioned_bucket(oss_stores):
    # GIVEN an App built without the initializer (the CLI, or a runtime without one)
    _set_versioning(oss_stores, "Enabled")
    # WHEN an event arrives THEN the invocation fails before any record is written
    with pytest.raises(DtsChangeError) as raised:
        oss_stores.invoke({"id": "v-1", "add": ["shop.v1"]})
    assert raised.value.code == "store-bucket-versioned"
    assert oss_stores.server.calls("PutObject") == []
    assert oss_stores.modify_calls(accepted_only=False) == []


def test_emulator_ignores_forbid_overwrite_on_a_versioned_bucket(oss_stores):
    # The reason for the check, seen on the wire: a create-if-absent write overwrites.
    from dts_change.clients.oss import OssClient

    client = OssClient("cn-hangzhou", oss_stores.server.endpoint, oss_stores.app.credentials)
    client.put_object(BUCKET, "probe.json", b"first", forbid_overwrite=True)
    with pytest.raises(DtsChangeError):
        client.put_object(BUCKET, "probe.json", b"second", forbid_overwrite=True)
    _set_versioning(oss_stores, "Enabled")
    assert client.get_bucket_versioning(BUCKET) == "Enabled"
    client.put_object(BUCKET, "probe.json", b"second", forbid_overwrite=True)
    assert client.get_object(BUCKET, "probe.json", 100).body == b"second"


# ---------------------------------------------------------------------- 11: bad input is kept


def _dead_letter_files(deploy: LocalDeployment) -> list[dict[str, Any]]:
    """The dead-letter records as stored on disk (not through the sink's model)."""
    root = deploy.tmp_path / "dead-letter"
    files = sorted(p for p in root.rglob("*.json") if "_replayed" not in p.parts)
    return [json.loads(p.read_text(encoding="utf-8")) for p in files]


def _only_dead_letter(deploy: LocalDeployment) -> dict[str, Any]:
    letters = _dead_letter_files(deploy)
    assert len(letters) == 1, letters
    return letters[0]


def _cli(deploy: LocalDeployment, monkeypatch: pytest.MonkeyPatch, capsys, *args: str, **env: str):
    """`dts-change <args>` in this process, configured by the deployment's environment."""
    from dts_change.app.cli import main

    for name, value in {**deploy.env, **env}.items():
        monkeypatch.setenv(name, value)
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_invalid_json_event_keeps_its_raw_text(deploy):
    raw = '{"id": "broken", "add": ["shop.x"'
    result = deploy.invoke(raw)
    assert [c["code"] for c in result["changes"]] == ["invalid-json"]
    kept = _only_dead_letter(deploy)["original_event"]
    assert kept["raw"]["text"] == raw
    assert kept["raw"]["what"] == "event"
    assert kept["raw"]["bytes"] == len(raw) and kept["raw"]["truncated"] is False
    assert kept["raw"]["sha256"] == hashlib.sha256(raw.encode()).hexdigest()
    assert kept["locators"]["correlationId"] == result["changes"][0]["correlationId"]


def test_non_utf8_input_is_kept_as_base64(deploy):
    raw = b"\xff\xfe shop.t\n"
    result = deploy.invoke(raw)
    assert result["changes"][0]["outcome"] == "dead_lettered"
    kept = _only_dead_letter(deploy)["original_event"]["raw"]
    assert "text" not in kept
    assert base64.b64decode(kept["base64"]) == raw


def test_invalid_oss_record_keeps_the_element_with_bucket_and_key(deploy):
    event = _oss_event(PREFIX + "no-etag.json", "{}")
    del event["events"][0]["oss"]["object"]["eTag"]
    result = deploy.invoke(event)
    assert [c["code"] for c in result["changes"]] == ["invalid-event"]
    kept = _only_dead_letter(deploy)["original_event"]
    assert json.loads(kept["raw"]["text"]) == event["events"][0]
    assert kept["raw"]["what"] == "element"
    assert kept["locators"]["bucket"] == BUCKET
    assert kept["locators"]["key"] == PREFIX + "no-etag.json"


def test_oversized_input_is_kept_capped_with_its_size_and_hash(deploy):
    from dts_change.intake.replay import RAW_CAP_BYTES

    raw = ("word " * (RAW_CAP_BYTES // 4)).encode()
    result = deploy.invoke(raw)
    assert [c["code"] for c in result["changes"]] == ["ambiguous-format"]
    kept = _only_dead_letter(deploy)["original_event"]["raw"]
    assert kept["truncated"] is True and kept["bytes"] == len(raw)
    assert kept["text"].encode() == raw[:RAW_CAP_BYTES]
    assert kept["sha256"] == hashlib.sha256(raw).hexdigest()


def test_unroutable_oss_object_is_kept_and_replays_from_the_kept_bytes(tmp_path, monkeypatch, capsys):
    # GIVEN a function without a default job: a change without `job` cannot be routed
    deploy = LocalDeployment(tmp_path, DTS_JOB_ID="", DTS_INSTANCE_ID="")
    try:
        body = '{"add": ["shop.later"]}'
        key = PREFIX + "later.json"
        deploy.put_object(key, body)
        event = _oss_event(key, body)
        result = deploy.invoke(event)
        assert [c["code"] for c in result["changes"]] == ["unroutable-change"]
        letter = _only_dead_letter(deploy)
        kept = letter["original_event"]
        # THEN the object's bytes and every locator are in the dead letter
        assert kept["raw"] == {**kept["raw"], "what": "object", "text": body, "truncated": False}
        obj = event["events"][0]["oss"]["object"]
        assert kept["locators"]["bucket"] == BUCKET and kept["locators"]["key"] == key
        assert kept["locators"]["eTag"] == obj["eTag"]
        assert kept["locators"]["correlationId"] == letter["correlation_id"]
        # WHEN the object is gone, the configuration fixed, and the dead letter replayed
        state = deploy.server.get_state()
        del state["buckets"][BUCKET][key]
        deploy.server.put_state(state)
        gets = len(deploy.server.calls("GetObject"))
        code, out, err = _cli(deploy, monkeypatch, capsys, "dlq", "replay", letter["dl_id"], "--json",
                              DTS_JOB_ID=JOB, DTS_INSTANCE_ID=INSTANCE)
        # THEN the kept bytes are replayed through the handler and reach DTS
        assert code == 0, (out, err)
        assert len(deploy.server.calls("GetObject")) == gets
        assert [c["outcome"] for c in json.loads(out)["changes"]] == ["submitted"]
        assert [c for c in deploy.modify_calls() if "later" in _tables_sent(c, "shop")]
        assert _dead_letter_files(deploy) == []
        assert (tmp_path / "dead-letter" / "_replayed" / (letter["dl_id"] + ".json")).is_file()
    finally:
        deploy.stop()


def test_unroutable_mns_message_is_kept_and_replays(tmp_path, monkeypatch, capsys):
    deploy = LocalDeployment(tmp_path, DTS_JOB_ID="", DTS_INSTANCE_ID="")
    try:
        message = {"TopicOwner": "1", "TopicName": "dts-change-topic", "MessageId": "m-kept-1",
                   "Message": '{"add": ["crm.contacts"]}'}
        deploy.invoke(message)
        letter = _only_dead_letter(deploy)
        kept = letter["original_event"]
        assert kept["raw"]["what"] == "body" and kept["raw"]["text"] == message["Message"]
        assert kept["locators"]["messageId"] == "m-kept-1"
        assert kept["locators"]["topic"] == "dts-change-topic"
        code, out, _ = _cli(deploy, monkeypatch, capsys, "dlq", "replay", letter["dl_id"], "--json",
                            DTS_JOB_ID=JOB, DTS_INSTANCE_ID=INSTANCE)
        assert code == 0
        assert [c["outcome"] for c in json.loads(out)["changes"]] == ["submitted"]
        assert [c for c in deploy.modify_calls() if "contacts" in _tables_sent(c, "crm")]
    finally:
        deploy.stop()


def test_object_over_the_cap_replays_by_its_locators_once_the_cap_is_raised(tmp_path, monkeypatch, capsys):
    deploy = LocalDeployment(tmp_path, DTS_CHANGE_MAX_DOCUMENT_BYTES="32")
    try:
        body = '{"add": ["shop.big_one", "shop.big_two"]}'
        key = PREFIX + "big.json"
        deploy.put_object(key, body)
        result = deploy.invoke(_oss_event(key, body))
        assert [c["code"] for c in result["changes"]] == ["input-too-large"]
        letter = _only_dead_letter(deploy)
        assert "raw" not in letter["original_event"]  # nothing was read past the cap
        assert letter["original_event"]["locators"]["key"] == key
        code, out, _ = _cli(deploy, monkeypatch, capsys, "dlq", "replay", letter["dl_id"], "--json",
                            DTS_CHANGE_MAX_DOCUMENT_BYTES="4096")
        assert code == 0
        assert [c["outcome"] for c in json.loads(out)["changes"]] == ["submitted"]
    finally:
        deploy.stop()


def test_replay_of_a_truncated_body_without_locators_is_refused(deploy, monkeypatch, capsys):
    from dts_change.intake.replay import RAW_CAP_BYTES

    deploy.invoke(b"word " * (RAW_CAP_BYTES // 4))
    letter = _only_dead_letter(deploy)
    code, _, err = _cli(deploy, monkeypatch, capsys, "dlq", "replay", letter["dl_id"])
    assert code == 2
    assert "replay-refused" in err or "truncated" in err
    assert len(_dead_letter_files(deploy)) == 1  # still there, not marked replayed


def test_replayed_element_and_event_run_again_and_fail_the_same_way(deploy, monkeypatch, capsys):
    # GIVEN an invalid OSS record (no eTag) dead-lettered with its element kept
    event = _oss_event(PREFIX + "no-etag.json", "{}")
    del event["events"][0]["oss"]["object"]["eTag"]
    deploy.invoke(event)
    first = _only_dead_letter(deploy)
    # WHEN it is replayed without a fix THEN the element runs again as an OSS event of its own
    code, out, _ = _cli(deploy, monkeypatch, capsys, "dlq", "replay", first["dl_id"], "--json")
    assert code == 1
    assert [c["code"] for c in json.loads(out)["changes"]] == ["invalid-event"]
    second = _only_dead_letter(deploy)
    assert second["dl_id"] != first["dl_id"]
    assert second["original_event"]["raw"]["text"] == first["original_event"]["raw"]["text"]


def test_kept_input_never_holds_secrets(deploy):
    from dts_change.core.observe import register_secret

    register_secret("kept-secret-value-1")
    raw = b'{"AccessKeySecret": "kept-secret-value-1", "SecurityToken": "tok-999999", "x": \xff'
    deploy.invoke(raw)
    stored = json.dumps(_only_dead_letter(deploy))
    kept = _only_dead_letter(deploy)["original_event"]["raw"]
    text = base64.b64decode(kept["base64"])
    assert b"kept-secret-value-1" not in text and b"tok-999999" not in text
    assert "kept-secret-value-1" not in stored and "tok-999999" not in stored
    assert kept["sha256"] == hashlib.sha256(raw).hexdigest()  # of the input as received


def test_cli_reconcile_refuses_a_versioned_store_bucket(oss_stores, monkeypatch, capsys):
    _set_versioning(oss_stores, "Suspended")
    code, _, err = _cli(oss_stores, monkeypatch, capsys, "reconcile", "--job", f"{JOB}/Forward")
    assert code == 2
    assert "Versioned store bucket" in err and "Suspended" in err
    assert oss_stores.server.calls("PutObject") == []
