"""`index.on_failure` through the real path: FC failure records and EventBridge dead letters become
OSS dead letters in the emulator (over loopback), which `dts-change dlq list/show/replay` reads.

Checked against what the emulator's OSS holds (the raw objects) and against the sample files as
bytes, not against the code's own model.
"""

from __future__ import annotations

import base64
import importlib
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from dts_change.app import cli
from dts_change.app.failure_function import reset_failure_app
from dts_change.app.handler import reset_app
from dts_change.core.errors import DtsChangeError
from tests.conftest import EVENTS_DIR, REPO_ROOT
from tests.harness import BUCKET, JOB, LocalDeployment

DEAD_LETTER_PREFIX = "dts-change/dead-letter/"
LEDGER_PREFIX = "dts-change/ledger/"


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalDeployment]:
    """The emulator, and both functions' environment as s.yaml sets it (OSS ledger and dead letters)."""
    run = LocalDeployment(
        tmp_path,
        DTS_CHANGE_LEDGER=f"oss://{BUCKET}/{LEDGER_PREFIX}",
        DTS_CHANGE_DEAD_LETTER=f"oss://{BUCKET}/{DEAD_LETTER_PREFIX}",
        DTS_CHANGE_LOG_LEVEL="WARNING",
    )
    for name, value in run.env.items():
        monkeypatch.setenv(name, value)
    reset_failure_app()
    reset_app()
    try:
        yield run
    finally:
        reset_failure_app()
        reset_app()
        run.stop()


