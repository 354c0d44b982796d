"""The ledger and dead letters on OSS through the real OssClient, against the emulator on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

from dts_change.clients.credentials import Credentials
from dts_change.clients.oss import OssClient
from dts_change.clients.transport import Timeouts
from dts_change.core.errors import LeaseHeldError, LedgerConflictError, SignatureMismatchError
from dts_change.emulator import EmulatorServer
from dts_change.state.deadletter import DeadLetterRecord, DeadLetterSink
from dts_change.state.ledger import Ledger
from dts_change.state.records import ChangeState, job_key
from dts_change.state.storage import OssStore, open_store
from dts_change.state.storage.base import escape_segment
from tests.emulator_fixture import emulator_server as started_emulator

BUCKET = "ledger-bucket"
KEY_ID, KEY_SECRET = "LTAIledgertest", "ledger-test-secret"
JOB = job_key("dtsab12cd", "Forward")


class Clock:
    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def emulator_server() -> Iterator[EmulatorServer]:
    state = {
        "credentials": {KEY_ID: {"secret": KEY_SECRET, "securityToken": None}},
        "jobs": {},
        "buckets": {BUCKET: {}},
        "faults": [],
        "calls": [],
    }
    with started_emulator(state) as server:
        yield server


@pytest.fixture
def oss_client(emulator_server: Any) -> Iterator[OssClient]:
    client = OssClient(
        "cn-hangzhou",
        endpoint=emulator_server.endpoint,
        credentials=Credentials(KEY_ID, KEY_SECRET),
        timeouts=Timeouts(connect=2.0, read=5.0),
    )
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(oss_client: OssClient, clock: Clock) -> Ledger:
    return Ledger(open_store(f"oss://{BUCKET}/dts-change/ledger", oss_client=oss_client), clock=clock)


def test_ledger_oss_store_create_if_absent_uses_forbid_overwrite(
    oss_client: OssClient, emulator_server: Any
) -> None:
    store = open_store(f"oss://{BUCKET}/p", oss_client=oss_client)
    assert store.get("a/missing.json") is None
    assert store.put_if_absent("a/b%2Fc.json", b"first") is True
    assert store.put_if_absent("a/b%2Fc.json", b"second") is False
    assert store.get("a/b%2Fc.json") == b"first"
    assert store.list("a/") == ["a/b%2Fc.json"]
    puts = emulator_server.calls("PutObject")
    assert [call.get("forbidOverwrite") for call in puts] == [True, True]


def test_ledger_oss_change_lifecycle_and_duplicate(ledger: Ledger, clock: Clock) -> None:
    # GIVEN a change recorded on OSS and delivered again
    record, created = ledger.record(
        idempotency_key="oss://b/k#e1", change_id="c1", job_key=JOB, change={"add": {}}
    )
    duplicate, created_again = ledger.record(
        idempotency_key="oss://b/k#e1", change_id="c1", job_key=JOB, change={"add": {}}
    )
    assert (created, created_again) == (True, False)
    assert duplicate == record
    assert ledger.jobs_with_open_changes() == [JOB]
    # WHEN it is submitted, and a stale copy tries to move it too
    submitted = ledger.transition(
        record, ChangeState.SUBMITTED, submissions=[{"phase": "add", "request_id": "r1"}]
    )
    with pytest.raises(LedgerConflictError):
        ledger.transition(record, ChangeState.DEAD_LETTERED)
    assert ledger.open_changes(JOB) == [submitted]
    # THEN applying it closes it, and retention prunes it
    ledger.transition(submitted, ChangeState.APPLIED)
    assert ledger.open_changes(JOB) == []
    assert ledger.jobs_with_open_changes() == []
    clock.now += ledger.retention_seconds + 1
    assert ledger.prune() == 1
    assert ledger.get(record.key) is None


def test_ledger_oss_writer_memory_follows_the_etag_not_the_clocks(
    oss_client: OssClient, emulator_server: Any
) -> None:
    # GIVEN two instances on one OSS ledger, the pruning one's clock 61 s ahead, retention 60 s
    store = open_store(f"oss://{BUCKET}/dts-change/ledger", oss_client=oss_client)
    writer_clock, pruner_clock = Clock(), Clock()
    pruner_clock.now += 61
    writer = Ledger(store, clock=writer_clock, retention_seconds=60)
    pruner = Ledger(store, clock=pruner_clock, retention_seconds=60)
    first, _ = writer.record(idempotency_key="idem-skew", change_id="x", job_key=JOB, change={"add": {}})
    before = len(emulator_server.calls())
    # AND the writer does not read back what it has just written (the listing's ETag is its own;
    # the second listing is the job's batch folder, which resolving a change needs)
    assert writer.get(first.key) == first
    assert [c["action"] for c in emulator_server.calls()[before:]] == ["ListObjectsV2", "ListObjectsV2"]
    writer.transition(first, ChangeState.APPLIED)
    # WHEN the other instance prunes it and a redelivery records it again, moments later
    assert pruner.prune() == 1
    writer_clock.now += 1
    pruner_clock.now += 1
    again, created = pruner.record(idempotency_key="idem-skew", change_id="x", job_key=JOB, change={"add": {}})
    assert created
    # THEN the writer's next pass sees the new record (its version 0 has another ETag) and
    # leaves its open marker alone
    assert writer.open_changes(JOB) == [again]
    assert pruner.jobs_with_open_changes() == [JOB]


def test_ledger_oss_replay_reopens_dead_letter(ledger: Ledger) -> None:
    record, _ = ledger.record(idempotency_key="idem-dl", change_id="c2", job_key=JOB, change={"add": {}})
    ledger.transition(record, ChangeState.DEAD_LETTERED, last_error={"code": "conflict"})
    replayed = ledger.replay(record.key)
    assert replayed.state is ChangeState.PENDING
    assert ledger.open_changes(JOB) == [replayed]


def test_ledger_oss_lease_contention_one_holder(ledger: Ledger) -> None:
    # GIVEN four processes racing for one job's lease over HTTP
    barrier = threading.Barrier(4)
    won: list[Any] = []
    lost: list[LeaseHeldError] = []

    def take(owner: str) -> None:
        barrier.wait(timeout=5)
        try:
            won.append(ledger.acquire_lease(JOB, owner, 30))
        except LeaseHeldError as exc:
            lost.append(exc)

    threads = [threading.Thread(target=take, args=(f"p{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=15)
    # THEN exactly one holds it and it stays current until released
    assert len(won) == 1 and len(lost) == 3
    assert ledger.lease_is_current(won[0])
    ledger.release_lease(won[0])
    assert not ledger.lease_is_current(won[0])


def test_ledger_oss_lease_check_is_one_listing_that_tells_a_lookalike_generation(
    ledger: Ledger, emulator_server: EmulatorServer
) -> None:
    # GIVEN a held lease whose generation object is then deleted and created again, same name and
    # owner, by a contender that listed before it existed (what pruning makes possible)
    held = ledger.acquire_lease(JOB, "holder", 300)
    before = len(emulator_server.calls())
    assert ledger.lease_is_current(held)
    # THEN the check is one ListObjectsV2 over HTTP (no GetObject of either generation)
    assert [c["action"] for c in emulator_server.calls()[before:]] == ["ListObjectsV2"]
    name = f"leases/{escape_segment(JOB)}/{held.generation:012d}.json"
    stored = json.loads(ledger.store.get(name) or b"{}")
    ledger.store.delete(name)
    assert ledger.store.put_if_absent(name, json.dumps({**stored, "token": "lookalike"}).encode())
    # WHEN the holder checks again THEN the listed ETag is not the one OSS gave our write: not current
    assert not ledger.lease_is_current(held)


def test_ledger_oss_dead_letter_round_trip(oss_client: OssClient, clock: Clock) -> None:
    sink = DeadLetterSink(
        open_store(f"oss://{BUCKET}/dts-change/dead-letters", oss_client=oss_client), clock=clock
    )
    record = DeadLetterRecord(
        key="0123456789abcdef0123456789abcdef",
        change_id="c1",
        job_key=JOB,
        correlation_id="corr",
        original_event={"bucket": "dts-changes", "key": "changes/x.json", "SecurityToken": "tok-123456"},
        change={"add": {}},
        error={"code": "conflict", "message": "m"},
        attempts=1,
        first_seen=clock(),
        dead_lettered_at=clock(),
        request_ids=["r1"],
        job_status="Synchronizing",
        evidence=None,
    )
    dl_id = sink.write(record)
    listed = sink.list()
    assert [r.dl_id for r in listed] == [dl_id]
    assert listed[0].original_event["SecurityToken"] != "tok-123456"
    sink.mark_replayed(dl_id)
    assert sink.list() == []


def test_ledger_oss_wrong_credentials_raise_instead_of_reading_as_absent(emulator_server: Any) -> None:
    client = OssClient(
        "cn-hangzhou",
        endpoint=emulator_server.endpoint,
        credentials=Credentials(KEY_ID, "wrong-secret"),
        timeouts=Timeouts(connect=2.0, read=5.0),
    )
    try:
        store = OssStore(client, BUCKET, "p")
        with pytest.raises(SignatureMismatchError):
            store.get("k")
    finally:
        client.close()


def test_ledger_oss_store_delete_many_uses_delete_multiple_objects_in_batches_of_1000(
    oss_client: OssClient, emulator_server: Any
) -> None:
    # GIVEN 1,001 objects under the store's prefix (seeded directly), and one outside it
    state = emulator_server.get_state()
    names = [f"p/x/{i:04d}.json" for i in range(1001)]
    state["buckets"][BUCKET] = {**{name: "{}" for name in names}, "other/keep.json": "{}"}
    emulator_server.put_state(state)
    store = open_store(f"oss://{BUCKET}/p", oss_client=oss_client)
    # WHEN they are deleted with one missing key among them
    store.delete_many([name[len("p/"):] for name in names] + ["x/missing.json"])
    # THEN two signed DeleteMultipleObjects calls did it, and nothing else was touched
    batches = [c for c in emulator_server.calls() if c.get("action") == "Bucket:POST?delete"]
    assert [c["outcome"] for c in batches] == ["ok", "ok"]
    assert [c["deleted"] for c in batches] == [1000, 2]
    assert emulator_server.calls("DeleteObject") == []
    assert store.list("x/") == []
    assert sorted(emulator_server.get_state()["buckets"][BUCKET]) == ["other/keep.json"]


def test_ledger_oss_a_cold_reader_skips_batches_older_than_the_versions_it_resolves(
    oss_client: OssClient, emulator_server: Any, clock: Clock
) -> None:
    """Issue 12.10 hole 3 on the emulator (its clock stamps `LastModified`, moved with ours): a
    job's closed history is not read back, while a change submitted long ago still resolves
    with its old batch (the floor is the oldest version resolved)."""
    emulator_server.core.clock = clock
    oss_client._clock = lambda: datetime.fromtimestamp(clock.now, timezone.utc)  # signs on the same clock
    writer = Ledger(open_store(f"oss://{BUCKET}/dts-change/ledger", oss_client=oss_client), clock=clock)

    def record(name: str) -> Any:
        return writer.record(idempotency_key=f"oss://b/{name}", change_id=name, job_key=JOB, change={"add": {}})[0]

    def submit(rec: Any, token: str) -> Any:
        return writer.transition(rec, ChangeState.SUBMITTED, submissions=[{"phase": "add", "client_token": token}])

    for i in range(30):  # one change a minute, each closed by its own batches
        writer.transition(submit(record(f"h{i}"), f"t{i}"), ChangeState.APPLIED)
        clock.now += 60
    clock.now += 1_000
    fresh = record("fresh")
    gets = len(emulator_server.calls("GetObject"))
    cold = Ledger(open_store(f"oss://{BUCKET}/dts-change/ledger", oss_client=oss_client), clock=clock)
    assert [(r.key, r.state) for r in cold.open_changes(JOB)] == [(fresh.key, ChangeState.PENDING)]
    read = [c.get("key", "") for c in emulator_server.calls("GetObject")[gets:]]
    assert not [k for k in read if "/batches/" in k], read
    assert len(read) <= 2, read
    # A change submitted long ago and still open: its batch is read, however old
    old = Ledger(open_store(f"oss://{BUCKET}/dts-change/ledger", oss_client=oss_client), clock=clock)
    clock.now -= 10_000
    ancient = submit(record("ancient"), "t-ancient")
    clock.now += 10_000
    got = {r.key: r for r in old.open_changes(JOB)}
    assert got[ancient.key].state is ChangeState.SUBMITTED
    assert got[fresh.key].state is ChangeState.PENDING
