"""intake.py: envelopes -> outcomes, with an in-memory OSS reader (routing, safety, keys, caps)."""

from __future__ import annotations

import hashlib
import json
import logging

import pytest

from dts_change.core.change import JobTarget
from dts_change.core.dblist import ObjectRef
from dts_change.core.errors import ConfigurationError, NetworkError
from dts_change.intake.accept import intake_event
from dts_change.intake.detect import Caps
from dts_change.intake.read import key_candidates
from dts_change.intake.settings import intake_settings_from_env
from tests.conftest import EVENTS_DIR
from tests.unit.intake.conftest import BASE_ENV, BUCKET, DEFAULT_JOB, PREFIX, FakeReader

DEFAULT = JobTarget(DEFAULT_JOB, None, "Forward", "cn-hangzhou")


def _only(outcomes):
    assert len(outcomes) == 1
    return outcomes[0]


def _failed(outcome, code: str):
    assert outcome.status == "failed", outcome.to_dict()
    assert outcome.error is not None and outcome.error.code == code, outcome.error
    return outcome.error


# ---------------------------------------------------------------------- every sample


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("oss-object-created.json", [("accepted", ["sql-mysql"])]),
        ("oss-object-deleted.json", [("ignored", [])]),
        ("eventbridge-oss-object-created.json", [("accepted", ["change-document"])]),
        ("eventbridge-oss-batch.json", [("accepted", ["table-list"]), ("accepted", ["dblist"])]),
        (
            "mns-queue-batch-cloudevents.json",
            [("accepted", ["change-document"]), ("accepted", ["table-list"])],
        ),
        ("mns-queue-batch-base64.json", [("accepted", ["change-document"]), ("accepted", ["table-list"])]),
        ("mns-queue-rawdata.json", [("accepted", ["change-document"]), ("accepted", ["table-list"])]),
        ("mns-topic-json.json", [("accepted", ["change-document"])]),
        ("mns-topic-json-attributes.json", [("accepted", ["change-document"])]),
        ("mns-topic-stream-attrs.json", [("accepted", ["table-list"])]),
        ("mns-topic-stream-raw.txt", [("accepted", ["table-list"])]),
        ("timer.json", [("reconcile", [])]),
        ("manual-change.json", [("accepted", ["change-document"])]),
        ("manual-modify-dts-job.json", [("accepted", ["modify-dts-job", "dblist"])]),
        ("fc-failure-record.json", [("accepted", ["sql-mysql"])]),
    ],
)
def test_intake_event_every_sample_gives_expected_outcomes(name, expected, event_bytes, run_intake):
    outcomes = run_intake(event_bytes(name))
    got = [(o.status, [c.format for c in o.changes]) for o in outcomes]
    assert got == expected, [o.to_dict() for o in outcomes]
    for outcome in outcomes:
        json.dumps(outcome.to_dict())
        for change in outcome.changes:
            json.dumps(change.to_record())


def test_intake_event_oss_created_reads_object_and_routes_to_default_job(event_bytes, run_intake, reader):
    outcome = _only(run_intake(event_bytes("oss-object-created.json")))
    change = outcome.changes[0]
    assert reader.calls == [(BUCKET, PREFIX + "new-table.sql")]
    assert change.job == DEFAULT
    # the upload's request id is part of the identity: a new upload of the same bytes is a new change
    assert change.identity == (
        f"oss:{BUCKET}/{PREFIX}new-table.sql#D61C6242D8A49542CA725B35070C9DBC;requestId=6632F0A1B2C3D4E5F6A70001"
    )
    assert change.correlation_id == "6632F0A1B2C3D4E5F6A70001"
    assert change.source.kind == "oss"
    assert change.add is not None and set(change.add.to_wire()["shop"]["Table"]) == {
        "order_items",
        "order_events",
    }