@pytest.fixture
def index_module(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """src/index.py imported as FC does (the code folder on sys.path)."""
    monkeypatch.syspath_prepend(str(REPO_ROOT / "src"))
    return importlib.import_module("index")


def context() -> Any:
    return SimpleNamespace(request_id="1-failure-fn-test", function=SimpleNamespace(timeout=30))


def stored_dead_letters(run: LocalDeployment) -> dict[str, dict[str, Any]]:
    """The dead-letter objects as the emulator's OSS holds them (key -> parsed JSON)."""
    bucket = run.server.get_state()["buckets"][BUCKET]
    return {
        key: json.loads(body)
        for key, body in bucket.items()
        if key.startswith(DEAD_LETTER_PREFIX) and key.endswith(".json")
    }


def run_cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = cli.main(list(argv))
    return code, out.getvalue()


# ------------------------------------------------------------------ FC's onFailure record


def test_on_failure_records_fc_failure_record_with_original_payload(
    deployment: LocalDeployment, index_module: ModuleType
) -> None:
    raw = (EVENTS_DIR / "fc-failure-record.json").read_bytes()
    sample = json.loads(raw)
    # WHEN FC hands the failure record to the failure function
    result = json.loads(index_module.on_failure(raw, context()))
    # THEN exactly one object sits under the dead-letter prefix, outside any job folder
    stored = stored_dead_letters(deployment)
    assert len(stored) == 1
    ((key, letter),) = stored.items()
    assert key.startswith(f"{DEAD_LETTER_PREFIX}_unrouted/")
    assert result["deadLetters"][0]["id"] == key[len(DEAD_LETTER_PREFIX) : -len(".json")]
    # AND it holds FC's original event byte for byte, and why FC gave up
    assert letter["original_event"]["kind"] == "fc-async-failure"
    assert letter["original_event"]["payload"] == sample["requestPayload"]
    assert letter["original_event"]["replayable"] is True
    assert letter["error"]["code"] == "async-invocation-failed"
    assert "network-error: connection reset by oss" in letter["error"]["message"]
    assert sample["requestContext"]["requestId"] in letter["error"]["message"]
    assert letter["attempts"] == sample["requestContext"]["approximateInvokeCount"]
    assert letter["first_seen"] == sample["timestamp"] / 1000
    # AND nothing was written to DTS or the ledger
    assert deployment.server.calls("ModifyDtsJob") == []
    assert not [k for k in deployment.server.get_state()["buckets"][BUCKET] if k.startswith(LEDGER_PREFIX)]


def test_dlq_list_show_replay_see_the_failure_record(deployment: LocalDeployment, index_module: ModuleType) -> None:
    # GIVEN a failure record dead-lettered by the failure function (the OSS object of its event exists)
    index_module.on_failure((EVENTS_DIR / "fc-failure-record.json").read_bytes(), context())
    (dl_id,) = [k[len(DEAD_LETTER_PREFIX) : -len(".json")] for k in stored_dead_letters(deployment)]
    before = deployment.db_list()
    # WHEN the operator lists, shows and replays it with the CLI
    code, listing = run_cli("dlq", "list")
    assert code == 0 and "async-invocation-failed" in listing
    code, shown = run_cli("dlq", "show", dl_id)
    assert code == 0 and json.loads(shown)["original_event"]["kind"] == "fc-async-failure"
    code, replayed = run_cli("dlq", "replay", dl_id, "--json")
    # THEN the original OSS event went through the handler: the SQL file's tables reached DTS
    assert code == 0, replayed
    assert [c["outcome"] for c in json.loads(replayed)["changes"]] in (["applied"], ["submitted"])
    deployment.settle()
    after = deployment.db_list()
    sql = (EVENTS_DIR / "changes" / "new-table.sql").read_text(encoding="utf-8").lower()
    new_tables = {t for db in after for t in (after[db].get("Table") or {})} - {
        t for db in before for t in (before[db].get("Table") or {})
    }
    assert new_tables and all(t in sql for t in new_tables)
    for db in before:  # no object was lost on the way
        assert set(before[db].get("Table") or {}) <= set(after[db].get("Table") or {})
    # AND the dead letter left the active list
    code, listing = run_cli("dlq", "list")
    assert "no dead letters" in listing


def test_on_failure_redelivered_record_is_not_stored_twice(
    deployment: LocalDeployment, index_module: ModuleType
) -> None:
    # GIVEN FC delivering the same failure record twice (delivery is at least once)
    raw = (EVENTS_DIR / "fc-failure-record.json").read_bytes()
    first = json.loads(index_module.on_failure(raw, context()))["deadLetters"][0]
    second = json.loads(index_module.on_failure(raw, context()))["deadLetters"][0]
    # THEN one dead letter exists, and the second delivery names it
    assert len(stored_dead_letters(deployment)) == 1
    assert second == {**first, "duplicate": True}
    # AND once replayed, a late redelivery does not bring it back
    assert run_cli("dlq", "replay", first["id"], "--json")[0] == 0
    third = json.loads(index_module.on_failure(raw, context()))["deadLetters"][0]
    assert third["duplicate"] is True
    assert run_cli("dlq", "list")[1].strip() == "no dead letters"


# ------------------------------------------------------------------ EventBridge's dead-letter queue


def test_on_failure_records_eventbridge_dead_letter_and_replays_it(
    deployment: LocalDeployment, index_module: ModuleType
) -> None:
    raw = (EVENTS_DIR / "eventbridge-dead-letter.json").read_bytes()
    undelivered = json.loads(raw)[0]["data"]["messageBody"]
    # WHEN the failure function's queue trigger delivers the dead-letter queue's message
    index_module.on_failure(raw, context())
    ((key, letter),) = stored_dead_letters(deployment).items()
    # THEN the undelivered event is kept as EventBridge wrote it
    assert letter["original_event"]["kind"] == "eventbridge-dead-letter"
    assert letter["original_event"]["payload"] == undelivered
    assert letter["error"]["code"] == "event-delivery-failed"
    assert "dts-change-trigger-dead-letter" in letter["error"]["message"]
    # AND replaying it applies the change the MNS message carried
    code, replayed = run_cli("dlq", "replay", key[len(DEAD_LETTER_PREFIX) : -len(".json")], "--json")
    assert code == 0, replayed
    deployment.settle()
    shop = deployment.db_list()["shop"]["Table"]
    assert {"payments", "refunds", "orders", "customers"} <= set(shop)


def test_on_failure_base64_queue_body_is_decoded_when_it_hides_json(
    deployment: LocalDeployment, index_module: ModuleType
) -> None:
    event = json.loads((EVENTS_DIR / "eventbridge-dead-letter.json").read_bytes())
    undelivered = event[0]["data"]["messageBody"]
    event[0]["data"]["messageBody"] = base64.b64encode(undelivered.encode()).decode()
    index_module.on_failure(json.dumps(event).encode(), context())
    ((_, letter),) = stored_dead_letters(deployment).items()
    assert letter["original_event"]["payload"] == undelivered


def test_on_failure_fc_record_carried_by_an_mns_queue_is_unwrapped(
    deployment: LocalDeployment, index_module: ModuleType
) -> None:
    # GIVEN onFailure routed to an MNS queue that the failure function's queue trigger reads
    record = (EVENTS_DIR / "fc-failure-record.json").read_text(encoding="utf-8")
    event = json.loads((EVENTS_DIR / "eventbridge-dead-letter.json").read_bytes())
    event[0]["data"]["messageBody"] = record
    index_module.on_failure(json.dumps(event).encode(), context())
    ((_, letter),) = stored_dead_letters(deployment).items()
    assert letter["original_event"]["kind"] == "fc-async-failure"
    assert letter["original_event"]["payload"] == json.loads(record)["requestPayload"]
    assert letter["original_event"]["failure"]["via"] == "mns-queue"


# ------------------------------------------------------------------ never fails on its input


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\xff\xfe\x00garbage",
        b"null",
        b"[]",
        b'{"requestContext": 5, "requestPayload": {"x": 1}, "responseContext": null}',
        b"[" * 5000,
        b'{"a": 1, "a": 2}',
        "plain text with a NUL \x00 and \u00e9".encode(),
    ],
    ids=["empty", "binary", "null", "empty-list", "odd-record", "deep", "duplicate-keys", "text"],
)
def test_on_failure_records_any_bytes(
    deployment: LocalDeployment, index_module: ModuleType, payload: bytes
) -> None:
    result = json.loads(index_module.on_failure(payload, context()))
    stored = list(stored_dead_letters(deployment).values())
    assert len(stored) == len([d for d in result["deadLetters"] if not d.get("duplicate")]) >= 1
    letter = stored[0]["original_event"]
    kept = letter.get("payload", "").encode("utf-8") if "payload" in letter else base64.b64decode(letter["payloadBase64"])
    if stored[0]["error"]["code"] == "unrecognised-event":
        assert kept == payload
    else:  # the odd record still has the record's three keys: recorded as a failure record
        assert stored[0]["error"]["code"] == "async-invocation-failed"


