"""Change records: recording, duplicates, transitions, the open index, crash repair, replay, pruning."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from dts_change.core.errors import (
    CorruptRecordError,
    InvalidTransitionError,
    LedgerConflictError,
    ReplayRefusedError,
)
from dts_change.state.ledger import Ledger
from dts_change.state.records import OPEN_STATES, ChangeRecord, ChangeState, job_key, record_key
from dts_change.state.storage import Store
from dts_change.state.storage.base import escape_segment

from .fakes import (
    CountingStore,
    CountingTaggedStore,
    CrashingStore,
    FakeClock,
    FakeOssClient,
    SimulatedCrashError,
    record_change,
    sales_change,
)

JOB = job_key("dtsab12cd", "Forward")
OTHER_JOB = job_key("dtsother", "Reverse")


def _record(ledger: Ledger, name: str, job: str = JOB) -> ChangeRecord:
    return record_change(ledger, name, job)


# ---------------------------------------------------------------- record


def test_ledger_record_new_change_is_pending_and_open(ledger: Ledger) -> None:
    record, created = ledger.record(
        idempotency_key="oss://b/k#etag1|sha256:ab", change_id="c1", job_key=JOB, change=sales_change("t1")
    )
    assert created is True
    assert record.state is ChangeState.PENDING
    assert record.version == 0
    assert record.key == record_key("oss://b/k#etag1|sha256:ab")
    assert record.idempotency_key == "oss://b/k#etag1|sha256:ab"
    assert ledger.get(record.key) == record
    assert ledger.open_changes(JOB) == [record]
    assert ledger.jobs_with_open_changes() == [JOB]


def test_ledger_duplicate_delivery_returns_existing_record(ledger: Ledger, clock: FakeClock) -> None:
    first = _record(ledger, "t1")
    moved = ledger.transition(first, ChangeState.SUBMITTED)
    clock.advance(30)
    again, created = ledger.record(
        idempotency_key="idem-t1", change_id="t1", job_key=JOB, change=sales_change("t1")
    )
    assert created is False
    assert again == moved
    assert ledger.open_changes(JOB) == [moved]


@pytest.mark.parametrize("clock_kind", ["same-instant", "real-time"])
def test_ledger_concurrent_duplicate_deliveries_create_exactly_one_record(
    store: Store, clock_kind: str
) -> None:
    # GIVEN one ledger shared by many deliveries of the same change (same instant: identical seq;
    # real time: every loser has its own index marker to clean up)
    ledger = Ledger(store, clock=FakeClock() if clock_kind == "same-instant" else time.time)
    barrier = threading.Barrier(12)
    results: list[tuple[ChangeRecord, bool]] = []

    def deliver() -> None:
        barrier.wait(timeout=5)
        results.append(
            ledger.record(idempotency_key="idem-race", change_id="c", job_key=JOB, change=sales_change("t"))
        )

    threads = [threading.Thread(target=deliver) for _ in range(12)]
    # WHEN they all record at once
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    # THEN exactly one created it, all got the same record, and the index holds it once
    assert len(results) == 12
    assert sum(created for _, created in results) == 1
    assert len({r.seq for r, _ in results}) == 1
    assert [r.key for r in ledger.open_changes(JOB)] == [record_key("idem-race")]
    assert len(store.list(f"open/{escape_segment(JOB)}/")) == 1


def test_ledger_open_changes_sorted_by_arrival(ledger: Ledger, clock: FakeClock) -> None:
    names = ["t3", "t1", "t2"]
    for name in names:
        _record(ledger, name)
        clock.advance(0.001)
    _record(ledger, "elsewhere", job=OTHER_JOB)
    assert [r.change_id for r in ledger.open_changes(JOB)] == names
    assert ledger.jobs_with_open_changes() == sorted([JOB, OTHER_JOB])


def test_ledger_record_json_round_trip_keeps_every_field() -> None:
    record = ChangeRecord(
        key="k",
        idempotency_key="i",
        change_id="c",
        job_key=JOB,
        seq="0001-k",
        state=ChangeState.SUBMITTED,
        change={"add": {"db": {"name": "db"}}},
        created_at=1.5,
        updated_at=2.5,
        version=3,
        attempts=2,
        last_error={"code": "throttled"},
        submissions=[{"phase": "add", "client_token": "t", "request_id": "r", "at": 2.0}],
        evidence={"detail": "x"},
        confirm_retries=1,
        pending_since=1.5,
    )
    assert ChangeRecord.from_json(record.to_json()) == record


def test_ledger_corrupt_record_raises_corrupt_record_error(store: Store, ledger: Ledger) -> None:
    record = _record(ledger, "t1")
    store.put(f"changes/{record.key}/000001.json", b'{"key": "k", "state": "nonsense"}')
    with pytest.raises(CorruptRecordError):
        ledger.get(record.key)


# ---------------------------------------------------------------- transitions


def test_ledger_transition_through_the_states_keeps_every_transition(store: Store, ledger: Ledger) -> None:
    record = _record(ledger, "t1")
    removal = ledger.transition(record, ChangeState.REMOVAL_SUBMITTED, submissions=[{"phase": "remove"}])
    submitted = ledger.transition(
        removal, ChangeState.SUBMITTED, submissions=[*removal.submissions, {"phase": "add"}]
    )
    applied = ledger.transition(submitted, ChangeState.APPLIED, evidence={"subSyncJob": "Finished"})
    # Each transition of an open change is a one-entry batch of the job's sequence, based on
    # version 0 (the change as recorded)
    assert [r.version for r in (record, removal, submitted, applied)] == [0, 0, 0, 0]
    assert applied.submissions == [{"phase": "remove"}, {"phase": "add"}]
    assert store.list(f"changes/{record.key}/") == [f"changes/{record.key}/000000.json"]
    batches = f"batches/{escape_segment(JOB)}/"
    assert store.list(batches) == [f"{batches}{n:012d}.json" for n in (1, 2, 3)]
    assert ledger.get(record.key) == applied
    assert ledger.open_changes(JOB) == []
    assert ledger.jobs_with_open_changes() == []


def test_ledger_transition_from_stale_copy_raises_ledger_conflict(ledger: Ledger) -> None:
    # GIVEN two invocations holding the same version of a change
    record = _record(ledger, "t1")
    ledger.transition(record, ChangeState.SUBMITTED)
    # WHEN the second one moves its (now stale) copy
    with pytest.raises(LedgerConflictError) as info:
        ledger.transition(record, ChangeState.DEAD_LETTERED)
    # THEN it is told to re-read, and the first writer's state stands
    assert info.value.retryable is True
    assert info.value.code == "ledger-conflict"
    assert ledger.get(record.key).state is ChangeState.SUBMITTED  # type: ignore[union-attr]


def test_ledger_update_keeps_state_and_bumps_version(ledger: Ledger) -> None:
    record = _record(ledger, "t1")
    updated = ledger.update(record, attempts=1, last_error={"code": "throttled"})
    assert (updated.state, updated.version, updated.attempts) == (ChangeState.PENDING, 0, 1)
    assert updated.last_error == {"code": "throttled"}
    with pytest.raises(LedgerConflictError):
        ledger.update(record, attempts=5)


def test_ledger_update_does_not_share_lists_with_the_caller(ledger: Ledger) -> None:
    record = _record(ledger, "t1")
    submissions = [{"phase": "add"}]
    updated = ledger.update(record, submissions=submissions)
    submissions.append({"phase": "mutated later"})
    assert updated.submissions == [{"phase": "add"}]
    assert ledger.get(record.key).submissions == [{"phase": "add"}]  # type: ignore[union-attr]


def test_ledger_transition_out_of_applied_raises_invalid_transition(ledger: Ledger) -> None:
    applied = ledger.transition(_record(ledger, "t1"), ChangeState.APPLIED)
    with pytest.raises(InvalidTransitionError):
        ledger.transition(applied, ChangeState.PENDING)


def test_ledger_update_of_identity_field_raises_invalid_transition(ledger: Ledger) -> None:
    record = _record(ledger, "t1")
    with pytest.raises(InvalidTransitionError):
        ledger.update(record, job_key="someone/else")
    with pytest.raises(InvalidTransitionError):
        ledger.update(record, evidence={"not json": object()})


# ---------------------------------------------------------------- cheap open index


def test_ledger_open_changes_reads_only_index_and_open_records(tmp_path: Any, clock: FakeClock) -> None:
    from dts_change.state.storage import DirectoryStore

    # GIVEN a long history: many closed changes, another job's open changes, and three open ones
    counting = CountingStore(DirectoryStore(tmp_path / "ledger"))
    ledger = Ledger(counting, clock=clock)
    for i in range(40):
        record = _record(ledger, f"old{i}")
        final = ChangeState.APPLIED if i % 2 else ChangeState.DEAD_LETTERED
        ledger.transition(ledger.transition(record, ChangeState.SUBMITTED), final)
        clock.advance(1)
    for i in range(10):
        _record(ledger, f"other{i}", job=OTHER_JOB)
    open_keys = {_record(ledger, f"new{i}").key for i in range(3)}
    counting.reads.clear()
    # WHEN the open changes of the job are listed by another instance (the writer would not
    # read back the versions it has just written: see the next test)
    found = Ledger(counting, clock=clock).open_changes(JOB)
    # THEN only the job's index, its batches (one listing, then each read once: a reader takes
    # them by number, not by time) and those three records were read
    assert {r.key for r in found} == open_keys
    index = f"open/{escape_segment(JOB)}/"
    allowed = (index, f"batches/{escape_segment(JOB)}/", *(f"changes/{key}/" for key in open_keys))
    assert all(key.startswith(allowed) for _, key in counting.reads), counting.reads
    batches = sum(1 for verb, key in counting.reads if verb == "get" and key.startswith("batches/"))
    assert batches == 80  # one per transition of the 40 closed changes
    assert len(counting.reads) == 2 + 2 * len(open_keys) + batches


def _tagged_counting_store() -> CountingTaggedStore:
    """A counting store on (fake) OSS, whose listing gives each object's ETag: the writer's memory
    of its versions needs those tags (a directory store gives none and is read back)."""
    from dts_change.state.storage import OssStore

    return CountingTaggedStore(OssStore(FakeOssClient(), "ledger-bucket", "deploy/ledger"))


def test_ledger_does_not_read_back_versions_it_wrote_but_still_lists_them(clock: FakeClock) -> None:
    counting = _tagged_counting_store()
    ledger = Ledger(counting, clock=clock)
    record = _record(ledger, "a")
    submitted = ledger.transition(record, ChangeState.SUBMITTED)
    counting.reads.clear()
    # WHEN the writer reads the change it has just written
    got = ledger.get(record.key)
    # THEN it lists the versions and the job's batches (the freshness check) and reads none back,
    # and gets its own copy
    assert got == submitted and got is not submitted
    assert counting.reads == [("list", f"changes/{record.key}/"), ("list", f"batches/{escape_segment(JOB)}/")]
    got.change["mutated"] = True
    assert "mutated" not in (ledger.get(record.key) or submitted).change
    # AND a later version written by another instance is read from the store
    other = Ledger(counting, clock=clock)
    latest = other.get(record.key)
    assert latest is not None
    applied = other.transition(latest, ChangeState.APPLIED)
    counting.reads.clear()
    assert ledger.get(record.key) == applied
    assert ("get", f"batches/{escape_segment(JOB)}/000000000002.json") in counting.reads


def test_ledger_reads_its_own_versions_again_once_they_are_not_fresh(clock: FakeClock) -> None:
    counting = _tagged_counting_store()
    ledger = Ledger(counting, clock=clock)
    record = _record(ledger, "a")
    counting.reads.clear()
    assert ledger.get(record.key) == record
    assert counting.reads == [("list", f"changes/{record.key}/"), ("list", f"batches/{escape_segment(JOB)}/")]
    # WHEN a quarter of an hour has passed on the ledger's clock (the memory is kept short to
    # bound it; the ETag, not the time, decides whether it is right: see the next test)
    clock.advance(900)
    counting.reads.clear()
    # THEN the version is read from the store again
    assert ledger.get(record.key) == record
    assert ("get", f"changes/{record.key}/000000.json") in counting.reads
    # AND a ledger whose retention is shorter than that keeps it only for half the retention
    short = Ledger(counting, clock=clock, retention_seconds=4.0)
    second = _record(short, "b")
    clock.advance(2)
    counting.reads.clear()
    assert short.get(second.key) == second
    assert ("get", f"changes/{second.key}/000000.json") in counting.reads


def test_ledger_never_recalls_a_version_whose_object_was_written_again_with_other_bytes(clock: FakeClock) -> None:
    counting = _tagged_counting_store()
    writer = Ledger(counting, clock=clock)
    record = _record(writer, "a")
    # WHEN another instance deletes the version and writes that name again at once (no clock
    # moves: a prune judged on a clock far ahead, then a redelivery recorded anew)
    name = f"changes/{record.key}/000000.json"
    counting.delete(name)
    other = Ledger(counting, clock=clock)
    clock.advance(0.5)
    again, created = other.record(idempotency_key="idem-a", change_id="a", job_key=JOB, change=sales_change("a"))
    assert created and again.seq != record.seq
    counting.reads.clear()
    # THEN the writer reads the new bytes from the store, not the ones it remembers
    assert writer.get(record.key) == again
    assert ("get", name) in counting.reads
    # AND it does not recall the old ones later either
    assert writer.get(record.key) == again


def test_ledger_on_a_store_without_tags_reads_its_own_versions_back(tmp_path: Any, clock: FakeClock) -> None:
    from dts_change.state.storage import DirectoryStore

    counting = CountingStore(DirectoryStore(tmp_path / "ledger"))
    ledger = Ledger(counting, clock=clock)
    record = _record(ledger, "a")
    counting.reads.clear()
    # WHEN the writer reads the change it has just written to a store whose listing names no content
    # THEN it reads it back: nothing could tell it that the name still holds its bytes
    assert ledger.get(record.key) == record
    assert counting.reads == [("list", f"changes/{record.key}/"), ("get", f"changes/{record.key}/000000.json"),
                              ("list", f"batches/{escape_segment(JOB)}/")]


def test_ledger_open_changes_takes_a_known_record_as_read(tmp_path: Any, clock: FakeClock) -> None:
    from dts_change.state.storage import DirectoryStore

    counting = CountingStore(DirectoryStore(tmp_path / "ledger"))
    writer = Ledger(counting, clock=clock)
    first = _record(writer, "first")
    clock.advance(1)
    second = _record(writer, "second")
    reader = Ledger(counting, clock=clock)
    known = reader.first_open_change(JOB)
    assert known == first
    counting.reads.clear()
    # WHEN the pass that read the first record under the lease lists the open changes
    found = reader.open_changes(JOB, known=known)
    # THEN that record is not read again; the others are
    assert found == [first, second] and found[0] is known
    assert not any(key.startswith(f"changes/{first.key}/") for _, key in counting.reads), counting.reads
    assert ("list", f"changes/{second.key}/") in counting.reads
    # AND with the index the pass listed, the index is not listed again either
    markers = reader.open_markers(JOB)
    assert reader.first_open_change(JOB, markers=markers) == first
    counting.reads.clear()
    assert reader.open_changes(JOB, known=known, markers=markers) == [first, second]
    assert counting.reads == [("list", f"batches/{escape_segment(JOB)}/"), ("list", f"changes/{second.key}/"),
                              ("get", f"changes/{second.key}/000000.json")]
    # AND a known record whose marker is not listed any more (moved on) is not returned
    writer.transition(first, ChangeState.APPLIED)
    assert reader.open_changes(JOB, known=known) == [second]


# ---------------------------------------------------------------- crash safety


def _crashing_ledger(tmp_path: Any, clock: FakeClock) -> tuple[CrashingStore, Ledger]:
    from dts_change.state.storage import DirectoryStore

    store = CrashingStore(DirectoryStore(tmp_path / "ledger"))
    return store, Ledger(store, clock=clock, marker_grace_seconds=60)


def test_ledger_crash_after_marker_before_record_is_cleaned_after_grace(
    tmp_path: Any, clock: FakeClock
) -> None:
    # GIVEN a process that dies after writing the index marker but before the record
    store, ledger = _crashing_ledger(tmp_path, clock)
    store.crash_prefix = "changes/"
    with pytest.raises(SimulatedCrashError):
        ledger.record(idempotency_key="idem-t1", change_id="t1", job_key=JOB, change=sales_change("t1"))
    index = f"open/{escape_segment(JOB)}/"
    # WHEN the index is read within the grace period, THEN the marker is kept (a writer may be mid-way)
    assert ledger.open_changes(JOB) == []
    assert len(store.list(index)) == 1
    # WHEN it is read after the grace period, THEN the orphan marker is dropped
    clock.advance(61)
    assert ledger.open_changes(JOB) == []
    assert store.list(index) == []
    # AND the redelivery records the change normally
    record, created = ledger.record(
        idempotency_key="idem-t1", change_id="t1", job_key=JOB, change=sales_change("t1")
    )
    assert created and ledger.open_changes(JOB) == [record]


def test_ledger_crash_while_closing_is_repaired_by_open_changes(tmp_path: Any, clock: FakeClock) -> None:
    # GIVEN a change whose applied record was written but whose index update was lost
    store, ledger = _crashing_ledger(tmp_path, clock)
    record = _record(ledger, "t1")
    store.crash_prefix = "closed/"
    with pytest.raises(SimulatedCrashError):
        ledger.transition(record, ChangeState.APPLIED)
    assert ledger.get(record.key).state is ChangeState.APPLIED  # type: ignore[union-attr]
    # WHEN the job's open changes are listed
    assert ledger.open_changes(JOB) == []
    # THEN the stale marker is gone and the closing is recorded for pruning
    assert store.list("open/") == []
    assert len(store.list("closed/")) == 1
    clock.advance(ledger.retention_seconds + 1)
    assert ledger.prune() == 1


def test_ledger_redelivery_after_aborted_record_drops_the_orphan_marker(
    tmp_path: Any, clock: FakeClock
) -> None:
    # GIVEN a crash right after the marker of a new change (the record write is the next step)
    store, ledger = _crashing_ledger(tmp_path, clock)
    store.crash_prefix = f"changes/{record_key('idem-t2')}/"
    with pytest.raises(SimulatedCrashError):
        ledger.record(idempotency_key="idem-t2", change_id="t2", job_key=JOB, change=sales_change("t2"))
    # WHEN the same change is delivered again while the orphan marker still stands
    clock.advance(1)
    record, created = ledger.record(
        idempotency_key="idem-t2", change_id="t2", job_key=JOB, change=sales_change("t2")
    )
    # THEN the change is open exactly once and the older marker (another seq) is removed
    assert created
    assert ledger.open_changes(JOB) == [record]
    assert store.list(f"open/{escape_segment(JOB)}/") == [f"open/{escape_segment(JOB)}/{record.seq}"]


# ---------------------------------------------------------------- replay


def test_ledger_replay_moves_dead_letter_back_to_pending(ledger: Ledger, clock: FakeClock) -> None:
    record = _record(ledger, "t1")
    dead = ledger.transition(
        ledger.update(record, attempts=3), ChangeState.DEAD_LETTERED, last_error={"code": "conflict"}
    )
    assert ledger.open_changes(JOB) == []
    clock.advance(3600)
    replayed = ledger.replay(record.key)
    assert replayed.state is ChangeState.PENDING
    assert replayed.idempotency_key == record.idempotency_key
    assert (replayed.attempts, replayed.replays, replayed.version) == (0, 1, dead.version + 1)
    assert replayed.pending_since == clock()
    assert replayed.last_error == {"code": "conflict"}
    assert ledger.open_changes(JOB) == [replayed]


def test_ledger_replay_of_change_not_dead_lettered_raises_replay_refused(ledger: Ledger) -> None:
    record = _record(ledger, "t1")
    with pytest.raises(ReplayRefusedError):
        ledger.replay(record.key)
    with pytest.raises(ReplayRefusedError):
        ledger.replay(record_key("never-recorded"))


def test_ledger_replay_in_progress_marker_survives_a_repair(tmp_path: Any, clock: FakeClock) -> None:
    # GIVEN a replay that wrote its marker but died before the pending record
    store, ledger = _crashing_ledger(tmp_path, clock)
    record = _record(ledger, "t1")
    ledger.transition(record, ChangeState.DEAD_LETTERED)
    clock.advance(5)
    store.crash_prefix = f"changes/{record.key}/"
    with pytest.raises(SimulatedCrashError):
        ledger.replay(record.key)
    index = f"open/{escape_segment(JOB)}/"
    # WHEN the index is repaired within the grace period, THEN the marker is kept
    assert ledger.open_changes(JOB) == []
    assert len(store.list(index)) == 1
    # AND after the grace period the orphan goes, the change stays dead-lettered
    clock.advance(61)
    assert ledger.open_changes(JOB) == []
    assert store.list(index) == []
    assert ledger.get(record.key).state is ChangeState.DEAD_LETTERED  # type: ignore[union-attr]


def test_ledger_replay_marker_of_a_replayer_whose_clock_is_behind_survives_a_repair(
    tmp_path: Any, clock: FakeClock
) -> None:
    # GIVEN a change dead-lettered by an instance, then replayed by one whose clock is behind by
    # more than the grace; the replay dies after its marker, before the pending version
    store, closer = _crashing_ledger(tmp_path, clock)
    record = _record(closer, "t1")
    closer.transition(record, ChangeState.DEAD_LETTERED)
    behind = FakeClock(clock() - 600)
    replayer = Ledger(store, clock=behind, marker_grace_seconds=60)
    store.crash_prefix = f"changes/{record.key}/"
    with pytest.raises(SimulatedCrashError):
        replayer.replay(record.key)
    store.crash_prefix = None
    index = f"open/{escape_segment(JOB)}/"
    # WHEN a pass of that instance repairs the index within the grace (the marker's stamp is older
    # than the closing's, by the two writers' clocks)
    assert replayer.open_changes(JOB) == []
    # THEN the marker stays: it opens a version after the record's latest, a reopening in progress
    assert len(store.list(index)) == 1
    # AND once the replay is done the change is open exactly once
    replayed = replayer.replay(record.key)
    assert replayer.open_changes(JOB) == [replayed]


def test_ledger_repair_racing_a_replay_of_the_change_keeps_the_replayed_change_listed(
    tmp_path: Any, clock: FakeClock
) -> None:
    # GIVEN a change whose dead-lettering died after its closing version, before the open marker
    # was deleted (the leftover marker a repair finishes)
    store, ledger = _crashing_ledger(tmp_path, clock)
    record = _record(ledger, "t1")
    store.crash_prefix = f"open/{escape_segment(JOB)}/"
    store.crash_on = ("delete",)
    with pytest.raises(SimulatedCrashError):
        ledger.transition(record, ChangeState.DEAD_LETTERED)
    store.crash_on = ("put_if_absent", "put", "delete")
    replayed: list[ChangeRecord] = []
    replayer = Ledger(store, clock=clock, marker_grace_seconds=60)
    original = store.put_if_absent

    def replay_before_the_repair_writes(key: str, data: bytes) -> bool:
        if key.startswith("closed/") and not replayed:
            # the repair read the closed record and the old marker; the operator's replay runs now
            replayed.append(replayer.replay(record.key))
        return original(key, data)

    store.put_if_absent = replay_before_the_repair_writes  # type: ignore[method-assign]
    clock.advance(61)
    # WHEN a pass repairs the index while the replay runs between its reads and its writes
    ledger.open_changes(JOB)
    store.put_if_absent = original  # type: ignore[method-assign]
    # THEN the replayed change is open AND listed (a pass finds it), not hidden
    assert replayed and replayed[0].state is ChangeState.PENDING
    assert ledger.get(record.key).state is ChangeState.PENDING  # type: ignore[union-attr]
    assert [r.key for r in ledger.open_changes(JOB)] == [record.key]


def test_ledger_marker_without_its_version_is_repaired_by_the_writers_stamps(
    tmp_path: Any, clock: FakeClock
) -> None:
    # GIVEN a closed change whose open marker an earlier release wrote (no `version` in it),
    # stamped before the closing: the closing died before deleting it
    store, ledger = _crashing_ledger(tmp_path, clock)
    record = _record(ledger, "t1")
    marker = f"open/{escape_segment(JOB)}/{record.seq}"
    store.put(marker, json.dumps({"key": record.key, "seq": record.seq, "job_key": JOB,
                                  "written_at": record.created_at}).encode())
    store.crash_prefix = "closed/"
    clock.advance(5)
    with pytest.raises(SimulatedCrashError):
        ledger.transition(record, ChangeState.APPLIED)
    store.crash_prefix = None
    # WHEN the index is read THEN the marker goes at once, as before markers said their version
    assert ledger.open_changes(JOB) == []
    assert store.list(f"open/{escape_segment(JOB)}/") == []
    assert len(store.list("closed/")) == 1


# ---------------------------------------------------------------- prune and full scans


def test_ledger_prune_deletes_only_closed_records_older_than_retention(
    ledger: Ledger, clock: FakeClock
) -> None:
    # GIVEN an applied and a dead-lettered change closed 8 days ago, one closed 1 day ago, one open
    old_applied = ledger.transition(_record(ledger, "a"), ChangeState.APPLIED)
    old_dead = ledger.transition(_record(ledger, "d"), ChangeState.DEAD_LETTERED)
    clock.advance(7 * 86400)
    recent = ledger.transition(_record(ledger, "r"), ChangeState.APPLIED)
    still_open = _record(ledger, "o")
    clock.advance(86400)
    # WHEN pruning
    pruned = ledger.prune()
    # THEN only the two old closed records are gone
    assert pruned == 2
    assert ledger.get(old_applied.key) is None
    assert ledger.get(old_dead.key) is None
    assert ledger.get(recent.key) == recent
    assert ledger.open_changes(JOB) == [still_open]
    assert ledger.prune() == 0


def test_ledger_prune_skips_change_replayed_after_closing(ledger: Ledger, clock: FakeClock) -> None:
    dead = ledger.transition(_record(ledger, "d"), ChangeState.DEAD_LETTERED)
    clock.advance(6 * 86400)
    replayed = ledger.replay(dead.key)
    clock.advance(2 * 86400)
    assert ledger.prune() == 0
    assert ledger.get(dead.key) == replayed


def test_ledger_all_records_filters_by_state(ledger: Ledger) -> None:
    pending = _record(ledger, "p")
    dead = ledger.transition(_record(ledger, "d"), ChangeState.DEAD_LETTERED)
    applied = ledger.transition(_record(ledger, "a"), ChangeState.APPLIED)
    assert ledger.all_records() == [pending, dead, applied]
    assert ledger.all_records({ChangeState.DEAD_LETTERED}) == [dead]
    assert ledger.all_records(set(OPEN_STATES)) == [pending]


def test_ledger_get_malformed_key_raises_invalid_store_key(ledger: Ledger) -> None:
    from dts_change.core.errors import InvalidStoreKeyError

    with pytest.raises(InvalidStoreKeyError):
        ledger.get("../../etc/passwd")


# ---------------------------------------------------------------- identities


def _record_as(ledger: Ledger, name: str, identity: str) -> ChangeRecord:
    record, created = ledger.record(
        idempotency_key=f"idem-{name}", change_id=name, job_key=JOB, change={**sales_change(name), "identity": identity}
    )
    assert created
    return record


def test_ledger_note_identity_reports_earlier_changes_under_the_same_identity(ledger: Ledger) -> None:
    first = _record_as(ledger, "one", "id:same")
    assert ledger.note_identity("id:same", first.key) == []
    second = _record_as(ledger, "two", "id:same")
    assert ledger.note_identity("id:same", second.key) == [first.key]
    # noting again is idempotent, and other identities are unaffected
    assert ledger.note_identity("id:same", second.key) == [first.key]
    assert ledger.note_identity("id:other", _record_as(ledger, "three", "id:other").key) == []


def test_ledger_prune_deletes_identity_markers_with_their_change(ledger: Ledger, clock: FakeClock) -> None:
    # GIVEN a change applied 8 days ago and a newer one under the same identity
    old = _record_as(ledger, "old", "id:reused")
    ledger.note_identity("id:reused", old.key)
    ledger.transition(old, ChangeState.APPLIED)
    clock.advance(8 * 86400)
    new = _record_as(ledger, "new", "id:reused")
    ledger.note_identity("id:reused", new.key)
    assert sorted(ledger.identity_markers("id:reused")) == sorted([old.key, new.key])
    # WHEN pruning
    assert ledger.prune() == 1
    # THEN the old change's marker went with it; the open change's marker stays
    assert ledger.identity_markers("id:reused") == [new.key]
    assert ledger.note_identity("id:reused", new.key) == []


def test_ledger_note_identity_drops_markers_left_behind_by_pruned_changes(ledger: Ledger, store: Store) -> None:
    # GIVEN a marker whose change is gone (written by an older version that never pruned markers)
    current = _record_as(ledger, "now", "id:stale")
    ghost = record_key("idem-pruned-long-ago")
    folder = ledger._identity_folder("id:stale")
    store.put_if_absent(folder + ghost, b"")
    # WHEN the identity is noted again THEN the ghost is not reported and its marker is deleted
    assert ledger.note_identity("id:stale", current.key) == []
    assert ledger.identity_markers("id:stale") == [current.key]


def test_ledger_admit_after_a_partial_read_keeps_the_unread_changes_in_order(ledger: Ledger, clock: FakeClock) -> None:
    # GIVEN three open changes a pass has seen in full
    records = []
    for name in ("first", "second", "third"):
        records.append(_record(ledger, name))
        clock.advance(1)
    ledger.admit(JOB, ledger.open_changes(JOB))
    # AND a change that becomes visible late, with a seq older than all of them (slow writer)
    now = clock.now
    clock.now = now - 100
    _record(ledger, "late")
    clock.now = now
    # WHEN a pass short of time reads only the oldest open change (issue 12.10): the late one,
    # which it moves to the end; then a pass reads them all
    ledger.admit(JOB, ledger.open_changes(JOB)[:1], complete=False)
    again = ledger.admit(JOB, ledger.open_changes(JOB))
    # THEN only the late one moved: the others were not taken for late arrivals
    assert [r.change_id for r in again] == ["first", "second", "third", "late"]
    assert [r.seq for r in again[:3]] == [r.seq for r in records]


def test_sending_note_names_the_token_and_changes_before_the_call_and_prune_drops_old_notes(
    ledger: Ledger, clock: FakeClock
) -> None:
    # GIVEN a note written before a ModifyDtsJob, and a newer one for another job
    ledger.note_sending("job-a/Forward", client_token="a" * 64, phase="addition", keys=["k2", "k1"],
                        sent_sha256="d" * 64)
    clock.advance(ledger.retention_seconds + 1)
    ledger.note_sending("job-b/Forward", client_token="b" * 64, phase="removal", keys=["k3"], sent_sha256="e" * 64)
    # THEN each job's notes name its token, phase and changes (sorted) and the digest sent
    [note] = ledger.sending_notes("job-a/Forward")
    assert (note["client_token"], note["phase"], note["keys"], note["dblist_sha256"]) == (
        "a" * 64, "addition", ["k1", "k2"], "d" * 64)
    assert [n["client_token"] for n in ledger.sending_notes("job-b/Forward")] == ["b" * 64]
    # WHEN pruning: the note older than the retention goes, the newer one stays
    ledger.prune()
    assert ledger.sending_notes("job-a/Forward") == []
    assert [n["client_token"] for n in ledger.sending_notes("job-b/Forward")] == ["b" * 64]