def test_intake_event_deleted_object_is_ignored_with_a_log_line(event_bytes, run_intake, reader, caplog):
    with caplog.at_level(logging.INFO, logger="dts_change.intake"):
        outcome = _only(run_intake(event_bytes("oss-object-deleted.json")))
    assert outcome.reason == "ObjectRemoved:DeleteObject is a deletion; nothing to change"
    assert reader.calls == []
    assert any("event ignored" in r.getMessage() for r in caplog.records)


def test_intake_event_timer_is_a_reconcile_request(event_bytes, run_intake):
    outcome = _only(run_intake(event_bytes("timer.json")))
    assert outcome.reconcile is not None
    assert outcome.reconcile.trigger_name == "reconcile-every-5m"
    assert outcome.reconcile.payload == {"action": "reconcile"}
    assert outcome.reconcile.job is None


def test_intake_event_manual_reconcile_for_one_job(run_intake):
    outcome = _only(
        run_intake({"action": "reconcile", "job": {"dtsJobId": "dtsjob2", "direction": "Reverse"}})
    )
    assert outcome.reconcile is not None
    assert outcome.reconcile.job == JobTarget("dtsjob2", direction="Reverse")


def test_intake_event_manual_reconcile_with_bad_job_fails(run_intake):
    error = _failed(_only(run_intake({"action": "reconcile", "job": "bad job"})), "invalid-change")
    assert error.message.startswith("Invalid reconcile request req-1#1: job: expected a DTS id")


def test_intake_event_failure_record_replays_with_replay_reference(event_bytes, run_intake):
    outcome = _only(run_intake(event_bytes("fc-failure-record.json")))
    change = outcome.changes[0]
    assert change.event_ref["replay"]["replayOf"] == "1-6632f0a1-abcdef0123456789"
    original = _only(run_intake(event_bytes("oss-object-created.json"))).changes[0]
    assert change.idempotency_key == original.idempotency_key


def test_intake_event_base64_mns_body_is_decoded_with_warning(event_bytes, run_intake):
    first = run_intake(event_bytes("mns-queue-batch-base64.json"))[0].changes[0]
    assert first.change_id == "mnsq-2024-05-01-0003"
    assert first.warnings == ("message body was base64-encoded; decoded it",)
    assert first.source.queue == "dts-change-queue"


# ---------------------------------------------------------------------- routing


def test_intake_event_document_job_wins_over_routes(run_intake, make_settings):
    settings = make_settings(
        DTS_CHANGE_ROUTES=json.dumps([{"topic": "dts-change-topic", "dtsJobId": "routed"}])
    )
    outcome = _only(run_intake({"job": "dtsdocjob", "add": ["a.b"]}, settings_=settings))
    assert outcome.changes[0].job == JobTarget("dtsdocjob", region="cn-hangzhou")


def test_intake_event_topic_route_applies_when_document_names_no_job(event_bytes, run_intake, make_settings):
    routes = [
        {
            "topic": "dts-change-topic",
            "dtsInstanceId": "dtsinst9",
            "direction": "Reverse",
            "region": "cn-shanghai",
        }
    ]
    # (the function serves cn-shanghai: a route to another region is refused, test_region.py)
    settings = make_settings(DTS_CHANGE_ROUTES=json.dumps(routes), DTS_REGION="cn-shanghai")
    change = _only(run_intake(event_bytes("mns-topic-json.json"), settings_=settings)).changes[0]
    assert change.job == JobTarget(None, "dtsinst9", "Reverse", "cn-shanghai")


def test_intake_event_queue_route_from_cloud_event_subject(event_bytes, run_intake, make_settings):
    settings = make_settings(
        DTS_CHANGE_ROUTES=json.dumps([{"queue": "dts-change-queue", "dtsJobId": "dtsq"}])
    )
    outcomes = run_intake(event_bytes("mns-queue-batch-cloudevents.json"), settings_=settings)
    assert [o.changes[0].job.dts_job_id for o in outcomes] == ["dtsq", "dtsq"]


