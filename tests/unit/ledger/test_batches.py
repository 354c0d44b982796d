"""Batch transition records (issue 12.10): one object per submission or confirmation, the
effective record they give a change, staleness, batched closing, prune, crash points, and
ledgers written one version per transition (before batches) still read."""

from __future__ import annotations

from typing import Any

import pytest

from dts_change.state.ledger import Ledger
from dts_change.state.records import ChangeRecord, ChangeState, job_key
from dts_change.state.storage import DirectoryStore, OssStore, Store
from dts_change.state.storage.base import escape_segment

from .fakes import (
    CountingTaggedStore,
    CrashingStore,
    FakeClock,
    FakeOssClient,
    SimulatedCrashError,
)

JOB = job_key("dtsab12cd", "Forward")
BATCHES = f"batches/{escape_segment(JOB)}/"


def _change(name: str) -> dict[str, Any]:
    return {"id": name, "add": {"sales": {"name": "sales", "all": False, "Table": {name: {"name": name}}}}}


def _record(ledger: Ledger, name: str) -> ChangeRecord:
    record, created = ledger.record(idempotency_key=f"idem-{name}", change_id=name, job_key=JOB, change=_change(name))
    assert created
    return record


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


def test_an_own_version_materialises_the_batch_state_and_makes_older_entries_stale(
    store: Store, clock: FakeClock
) -> None:
    ledger = Ledger(store, clock=clock)
    a, b = _submit(ledger, [_record(ledger, "a"), _record(ledger, "b")])
    # WHEN one change gets an individual transition (an error noted: its own version 1)
    noted = ledger.update(a, last_error={"code": "X"}, attempts=1)
    # THEN that version holds the batch's state too
    assert noted.version == 1 and noted.state is ChangeState.SUBMITTED and noted.submissions == [_submission("t1")]
    assert ledger.get(a.key) == noted
    # AND a later batch based on version 1 applies; an entry based on version 0 (a writer that
    # had not seen version 1) does not
    [applied_a, applied_b] = _apply(ledger, [noted, b])
    assert Ledger(store, clock=clock).get(a.key) == applied_a and applied_a.last_error == {"code": "X"}
    c = _record(ledger, "c")
    stale = ledger.transition_many([(a, ChangeState.PENDING, {}), (c, ChangeState.SUBMITTED, {})])
    assert stale[0].state is ChangeState.PENDING  # what the stale writer believed
    cold = Ledger(store, clock=clock)
    assert cold.get(a.key) == applied_a and cold.get(b.key) == applied_b
    assert cold.get(c.key) == stale[1]
    assert [r.key for r in cold.all_records({ChangeState.APPLIED})] == sorted([a.key, b.key], key=lambda k: (
        applied_a if k == a.key else applied_b).seq)


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
    assert store.list("changes/") == [] and store.list(BATCHES) == [] and store.list("closed/") == []


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
    assert store.list("closed/") == [] and store.list(BATCHES) == []


def test_a_ledger_written_one_version_per_transition_is_still_read_and_pruned(tmp_path: Any, clock: FakeClock) -> None:
    # GIVEN a ledger written before batches: every transition its own version, its own markers
    store = DirectoryStore(tmp_path / "ledger")
    old = Ledger(store, clock=clock, retention_seconds=100)
    applied = old.transition(old.transition(_record(old, "old-applied"), ChangeState.SUBMITTED), ChangeState.APPLIED)
    submitted = old.transition(_record(old, "old-submitted"), ChangeState.SUBMITTED,
                               submissions=[_submission("t0")])
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
    assert store.list("changes/") == [] and store.list("closed/") == [] and store.list(BATCHES) == []


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
    assert store.list("changes/") == [] and store.list("closed/") == [] and store.list(BATCHES) == []


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
    # AND a cold ledger reads each change once and the batch once, then nothing more
    cold = Ledger(counting, clock=clock)
    counting.reads.clear()
    assert cold.open_changes(JOB) == records
    assert sum(1 for verb, _ in counting.reads if verb == "get") == 101
    counting.reads.clear()
    assert cold.open_changes(JOB) == records
    assert [verb for verb, _ in counting.reads] == ["list", "list", "list"]
