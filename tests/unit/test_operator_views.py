"""Pure parts of the operator views: names, durations, status and history built from ledger records."""

from __future__ import annotations

import pytest

from dts_change.app.cli_text import parse_duration, parse_object, parse_when, stamp
from dts_change.app.history import collect_history
from dts_change.app.status import collect_status
from dts_change.core.change import JobTarget
from dts_change.core.dblist import ObjectRef
from dts_change.core.errors import ConfigurationError, PermissionDeniedError
from dts_change.core.observe import redact
from dts_change.state.deadletter import DeadLetterRecord
from dts_change.state.records import ChangeRecord, ChangeState

JOB = "j1/Forward"


def record(key: str, state: ChangeState, *, created: float, add=None, remove=None, submissions=None,
           pending_since: float = 0.0) -> ChangeRecord:
    return ChangeRecord(
        key=key, idempotency_key=f"id:{key}", change_id=f"change-{key}", job_key=JOB, seq=f"{int(created):020d}-{key}",
        state=state, created_at=created, updated_at=created + 5, version=1, pending_since=pending_since,
        change={"job": {"dtsJobId": "j1", "direction": "Forward"}, "add": add, "remove": remove or [],
                "source": {"kind": "oss", "bucket": "b", "key": "k.sql"}, "correlationId": f"corr-{key}"},
        submissions=submissions or [],
    )


@pytest.mark.parametrize(
    ("text", "db", "table"),
    [("shop.orders", "shop", "orders"), ("shop", "shop", None), ("`shop`.`gift.cards`", "shop", "gift.cards"),
     ("`my db`.t", "my db", "t"), ("`a``b`.c", "a`b", "c")],
)
def test_object_names_parse_as_printed(text, db, table):
    ref = parse_object(text)
    assert (ref.db, ref.table) == (db, table)
    assert parse_object(str(ref)) == ref  # printed names read back as the same object


@pytest.mark.parametrize("text", ["", "a.b.c", "`open", "shop."])
def test_bad_object_names_are_usage_errors(text):
    with pytest.raises(ConfigurationError):
        parse_object(text)


def test_names_with_dots_or_spaces_print_quoted_and_plain_names_do_not():
    assert str(ObjectRef("shop", "orders")) == "shop.orders"
    assert str(ObjectRef("shop", "gift.cards")) == "shop.`gift.cards`"
    assert str(ObjectRef("my db")) == "`my db`"


def test_durations_and_times():
    assert parse_duration("90", option="x") == 90
    assert parse_duration("15m", option="x") == 900
    assert parse_duration("2h", option="x") == 7200
    assert parse_when("1h", option="x", now=10_000) == 6_400
    assert parse_when("1970-01-01T01:00:00Z", option="x") == 3600
    with pytest.raises(ConfigurationError):
        parse_duration("soon", option="--max-pending-age")


def test_a_client_token_is_shown_and_secrets_stay_masked():
    shown = redact({"client_token": "abcdef123", "ClientToken": "abcdef123", "SecurityToken": "s3cr3t-token",
                    "access_key_secret": "s3cr3t-key"})
    assert shown["client_token"] == shown["ClientToken"] == "abcdef123"
    assert shown["SecurityToken"] == shown["access_key_secret"] == "***"


def test_status_is_settled_only_without_dead_letters_or_overdue_changes():
    old = record("a", ChangeState.PENDING, created=1000, add={"shop": {"all": False, "Table": {"t": {}}}})
    view = collect_status([old], [], lambda target: "Synchronizing", now=1000 + 600, max_pending_age=900)
    assert view["settled"] and view["jobs"][0]["open_changes"][0]["age_seconds"] == 600
    late = collect_status([old], [], lambda target: "Synchronizing", now=1000 + 901, max_pending_age=900)
    assert not late["settled"] and late["jobs"][0]["open_changes"][0]["overdue"]
    letter = DeadLetterRecord(key="b", change_id="change-b", job_key=JOB, correlation_id=None, original_event=None,
                              change=None, error={"code": "conflict"}, attempts=1, first_seen=1, dead_lettered_at=2,
                              dl_id="j1%2FForward/x-b")
    dead = collect_status([], [letter], lambda target: "Synchronizing", now=10, max_pending_age=900)
    assert not dead["settled"] and dead["jobs"][0]["dead_letters"][0]["dead_letter_id"] == "j1%2FForward/x-b"