def test_intake_event_bucket_prefix_route(event_bytes, run_intake, make_settings):
    routes = [
        {"bucket": BUCKET, "prefix": "other/", "dtsJobId": "dtsother"},
        {"bucket": BUCKET, "prefix": PREFIX, "dtsJobId": "dtsincoming"},
    ]
    settings = make_settings(DTS_CHANGE_ROUTES=json.dumps(routes))
    change = _only(run_intake(event_bytes("oss-object-created.json"), settings_=settings)).changes[0]
    assert change.job.dts_job_id == "dtsincoming"


def test_intake_event_unroutable_change_is_rejected(event_bytes, run_intake, make_settings):
    settings = make_settings(DTS_JOB_ID=None)
    error = _failed(
        _only(run_intake(event_bytes("mns-topic-json.json"), settings_=settings)), "unroutable-change"
    )
    assert error.message == (
        "Unroutable change from mns-topic message 0A1B2C3D4E5F60718293A4B5C6D70031 (dts-change-topic): the "
        "document names no job, no DTS_CHANGE_ROUTES rule matches its source, and DTS_JOB_ID / "
        "DTS_INSTANCE_ID are not set"
    )


# ---------------------------------------------------------------------- removals


def _etag(body: bytes) -> str:
    """OSS's ETag of an object written by PutObject: the MD5 of its bytes, upper case."""
    return hashlib.md5(body, usedforsecurity=False).hexdigest().upper()


def _object_event(load_event, key: str, body: bytes):
    """The sample OSS event, naming `key` with the eTag of `body` (what OSS would send)."""
    event = load_event("oss-object-created.json")
    event["events"][0]["oss"]["object"].update(key=key, eTag=_etag(body))
    return event


def _postgres_event(load_event):
    name = "new-table-postgres.sql"
    return _object_event(load_event, PREFIX + name, (EVENTS_DIR / "changes" / name).read_bytes())


def test_intake_event_drop_is_reported_and_ignored_without_allow_removals(load_event, run_intake):
    change = _only(run_intake(_postgres_event(load_event))).changes[0]
    assert change.remove == ()
    assert change.warnings == (
        "skipped: 1 comment, 1 session setting",
        "DROP statements ignored (the route for this source does not allow removals): reporting.legacy_sales",
    )


def test_intake_event_drop_becomes_removal_when_route_allows(load_event, run_intake, make_settings):
    routes = [
        {"bucket": BUCKET, "prefix": PREFIX, "dtsJobId": "dtsrep", "allowRemovals": True, "name": "reports"}
    ]
    settings = make_settings(DTS_CHANGE_ROUTES=json.dumps(routes))
    change = _only(run_intake(_postgres_event(load_event), settings_=settings)).changes[0]
    assert change.remove == (ObjectRef("reporting", "legacy_sales"),)
    assert change.warnings == (
        "skipped: 1 comment, 1 session setting",
        "DROP statements applied as removals (route 'reports'): reporting.legacy_sales",
    )


def test_intake_event_explicit_removal_refused_when_route_forbids(event_bytes, run_intake, make_settings):
    routes = [{"topic": "dts-change-topic", "dtsJobId": "dtsjobx", "allowRemovals": False}]
    settings = make_settings(DTS_CHANGE_ROUTES=json.dumps(routes))
    outcome = _only(run_intake(event_bytes("mns-topic-json-attributes.json"), settings_=settings))
    error = _failed(outcome, "removal-not-allowed")
    assert error.message == (
        "Removal not allowed from mns-topic message 0A1B2C3D4E5F60718293A4B5C6D70032 (dts-change-topic): "
        "route topic=dts-change-topic sets allowRemovals false, and the change removes shop.wishlists_old"
    )