def test_on_failure_unrecognised_input_is_not_replayed(deployment: LocalDeployment, index_module: ModuleType) -> None:
    index_module.on_failure(b"\xff\xfe not an event", context())
    (key,) = stored_dead_letters(deployment)
    code, _ = run_cli("dlq", "replay", key[len(DEAD_LETTER_PREFIX) : -len(".json")])
    assert code == 2  # replay-refused: nothing of ours to send to the handler
    assert deployment.server.calls("ModifyDtsJob") == []
    assert JOB in deployment.server.get_state()["jobs"]


def test_on_failure_store_unavailable_raises_so_the_event_is_redelivered(
    deployment: LocalDeployment, index_module: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a dead-letter bucket that does not exist (the store cannot take the record)
    monkeypatch.setenv("DTS_CHANGE_DEAD_LETTER", "oss://no-such-bucket/dead-letter/")
    reset_failure_app()
    # WHEN a failure record arrives THEN the invocation fails (FC retries it) instead of dropping it
    with pytest.raises(DtsChangeError, match="NoSuchBucket"):
        index_module.on_failure((EVENTS_DIR / "fc-failure-record.json").read_bytes(), context())
    assert stored_dead_letters(deployment) == {}


@pytest.mark.parametrize("status", ["Enabled", "Suspended"])
def test_on_failure_refuses_a_versioned_dead_letter_bucket(
    deployment: LocalDeployment, index_module: ModuleType, status: str
) -> None:
    # GIVEN the dead letters' bucket has (had) versioning: create-if-absent would not hold there
    state = deployment.server.get_state()
    state["bucketVersioning"] = {BUCKET: status}
    deployment.server.put_state(state)
    # WHEN a failure record arrives THEN nothing is written and the invocation fails (FC retries)
    with pytest.raises(DtsChangeError) as raised:
        index_module.on_failure((EVENTS_DIR / "fc-failure-record.json").read_bytes(), context())
    assert raised.value.code == "store-bucket-versioned"
    assert stored_dead_letters(deployment) == {}


def test_on_failure_not_imported_by_the_handler_cold_start() -> None:
    # The failure module is loaded on the failure function's first event only.
    code = "import sys; sys.path.insert(0, 'src'); import index; print('dts_change.app.failure_function' in sys.modules or 'dts_change.app.failures' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_on_failure_reads_rotated_environment_keys_on_each_invocation(
    deployment: LocalDeployment, index_module: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11 point 10: FC rotates the role's keys in the environment; the instance must not keep
    the start-up copy."""
    raw = (EVENTS_DIR / "fc-failure-record.json").read_bytes()
    index_module.on_failure(raw, context())
    # GIVEN the keys were rotated: the old ones no longer exist
    state = deployment.server.get_state()
    state["credentials"] = {"STS.rotated": {"secret": "rotated-secret", "securityToken": "rotated-token"}}
    deployment.server.put_state(state)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "STS.rotated")
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "rotated-secret")
    monkeypatch.setenv("ALIBABA_CLOUD_SECURITY_TOKEN", "rotated-token")
    # WHEN the same instance records the next failure THEN it signs with the new keys
    seen = len(deployment.server.calls())
    result = json.loads(index_module.on_failure(raw, context()))
    # (the same record again: found already recorded, which needs the store read with the new keys)
    assert [d.get("duplicate") for d in result["deadLetters"]] == [True]
    after = deployment.server.calls()[seen:]
    assert after and all(c["outcome"] == "ok" for c in after), after
