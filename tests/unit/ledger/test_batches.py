"""Batch transition records (issue 12.10): one object per submission or confirmation, the
effective record they give a change, staleness, batched closing, prune, crash points, and
ledgers written one version per transition (before batches) still read."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import pytest

from dts_change.core.errors import LedgerConflictError
from dts_change.state.ledger import Ledger
from dts_change.state.records import ChangeRecord, ChangeState, job_key
from dts_change.state.snapshots import snapshot_name
from dts_change.state.storage import DirectoryStore, OssStore, Store
from dts_change.state.storage.base import escape_segment

from .fakes import (
    CountingTaggedStore,
    CrashingStore,
    FakeClock,
    FakeOssClient,
    SimulatedCrashError,
    record_change,
)

JOB = job_key("dtsab12cd", "Forward")
BATCHES = f"batches/{escape_segment(JOB)}/"


def _record(ledger: Ledger, name: str) -> ChangeRecord:
    return record_change(ledger, name, JOB)


def _by_seq(records: list[ChangeRecord]) -> list[ChangeRecord]:
    """Ledger order (changes recorded at the same instant sort by key)."""
    return sorted(records, key=lambda r: r.seq)


def _submission(token: str) -> dict[str, Any]:
    return {"phase": "addition", "client_token": token, "request_id": f"req-{token}", "at": 1.0}


def _submit(ledger: Ledger, records: list[ChangeRecord], token: str = "t1") -> list[ChangeRecord]:
    return ledger.transition_many(
        [(r, ChangeState.SUBMITTED, {"submissions": [*r.submissions, _submission(token)]}) for r in records]
    )


def _apply(ledger: Ledger, records: list[ChangeRecord]) -> list[ChangeRecord]:
    moves = []
    for r in records:
        submissions = [dict(s) for s in r.submissions]
        submissions[-1]["confirmed"] = True
        moves.append((r, ChangeState.APPLIED, {"submissions": submissions}))
    return ledger.transition_many(moves)


def _versions(store: Store, record: ChangeRecord) -> list[str]:
    return store.list(f"changes/{record.key}/")


def test_batch_submission_is_one_object_and_gives_each_change_its_state(store: Store, clock: FakeClock) -> None:
    ledger = Ledger(store, clock=clock)
    records = [_record(ledger, f"c{i}") for i in range(5)]
    clock.advance(1)
    # WHEN five changes are submitted in one pass
    written = _submit(ledger, records)
    # THEN one batch object holds the transition; no change has a second own version
    assert len(store.list(BATCHES)) == 1
    assert all(len(_versions(store, r)) == 1 for r in records)
    # AND every reader (this ledger, and a cold one) sees each change submitted with its submission
    for reader in (ledger, Ledger(store, clock=clock)):
        for before, after in zip(records, written, strict=True):
            got = reader.get(before.key)
            assert got == after
            assert got is not None and got.state is ChangeState.SUBMITTED and got.version == 0
            assert got.submissions == [_submission("t1")]
        assert reader.open_changes(JOB) == _by_seq(written)
        assert {r.key: r.state for r in reader.all_records()} == {r.key: ChangeState.SUBMITTED for r in records}


def test_batch_applying_closes_with_one_marker_and_no_open_marker_left(store: Store, clock: FakeClock) -> None:
    ledger = Ledger(store, clock=clock)
    records = _submit(ledger, [_record(ledger, f"c{i}") for i in range(4)])
    clock.advance(1)
    # WHEN the four are confirmed in one pass
    applied = _apply(ledger, records)
    # THEN two batches, one `closed/` marker naming all four, no open marker, nothing open
    assert len(store.list(BATCHES)) == 2
    closed = store.list("closed/")
    assert len(closed) == 1 and "-batch-" in closed[0]
    assert store.list("open/") == []
    assert ledger.open_changes(JOB) == [] and not ledger.jobs_with_open_changes()
    assert all(r.state is ChangeState.APPLIED for r in applied)
    cold = Ledger(store, clock=clock)
    assert [cold.get(r.key) for r in records] == applied
    assert all(r.submissions[-1]["confirmed"] for r in cold.all_records({ChangeState.APPLIED}))
    # AND a closed change stays closed: a batch refuses to move it
    from dts_change.core.errors import InvalidTransitionError

    with pytest.raises(InvalidTransitionError):
        ledger.transition_many([(applied[0], ChangeState.SUBMITTED, {}), (applied[1], ChangeState.SUBMITTED, {})])


def test_an_individual_transition_is_a_one_entry_batch_and_a_stale_writer_collides(
    store: Store, clock: FakeClock
) -> None:
    ledger = Ledger(store, clock=clock)
    a, b = _submit(ledger, [_record(ledger, "a"), _record(ledger, "b")])
    # GIVEN a second writer that read both changes after the submission (batch 1)
    stale = Ledger(store, clock=clock)
    read = stale.open_changes(JOB)
    assert [r.read_batch for r in read] == [1, 1]
    # WHEN the first notes an error on one (batch 2: no own version) and applies both (batch 3)
    noted = ledger.update(a, last_error={"code": "X"}, attempts=1)
    assert noted.version == 0 and noted.state is ChangeState.SUBMITTED and noted.submissions == [_submission("t1")]
    assert store.list(BATCHES) == [f"{BATCHES}{n:012d}.json" for n in (1, 2)]
    assert ledger.get(a.key) == noted
    [applied_a, applied_b] = _apply(ledger, [noted, b])
    assert Ledger(store, clock=clock).get(a.key) == applied_a and applied_a.last_error == {"code": "X"}
    # THEN a write from the first writer's own older copy is refused (batch 2 moved it)
    with pytest.raises(LedgerConflictError):
        ledger.update(a, attempts=5)
    # AND every write the second writer bases on what it read wants number 2, which exists
    c = _record(ledger, "c")
    for moves in (
        [(read[0], ChangeState.PENDING, {})],
        [(read[1], ChangeState.SUBMITTED, {"attempts": 9})],
        [(read[0], ChangeState.APPLIED, {}), (read[1], ChangeState.APPLIED, {})],
    ):
        with pytest.raises(LedgerConflictError):
            stale.transition_many(moves)
    assert store.list(BATCHES) == [f"{BATCHES}{n:012d}.json" for n in (1, 2, 3)]
    # AND a record read before a batch mixed with one read after it collides too (lowest read)
    fresh = stale.get(c.key)
    assert fresh is not None and fresh.read_batch == 3
    with pytest.raises(LedgerConflictError):
        stale.transition_many([(read[0], ChangeState.PENDING, {}), (fresh, ChangeState.SUBMITTED, {})])
    cold = Ledger(store, clock=clock)
    assert cold.get(a.key) == applied_a and cold.get(b.key) == applied_b
    assert cold.open_changes(JOB) == [c]
    assert store.list("open/") == [f"open/{escape_segment(JOB)}/{c.seq}"]


def test_a_record_not_read_through_the_batches_is_read_again_before_a_write(store: Store, clock: FakeClock) -> None:
    ledger = Ledger(store, clock=clock)
    recorded = _record(ledger, "a")
    assert recorded.read_batch is None
    # GIVEN another writer moved it since (batch 1)
    other = Ledger(store, clock=clock)
    moved = other.update(other.get(recorded.key), attempts=3)  # type: ignore[arg-type]
    # WHEN the first writes from the record `record` gave it: refused, the other's state stands
    with pytest.raises(LedgerConflictError):
        ledger.update(recorded, attempts=1)
    assert Ledger(store, clock=clock).get(recorded.key) == moved
    # AND a record `record` gave that nothing moved is written after the job's last batch
    second = _record(ledger, "b")
    written = ledger.update(second, attempts=1)
    assert written.read_batch == 2 and store.list(BATCHES)[-1] == f"{BATCHES}{2:012d}.json"


def test_a_change_recorded_again_after_a_prune_does_not_take_the_old_batch_entries(
    store: Store, clock: FakeClock
) -> None:
    ledger = Ledger(store, clock=clock)
    records = _apply(ledger, _submit(ledger, [_record(ledger, "a"), _record(ledger, "b")]))
    # GIVEN the batch objects left behind (a crash before they were pruned: simulated by
    # deleting only the versions and the marker)
    for r in records:
        for name in _versions(store, r):
            store.delete(name)
    for name in store.list("closed/"):
        store.delete(name)
    clock.advance(1)
    # WHEN the same change is recorded again (version 0 again, another seq)
    again = _record(ledger, "a")
    # THEN it is pending: the old entries were based on the other seq
    assert Ledger(store, clock=clock).get(again.key) == again
    assert ledger.open_changes(JOB) == [again]


def test_prune_deletes_batch_closed_changes_their_batches_and_their_markers(store: Store, clock: FakeClock) -> None:
    ledger = Ledger(store, clock=clock, retention_seconds=100)
    closed = _apply(ledger, _submit(ledger, [_record(ledger, f"c{i}") for i in range(6)]))
    # AND one change submitted in a later batch that is still open
    clock.advance(10)
    still = _submit(ledger, [_record(ledger, "open1"), _record(ledger, "open2")], token="t2")
    clock.advance(101)
    # WHEN pruned past the retention
    assert ledger.prune() == 6
    # THEN the closed changes, their marker and their two batches are gone; the open ones stay
    assert all(not _versions(store, r) for r in closed)
    assert store.list("closed/") == []
    assert len(store.list(BATCHES)) == 1
    assert Ledger(store, clock=clock).open_changes(JOB) == _by_seq(still)
    # AND once those close and age too, everything is gone
    _apply(ledger, still)
    clock.advance(101)
    assert ledger.prune() == 2
    # (but the job's highest batch, whose number the next writer reads)
    assert store.list("changes/") == [] and store.list("closed/") == []
    assert store.list(BATCHES) == [f"{BATCHES}{4:012d}.json"]


def test_prune_cut_short_inside_a_batch_marker_leaves_a_marker_for_the_rest(tmp_path: Any, clock: FakeClock) -> None:
    store = DirectoryStore(tmp_path / "ledger")
    ticks = [0.0]

    def monotonic() -> float:
        ticks[0] += 1.0  # every call a second: the deadline lands inside the marker
        return ticks[0]

    ledger = Ledger(store, clock=clock, retention_seconds=100, monotonic=monotonic)
    records = _apply(ledger, _submit(ledger, [_record(ledger, f"c{i}") for i in range(8)]))
    clock.advance(101)
    # WHEN the deadline comes before the marker's first change: nothing deleted, marker as it was
    before = store.list("closed/")
    assert ledger.prune(deadline=ticks[0] + 2) == 0
    assert store.list("closed/") == before and all(_versions(store, r) for r in records)
    # WHEN it comes after a few of them
    first = ledger.prune(deadline=ticks[0] + 12)
    # THEN some were deleted, and a marker naming the others replaced the batch's marker
    assert 0 < first < 8
    markers = store.list("closed/")
    assert len(markers) == 1 and "-rest-" in markers[0]
    # AND the next prune finishes the rest: nothing is left, nothing was lost on the way
    assert first + ledger.prune() == 8
    assert all(not _versions(store, r) for r in records)
    assert store.list("closed/") == [] and store.list(BATCHES) == [f"{BATCHES}{2:012d}.json"]


def test_a_ledger_written_one_version_per_transition_is_still_read_and_pruned(tmp_path: Any, clock: FakeClock) -> None:
    # GIVEN a ledger written before batches: every transition its own version, its own markers
    store = DirectoryStore(tmp_path / "ledger")
    # (the own-version writer that replay still uses wrote every transition then)
    old = Ledger(store, clock=clock, retention_seconds=100)
    own = old._write_transition
    applied = own(own(_record(old, "old-applied"), ChangeState.SUBMITTED, {}), ChangeState.APPLIED, {})
    submitted = own(_record(old, "old-submitted"), ChangeState.SUBMITTED, {"submissions": [_submission("t0")]})
    pending = _record(old, "old-pending")
    assert store.list(BATCHES) == []
    # WHEN a ledger of this version reads it and goes on with batches
    new = Ledger(store, clock=clock, retention_seconds=100)
    assert new.get(applied.key) == applied and new.open_changes(JOB) == _by_seq([submitted, pending])
    [done, moved] = new.transition_many([
        (submitted, ChangeState.APPLIED, {"submissions": [{**_submission("t0"), "confirmed": True}]}),
        (pending, ChangeState.SUBMITTED, {"submissions": [_submission("t1")]}),
    ])
    # THEN the old versions are the bases of the batch entries
    assert Ledger(store, clock=clock).get(submitted.key) == done and done.version == 1
    assert Ledger(store, clock=clock).open_changes(JOB) == [moved]
    # AND prune deletes old-style and batch-closed changes alike
    _apply(new, [moved])
    clock.advance(101)
    assert new.prune() == 3
    assert store.list("changes/") == [] and store.list("closed/") == []
    assert store.list(BATCHES) == [f"{BATCHES}{2:012d}.json"]  # the job's highest stays


# ---------------------------------------------------------------- crash points


def _crashing(tmp_path: Any, clock: FakeClock) -> tuple[CrashingStore, Ledger]:
    store = CrashingStore(DirectoryStore(tmp_path / "ledger"))
    return store, Ledger(store, clock=clock, retention_seconds=100, marker_grace_seconds=60)


@pytest.mark.parametrize("prefix", ["batches/", "closed/", "open/"])
def test_a_crash_at_any_write_of_a_batch_closing_leaves_a_state_the_next_pass_completes(
    tmp_path: Any, clock: FakeClock, prefix: str
) -> None:
    store, ledger = _crashing(tmp_path, clock)
    records = _submit(ledger, [_record(ledger, f"c{i}") for i in range(3)])
    # WHEN the process dies before the batch, before its `closed/` marker, or before the open
    # markers are deleted
    store.crash_prefix = prefix
    with pytest.raises(SimulatedCrashError):
        _apply(ledger, records)
    restarted = Ledger(store, clock=clock, retention_seconds=100, marker_grace_seconds=60)
    left = restarted.open_changes(JOB)
    if prefix == "batches/":
        # THEN nothing was written: the changes are still submitted, and are applied next pass
        assert left == _by_seq(records)
        _apply(restarted, left)
    else:
        # THEN the changes are applied, and the next look at the index finishes the closing
        assert left == []
    assert store.list("open/") == []
    assert all(restarted.get(r.key).state is ChangeState.APPLIED for r in records)  # type: ignore[union-attr]
    # AND every one of them is pruned in time, with its batches: nothing left, nothing twice
    clock.advance(101)
    assert restarted.prune() == 3
    assert store.list("changes/") == [] and store.list("closed/") == []
    assert store.list(BATCHES) == [f"{BATCHES}{2:012d}.json"]  # the job's highest stays


def test_a_crash_before_the_batch_of_a_submission_leaves_the_changes_pending(tmp_path: Any, clock: FakeClock) -> None:
    store, ledger = _crashing(tmp_path, clock)
    records = [_record(ledger, f"c{i}") for i in range(3)]
    store.crash_prefix = "batches/"
    with pytest.raises(SimulatedCrashError):
        _submit(ledger, records)
    # THEN the changes are as they were (the write-ahead note names the call DTS may have got)
    assert Ledger(store, clock=clock).open_changes(JOB) == _by_seq(records)


# ---------------------------------------------------------------- reads


def test_a_warm_ledger_reads_no_object_back_and_lists_changes_once_for_many_open_changes(clock: FakeClock) -> None:
    counting = CountingTaggedStore(OssStore(FakeOssClient(), "ledger-bucket", "deploy/ledger"))
    ledger = Ledger(counting, clock=clock)
    records = _by_seq(_submit(ledger, [_record(ledger, f"c{i:03d}") for i in range(100)]))
    counting.reads.clear()
    # WHEN the writer lists the job's open changes
    assert ledger.open_changes(JOB) == records
    # THEN three listings (the index, every version at once, the job's batches) and no read
    assert [verb for verb, _ in counting.reads] == ["list", "list", "list"], counting.reads[:10]
    # AND a cold ledger, with no snapshot kept, looks for the job's snapshot once, then reads
    # each change once and the batch once, then nothing more
    cold = Ledger(counting, clock=clock)
    counting.reads.clear()
    assert cold.open_changes(JOB) == records
    gets = [name for verb, name in counting.reads if verb == "get"]
    assert len(gets) == 102 and gets.count(snapshot_name(JOB)) == 1, gets[:5]
    counting.reads.clear()
    assert cold.open_changes(JOB) == records
    assert [verb for verb, _ in counting.reads] == ["list", "list", "list"]
    # AND once the lease holder kept the job's snapshot, a cold ledger reads it and the batch,
    # not each change
    ledger.keep_snapshot(JOB, [r.key for r in records])
    counting.reads.clear()
    assert Ledger(counting, clock=clock).open_changes(JOB) == records
    gets = [name for verb, name in counting.reads if verb == "get"]
    assert len(gets) == 2 and snapshot_name(JOB) in gets, gets


def test_changes_closed_one_by_one_are_pruned_with_their_batches_without_reading_their_markers(
    clock: FakeClock,
) -> None:
    counting = CountingTaggedStore(OssStore(FakeOssClient(), "ledger-bucket", "deploy/ledger"))
    ledger = Ledger(counting, clock=clock, retention_seconds=100)
    records = [_record(ledger, f"c{i}") for i in range(3)]
    # GIVEN each change dead-lettered on its own (a one-entry closing batch each: 1, 2, 3)
    for r in records:
        ledger.transition(r, ChangeState.DEAD_LETTERED, last_error={"code": "X"})
    markers = counting.list("closed/")
    assert len(markers) == 3 and all("-single-" in m for m in markers)
    clock.advance(101)
    # WHEN pruned by an instance that never read them
    cold = Ledger(counting, clock=clock, retention_seconds=100)
    counting.reads.clear()
    assert cold.prune() == 3
    # THEN no marker was read (its name names the change, version, seq and batch), the changes
    # and their batches are gone but the job's highest (the number the next writer reads)
    assert not any(verb == "get" and key.startswith("closed/") for verb, key in counting.reads), counting.reads
    assert counting.list("changes/") == [] and counting.list("closed/") == []
    assert counting.list(BATCHES) == [f"{BATCHES}{3:012d}.json"]
    # AND the next batch of the job is numbered after the highest kept
    late = _record(cold, "late")
    assert cold.update(late, attempts=1).read_batch == 4


def test_a_reader_keeps_the_new_marker_of_a_resequencing_whose_batch_it_did_not_see(
    store: Store, clock: FakeClock
) -> None:
    # (marker ages on the fake clock, as the `ledger` fixture's)
    writer = Ledger(store, clock=clock, marker_grace_seconds=60, lease_time="local")
    _record(writer, "late")
    [record] = writer.open_changes(JOB)
    new_seq = f"{int(record.seq.partition('-')[0]) + 10:020d}-{record.key}"
    # GIVEN a re-sequencing that wrote its new open marker, not its batch yet
    new_marker = f"open/{escape_segment(JOB)}/{new_seq}"
    writer._write_open_marker(new_marker, replace(record, seq=new_seq), clock())
    # WHEN another instance reads the job's open changes in between
    reader = Ledger(store, clock=clock, marker_grace_seconds=60, lease_time="local")
    assert [r.seq for r in reader.open_changes(JOB)] == [record.seq]
    # THEN the new marker stays (within the grace), so once the batch and the old marker's
    # delete land, the change is open and listed under its new seq
    assert new_marker in store.list("open/")
    [moved] = writer._write_batch([(record, record.state, {}, {"seq": new_seq})])
    store.delete(f"open/{escape_segment(JOB)}/{record.seq}")
    assert [r.seq for r in Ledger(store, clock=clock).open_changes(JOB)] == [new_seq] == [moved.seq]
    # AND a marker left behind by a re-sequencing that never wrote its batch goes after the grace
    stray = f"open/{escape_segment(JOB)}/{int(new_seq.partition('-')[0]) + 10:020d}-{record.key}"
    writer._write_open_marker(stray, replace(moved, seq=stray.rsplit("/", 1)[1]), clock())
    reader.open_changes(JOB)
    assert stray in store.list("open/")
    clock.advance(61)
    assert [r.seq for r in reader.open_changes(JOB)] == [new_seq]
    assert store.list("open/") == [f"open/{escape_segment(JOB)}/{new_seq}"]


def test_two_threads_sharing_a_ledger_do_not_take_each_other_s_batches_as_read(store: Store, clock: FakeClock) -> None:
    ledger = Ledger(store, clock=clock)
    a, b = _record(ledger, "a"), _record(ledger, "b")
    read = ledger.open_changes(JOB)  # read by a pass on this thread (batch 0)
    # GIVEN another thread's pass (the next holder, same instance) moves change b (batch 1)
    other = threading.Thread(target=lambda: ledger.update(ledger.get(b.key), attempts=7))  # type: ignore[arg-type]
    other.start()
    other.join()
    # WHEN this thread writes from what it read, even for a change the other did not name
    # THEN it collides: it did not read batch 1
    with pytest.raises(LedgerConflictError):
        ledger.update(next(r for r in read if r.key == a.key), attempts=1)
    # AND its own batches do count as read: after writing one, it goes on with the others
    fresh = ledger.open_changes(JOB)
    first = ledger.update(next(r for r in fresh if r.key == a.key), attempts=1)
    second = ledger.update(next(r for r in fresh if r.key == b.key), attempts=8)
    assert (first.read_batch, second.read_batch) == (2, 3)