def test_intake_event_drop_only_file_without_removals_is_rejected(load_event, run_intake, reader):
    reader.put(BUCKET, PREFIX + "drop.sql", b"DROP TABLE shop.old;")
    event = _object_event(load_event, PREFIX + "drop.sql", b"DROP TABLE shop.old;")
    error = _failed(_only(run_intake(event)), "invalid-change")
    assert error.message.startswith(
        "Invalid change in oss://dts-change-config/dts-change/incoming/drop.sql: nothing to do"
    )


# ---------------------------------------------------------------------- FileOssUrl


def test_intake_event_file_oss_url_is_loaded_and_merged_never_forwarded(event_bytes, run_intake, reader):
    outcome = _only(run_intake(event_bytes("manual-modify-dts-job.json")))
    inline, loaded = outcome.changes
    assert reader.calls == [(BUCKET, PREFIX + "dblist-fragment.json")]
    assert inline.change_id == "manual-modify-0001" and inline.identity == "ClientToken:manual-modify-0001"
    assert loaded.change_id == "manual-modify-0001#FileOssUrl"
    assert loaded.identity == "ClientToken:manual-modify-0001#FileOssUrl"
    assert loaded.job == inline.job == JobTarget("dtsjob1demo", "dtsinst1demo", "Forward", "cn-hangzhou")
    assert loaded.source.file_oss_url == f"oss://{BUCKET}/{PREFIX}dblist-fragment.json"
    assert loaded.add is not None and list(loaded.add.to_wire()) == ["inventory"]
    assert "FileOssUrl" not in json.dumps(inline.to_record()["add"])


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://100.100.100.200/latest/meta-data/ram/security-credentials/", "ip-literal"),
        ("https://other-bucket.oss-cn-hangzhou.aliyuncs.com/x.json", "bucket-not-allowed"),
        ("https://evil.example/dts-change-config/x.json", "not-oss-host"),
        ("http://db-list-os-file.oss-cn-shanghai.aliyuncs.com/xxx", "dts-upload-bucket"),
        ("https://dts-change-config.oss-cn-shanghai.aliyuncs.com/x.json", "region-mismatch"),
        ("file:///etc/passwd", "scheme"),
        ("https://a:b@dts-change-config.oss-cn-hangzhou.aliyuncs.com/x.json", "userinfo"),
    ],
)
def test_intake_event_refused_file_oss_url_is_never_contacted(url, reason, load_event, run_intake, reader):
    # GIVEN the manual ModifyDtsJob sample with a hostile FileOssUrl
    event = load_event("manual-modify-dts-job.json")
    event["FileOssUrl"] = url
    # WHEN intake runs THEN the whole request fails with the refusal and OSS is never read
    error = _failed(_only(run_intake(event)), "oss-url-refused")
    assert error.details == {"reason": reason}
    assert reader.calls == []


def test_intake_event_file_oss_url_missing_object_is_not_found(load_event, run_intake):
    event = load_event("manual-modify-dts-job.json")
    event["FileOssUrl"] = f"oss://{BUCKET}/{PREFIX}missing.json"
    error = _failed(_only(run_intake(event)), "source-object-not-found")
    assert error.message == f"Source object not found: oss://{BUCKET}/{PREFIX}missing.json does not exist"


def test_intake_event_file_oss_url_naming_a_modify_request_is_rejected(load_event, run_intake):
    event = load_event("manual-modify-dts-job.json")
    event["FileOssUrl"] = f"oss://{BUCKET}/{PREFIX}modify-dts-job-request.json"
    error = _failed(_only(run_intake(event)), "invalid-change")
    assert error.message == (
        f"Invalid FileOssUrl document oss://{BUCKET}/{PREFIX}modify-dts-job-request.json: it is itself a "
        "ModifyDtsJob request; expected a DbList, change document, table list or SQL DDL"
    )


