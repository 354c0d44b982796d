"""Review 4: the errors a pass notes on its open changes are written as few batches, not one per
change (a note that differs every pass, as the ClientToken of a failing ModifyDtsJob does while
changes keep arriving, otherwise adds open changes x passes batches that every cold read of the
job GETs), and a batch of notes stays far below the store's object cap."""

from __future__ import annotations

from types import SimpleNamespace

from dts_change.core.errors import ServiceUnavailableError
from dts_change.reconcile.context import MAX_NOTED_TOKENS, NOTE_INTERVAL_SECONDS, PassBase
from dts_change.state.batches import parse_batch_name
from dts_change.state.ledger import Ledger
from dts_change.state.records import ChangeRecord, ChangeState

from .test_batch_floor import JOB, _record, _world


def _batches(ledger: Ledger) -> list[int]:
    return sorted(n for n in (parse_batch_name(name) for name in ledger.store.list("batches/")) if n is not None)


def test_notes_of_many_changes_are_a_few_batches_and_every_change_is_noted() -> None:
    # GIVEN 1,001 open changes read under the job's lease
    clock, _, store = _world()
    ledger = Ledger(store, clock=clock)
    for i in range(1001):
        _record(ledger, f"n{i:04d}")
    records = ledger.open_changes(JOB)
    assert len(records) == 1001
    # WHEN a pass notes an error with the token of an unanswered ModifyDtsJob on all of them
    one = PassBase(JOB, SimpleNamespace(ledger=ledger, clock=clock), dry_run=False)  # type: ignore[arg-type]
    one.note_error(records, ServiceUnavailableError("ModifyDtsJob answered 503"), unanswered_token="tok-1")
    # THEN two batches hold the notes (1,000 changes at most each), not one per change
    assert _batches(ledger) == [1, 2]
    # AND every change carries the note and the token, as a new instance reads it
    again = Ledger(store, clock=clock).open_changes(JOB)
    assert {(r.attempts, tuple(r.unanswered_tokens), (r.last_error or {}).get("code")) for r in again} == {
        (1, ("tok-1",), "service-unavailable")}



def test_a_transition_of_more_changes_than_a_run_holds_is_written_whole() -> None:
    """Split into batches of 1,000, a transition of over 10,000 changes (what a thread's run of
    batches held at most) must not collide with its own first batches: each later batch follows
    the ones this call wrote, none of which names its changes. (The records are made here, as
    read at batch 0, rather than recorded one by one: only their batches are written.)"""
    # GIVEN 11,001 open changes of one job, read when the job had no batch
    clock, _, store = _world()
    ledger = Ledger(store, clock=clock)
    records = []
    for i in range(11_001):
        key = f"{i:032x}"
        record = ChangeRecord(key=key, idempotency_key=f"idem-{i}", change_id=f"c{i}", job_key=JOB,
                              seq=f"{i + 1:020d}-{key}", state=ChangeState.PENDING, change={}, created_at=1.0,
                              updated_at=1.0, version=0)
        record.read_batch = 0
        records.append(record)
    # WHEN one transition updates them all
    out = ledger.transition_many([(r, r.state, {"attempts": 1}) for r in records])
    # THEN it is written whole, as 12 batches in a row
    assert len(out) == 11_001 and {r.attempts for r in out} == {1}
    assert _batches(ledger) == list(range(1, 13))
    # AND a record of the same read not named by them is written after them, without a conflict
    extra = ChangeRecord(key="f" * 32, idempotency_key="idem-x", change_id="cx", job_key=JOB, seq=f"{20_000:020d}-{'f' * 32}",
                         state=ChangeState.PENDING, change={}, created_at=1.0, updated_at=1.0, version=0)
    extra.read_batch = 0
    ledger.transition_many([(extra, extra.state, {"attempts": 1})])
    assert _batches(ledger)[-1] == 13


def test_a_change_keeps_the_latest_unanswered_tokens_only_so_a_note_stays_small() -> None:
    # GIVEN one open change, and an outage in which every pass (more than NOTE_INTERVAL_SECONDS
    # apart) sends ModifyDtsJob with a new ClientToken and gets no answer
    clock, _, store = _world()
    ledger = Ledger(store, clock=clock)
    _record(ledger, "tok")
    one = PassBase(JOB, SimpleNamespace(ledger=ledger, clock=clock), dry_run=False)  # type: ignore[arg-type]
    for i in range(MAX_NOTED_TOKENS + 5):
        clock.advance(NOTE_INTERVAL_SECONDS + 1)
        one.note_error(ledger.open_changes(JOB), ServiceUnavailableError("no answer"), unanswered_token=f"tok-{i}")
    # THEN the change holds the latest MAX_NOTED_TOKENS tokens, in order, as a new instance reads it
    (record,) = Ledger(store, clock=clock).open_changes(JOB)
    assert record.unanswered_tokens == [f"tok-{i}" for i in range(5, MAX_NOTED_TOKENS + 5)]
    assert record.attempts == MAX_NOTED_TOKENS + 5