def test_status_reports_an_unreadable_job_as_not_settled():
    def refuse(target: JobTarget) -> str:
        raise PermissionDeniedError("no role")

    view = collect_status([], [], refuse, now=0, max_pending_age=1, default_job=JobTarget("j1", None, "Forward"))
    assert not view["settled"] and view["jobs"][0]["dts_error"]["code"] == "permission-denied"


def test_history_is_newest_first_and_filters_by_object_and_time():
    first = record("a", ChangeState.APPLIED, created=100, add={"shop": {"all": False, "Table": {"orders": {}}}},
                   submissions=[{"at": 101, "client_token": "tok-a", "request_id": "req-a",
                                 "diff": {"added": ["shop.orders"], "removed": []}}])
    second = record("b", ChangeState.DEAD_LETTERED, created=200, remove=[["staging", "tmp"]])
    whole = record("c", ChangeState.PENDING, created=300, add={"shop": {"all": True}})
    entries = collect_history([first, second, whole], "j1")
    assert [e["change_id"] for e in entries] == ["change-c", "change-b", "change-a"]
    a = entries[-1]
    assert a["client_tokens"] == ["tok-a"] and a["request_ids"] == ["req-a"]
    assert a["objects_added"] == ["shop.orders"] and a["applied_at"] and a["source"]["bucket"] == "b"
    orders = collect_history([first, second, whole], JOB, touching=ObjectRef("shop", "orders"))
    assert [e["change_id"] for e in orders] == ["change-c", "change-a"]  # c adds the whole database
    assert [e["change_id"] for e in collect_history([first, second, whole], "j1", since=150, until=250)] == ["change-b"]
    assert collect_history([first], "other-job") == []


def test_history_finds_a_change_by_the_instance_id_it_named():
    # GIVEN a change that named the job by instance id, recorded under the job's key (job id)
    named = record("i", ChangeState.APPLIED, created=100)
    named.change["job"] = {"dtsJobId": "j1", "dtsInstanceId": "inst1", "direction": "Forward"}
    # THEN history finds it by the job id, by the instance id (bare or with the direction)
    assert [e["change_id"] for e in collect_history([named], "j1")] == ["change-i"]
    assert [e["change_id"] for e in collect_history([named], "inst1")] == ["change-i"]
    assert [e["change_id"] for e in collect_history([named], "inst1/Forward")] == ["change-i"]
    assert collect_history([named], "inst1/Reverse") == [] and collect_history([named], "inst2") == []


def test_history_dates_only_calls_and_names_what_a_removal_recorded_from_its_intent_took_out():
    # GIVEN a change whose removal call's answer was lost: a later pass saw the job list what its
    # removal intent noted and recorded that removal (no ClientToken, no request id), then the
    # addition phase was a call of its own
    landed = {"phase": "removal", "client_token": None, "request_id": None, "at": 150, "confirmed": True,
              "evidence": {"removalIntentListed": {"shop": {}}},
              "expect": {"absent": [["shop", "orders"]], "present": []}}
    call = {"phase": "addition", "at": 160, "client_token": "tok-b", "request_id": "req-b",
            "diff": {"added": ["shop.orders_v2"], "removed": []}}
    swap = record("s", ChangeState.APPLIED, created=100, add={"shop": {"all": False, "Table": {"orders_v2": {}}}},
                  remove=[["shop", "orders"]], submissions=[landed, call])
    entry = collect_history([swap], "j1")[0]
    # THEN the submission times are the call's only, and the recorded removal is in what it removed
    assert entry["submitted_at"] == [stamp(160)]
    assert entry["client_tokens"] == ["tok-b"]
    assert entry["objects_removed"] == ["shop.orders"] and entry["objects_added"] == ["shop.orders_v2"]