def test_intake_event_file_oss_url_document_for_other_job_is_rejected(load_event, run_intake, reader):
    reader.put(BUCKET, PREFIX + "other-job.json", json.dumps({"job": "dtsother", "add": ["a.b"]}).encode())
    event = load_event("manual-modify-dts-job.json")
    event["FileOssUrl"] = f"oss://{BUCKET}/{PREFIX}other-job.json"
    error = _failed(_only(run_intake(event)), "invalid-change")
    assert error.message.endswith(
        "its job (job dtsother Forward) differs from the request's (job dtsjob1demo Forward)"
    )


def test_intake_event_oss_triggered_request_may_read_its_own_bucket(
    load_event, run_intake, reader, make_settings
):
    # GIVEN an allow-list that does not name the bucket, and a request uploaded to that bucket
    settings = make_settings(DTS_CHANGE_ALLOWED_BUCKETS="somewhere-else")
    request = load_event("manual-modify-dts-job.json")
    reader.put(BUCKET, PREFIX + "req.json", json.dumps(request).encode())
    event = _object_event(load_event, PREFIX + "req.json", json.dumps(request).encode())
    # WHEN intake runs THEN the FileOssUrl in the same bucket is read for that event
    outcome = _only(run_intake(event, settings_=settings))
    assert outcome.status == "accepted", outcome.to_dict()
    assert len(outcome.changes) == 2


def test_intake_event_manual_request_may_not_read_unlisted_bucket(
    load_event, run_intake, reader, make_settings
):
    settings = make_settings(DTS_CHANGE_ALLOWED_BUCKETS="somewhere-else")
    error = _failed(
        _only(run_intake(load_event("manual-modify-dts-job.json"), settings_=settings)), "oss-url-refused"
    )
    assert error.details == {"reason": "bucket-not-allowed"}
    assert reader.calls == []


# ---------------------------------------------------------------------- object keys


def test_key_candidates_raw_first_then_decoded_forms():
    assert key_candidates("a/b.json") == ["a/b.json"]
    assert key_candidates("c++%20x.txt") == ["c++%20x.txt", "c   x.txt", "c++ x.txt"]


@pytest.mark.parametrize(
    ("event_key", "stored_key"),
    [
        ("dts-change/incoming/%E6%96%B0%E8%A1%A8+list%2B1%25.txt", "dts-change/incoming/新表 list+1%.txt"),
        ("dts-change/incoming/新表 list+1%.txt", "dts-change/incoming/新表 list+1%.txt"),
        ("dts-change/incoming/c++%20x.txt", "dts-change/incoming/c++ x.txt"),
        ("dts-change/incoming/100%25.txt", "dts-change/incoming/100%25.txt"),
    ],
)
def test_intake_event_raw_and_url_encoded_keys_resolve_to_the_right_object(
    event_key, stored_key, load_event, run_intake, reader
):
    # GIVEN an object whose key has spaces, "+", "%" and CJK characters, and decoys for wrong decodings
    right = b"shop.right_one\n"
    reader.put(BUCKET, stored_key, right)
    reader.put(BUCKET, "dts-change/incoming/c   x.txt", b"shop.wrong_one\n")
    event = load_event("oss-object-created.json")
    event["events"][0]["oss"]["object"]["key"] = event_key
    event["events"][0]["oss"]["object"]["eTag"] = hashlib.md5(right).hexdigest().upper()
    # WHEN intake runs THEN the right object is read and the change names the resolved key
    change = _only(run_intake(event)).changes[0]
    assert change.add is not None and change.add.to_wire() == {
        "shop": {"all": False, "Table": {"right_one": {}}}
    }
    assert change.source.key == stored_key


def test_intake_event_etag_mismatch_is_superseded_with_both_etags(load_event, run_intake, reader):
    # The object was overwritten after the event (issue 12.4): its content is the newer upload's,
    # never applied as this older event's; the error names both eTags
    event = load_event("oss-object-created.json")
    event["events"][0]["oss"]["object"]["eTag"] = "0" * 32
    error = _failed(_only(run_intake(event)), "object-superseded")
    current = _etag((EVENTS_DIR / "changes" / "new-table.sql").read_bytes())
    assert error.details == {"eventETag": "0" * 32, "currentETag": current}
    assert reader.calls == [(BUCKET, PREFIX + "new-table.sql")]


def test_intake_event_missing_object_lists_every_key_tried(load_event, run_intake):
    event = load_event("oss-object-created.json")
    event["events"][0]["oss"]["object"]["key"] = "gone+soon%21.json"
    error = _failed(_only(run_intake(event)), "source-object-not-found")
    assert error.message == (
        f"Source object not found: oss://{BUCKET}/gone+soon%21.json does not exist (also tried "
        "'gone soon!.json', 'gone+soon!.json')"
    )


def test_intake_event_object_over_cap_is_input_too_large(load_event, run_intake, reader, make_settings):
    settings = make_settings(DTS_CHANGE_MAX_DOCUMENT_BYTES="64")
    error = _failed(
        _only(run_intake(load_event("oss-object-created.json"), settings_=settings)), "input-too-large"
    )
    assert error.message == f"OSS object oss://{BUCKET}/{PREFIX}new-table.sql is over 64 bytes"


def test_intake_event_without_reader_is_a_configuration_error(event_bytes, settings):
    outcome = _only(intake_event(event_bytes("oss-object-created.json"), settings=settings, reader=None))
    error = _failed(outcome, "invalid-configuration")
    assert error.message == f"Cannot read oss://{BUCKET}/{PREFIX}new-table.sql: no OSS client is configured"


# ---------------------------------------------------------------------- failures stay contained


def test_intake_event_transient_read_error_keeps_retryable(event_bytes, settings):
    class Flaky(FakeReader):
        def get_object(self, bucket, key, max_bytes):
            raise NetworkError("Connection reset reading OSS")

    error = _failed(
        _only(intake_event(event_bytes("oss-object-created.json"), settings=settings, reader=Flaky())),
        "network-error",
    )
    assert error.retryable


def test_intake_event_unexpected_exception_becomes_internal_error_and_others_continue(event_bytes, settings):
    class Broken(FakeReader):
        def get_object(self, bucket, key, max_bytes):
            if key.endswith(".txt"):
                raise RuntimeError("boom")
            return super().get_object(bucket, key, max_bytes)

    fragment = b'{"a": {"all": true}}'
    reader = Broken({(BUCKET, PREFIX + "dblist-fragment.json"): fragment})
    batch = json.loads(event_bytes("eventbridge-oss-batch.json"))
    batch[1]["data"]["oss"]["object"]["eTag"] = _etag(fragment)
    first, second = intake_event(json.dumps(batch), settings=settings, reader=reader)
    error = _failed(first, "internal-error")
    assert error.message == f"Unexpected RuntimeError while reading oss://{BUCKET}/{PREFIX}table-names.txt"
    assert second.status == "accepted"


def test_intake_event_manual_unknown_object_lists_known_shapes(run_intake):
    error = _failed(_only(run_intake({"tables": ["a.b"]})), "unrecognised-event")
    assert error.message.startswith(
        "Unrecognised event: a JSON object with keys ['tables'] matches no change format; expected one of: "
        'native OSS trigger {"events": [...]}'
    )


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"\x00\x01\x02garbage", "unknown-format"),
        (b"shop.\xff\xfe", "invalid-json"),
        (b'{"add": ["a.b"], "add": []}', "invalid-json"),
        (b'{"add": ["a.b"]', "invalid-json"),
    ],
)
def test_intake_event_bad_bytes_are_permanent_errors_not_exceptions(body, code, run_intake):
    _failed(_only(run_intake(body)), code)


# ---------------------------------------------------------------------- idempotency


def test_intake_event_same_event_twice_gives_same_keys(event_bytes, run_intake):
    first = run_intake(event_bytes("mns-queue-rawdata.json"))
    second = run_intake(event_bytes("mns-queue-rawdata.json"))
    assert [o.changes[0].idempotency_key for o in first] == [o.changes[0].idempotency_key for o in second]


def test_intake_event_reused_id_with_new_content_is_a_new_change(load_event, run_intake):
    doc = load_event("manual-change.json")
    first = _only(run_intake(doc)).changes[0]
    doc["add"].append("shop.extra")
    second = _only(run_intake(doc)).changes[0]
    assert first.identity == second.identity == "id:manual-2024-05-01-0001"
    assert first.idempotency_key != second.idempotency_key


def test_intake_event_same_table_list_from_two_messages_is_two_changes(load_event, run_intake):
    # Without a document id, the source identity (message id) separates deliveries
    event = load_event("mns-queue-rawdata.json")
    event[1]["messageId"] = "C6DB60D1574661357FA2FFFF"
    keys = {o.changes[0].idempotency_key for o in run_intake(event)}
    original = {o.changes[0].idempotency_key for o in run_intake(load_event("mns-queue-rawdata.json"))}
    assert len(keys - original) == 1


def test_intake_event_dry_run_is_per_document(load_event, run_intake):
    doc = load_event("manual-change.json")
    doc["dryRun"] = True
    assert _only(run_intake(doc)).changes[0].dry_run is True


# ---------------------------------------------------------------------- settings


def test_intake_settings_from_env_defaults():
    settings = intake_settings_from_env(
        {
            "DTS_INSTANCE_ID": "dtsinst1",
            "FC_REGION": "cn-beijing",
            "DTS_CHANGE_ROUTES": json.dumps([{"bucket": "routed-bucket", "dtsJobId": "j"}]),
            "DTS_CHANGE_LEDGER": "oss://ledger-bucket/dts-change/ledger/",
            "OSS_ENDPOINT": "http://127.0.0.1:9000",
        }
    )
    assert settings.default_job == JobTarget(None, "dtsinst1", "Forward", "cn-beijing")
    assert settings.dts_region == "cn-beijing"
    assert settings.allowed_buckets == frozenset({"routed-bucket", "ledger-bucket"})
    assert settings.oss_endpoint == "http://127.0.0.1:9000"
    assert settings.caps == Caps()
    assert settings.caps.max_document_bytes == 4 * 1024 * 1024


def test_intake_settings_from_env_explicit_allow_list_and_caps():
    settings = intake_settings_from_env(
        {
            "DTS_CHANGE_ALLOWED_BUCKETS": " a-bucket, b-bucket ,",
            "DTS_CHANGE_MAX_OBJECTS": "5",
            "DTS_CHANGE_MAX_STATEMENTS": "7",
            "DTS_CHANGE_LEDGER": "/tmp/ledger",
        }
    )
    assert settings.allowed_buckets == frozenset({"a-bucket", "b-bucket"})
    assert (settings.caps.max_objects, settings.caps.max_statements) == (5, 7)
    assert settings.default_job is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DTS_CHANGE_MAX_OBJECTS": "many"}, "Invalid DTS_CHANGE_MAX_OBJECTS: 'many' is not an integer"),
        (
            {"DTS_CHANGE_MAX_DOCUMENT_BYTES": "0"},
            "Invalid DTS_CHANGE_MAX_DOCUMENT_BYTES: 0 is below the minimum of 1",
        ),
        ({"DTS_JOB_ID": "not a job"}, "Invalid DTS_JOB_ID: 'not a job' is not a DTS id"),
        (
            {"DTS_CHANGE_ROUTES": "[{}]"},
            "Invalid DTS_CHANGE_ROUTES: DTS_CHANGE_ROUTES[0]: expected exactly one of bucket (with optional prefix), topic or queue, got none (and 1 more)",
        ),
    ],
)
def test_intake_settings_from_env_invalid_values_are_configuration_errors(env, message):
    with pytest.raises(ConfigurationError) as info:
        intake_settings_from_env({**BASE_ENV, **env})
    assert info.value.code == "invalid-configuration"
    assert info.value.message == message
