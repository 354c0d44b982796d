"""Resolving a change reads its job's batches in number order only up to the one that closes it.

`apply_batches` ignores every entry after the first that closes an own version, and nothing names
that version again (a batch moves only open changes; a replay writes the next own version). So
the status of a change closed long ago costs its own batches, not the job's traffic since; an
open change, or one replayed since, still reads every batch from its floor on.
"""

from __future__ import annotations

from dts_change.state.batches import parse_batch_name
from dts_change.state.ledger import Ledger
from dts_change.state.records import ChangeRecord, ChangeState

from .fakes import CountingTaggedStore
from .test_batch_floor import _apply, _history, _record, _submit, _world


def _batches_read(store: CountingTaggedStore) -> list[int]:
    return sorted(n for verb, key in store.reads if verb == "get" and key.startswith("batches/")
                  for n in [parse_batch_name(key)] if n is not None)


def _dead_letter(ledger: Ledger, record: ChangeRecord) -> ChangeRecord:
    error = {"code": "Boom", "message": "failed", "hint": None, "details": None}
    return ledger.transition(record, ChangeState.DEAD_LETTERED, last_error=error)


def test_get_of_a_closed_change_reads_no_batch_after_the_one_that_closed_it() -> None:
    # GIVEN a change submitted (batch 1) and applied (batch 2), then 100 changes closed after it
    # (200 later batches, all within the floor: one a second)
    clock, _, store = _world()
    writer = Ledger(store, clock=clock)
    old = _apply(writer, _submit(writer, _record(writer, "old"), "t-old"))
    _history(writer, clock, 100, every=1.0)
    # WHEN a new instance resolves it
    counting = CountingTaggedStore(store)
    got = Ledger(counting, clock=clock).get(old.key)
    # THEN it is applied, as written, from its own batches only: none after its closing one
    assert got is not None and got.state is ChangeState.APPLIED
    assert got.submissions == old.submissions
    assert _batches_read(counting) == [1, 2]
    # AND its number is still the highest listed (what a writer based on it would follow)
    assert got.read_batch == 202


def test_get_of_an_open_change_still_reads_every_batch_since_its_version() -> None:
    # GIVEN a change submitted, 50 changes closed after it, then its attempts noted at the end
    clock, _, store = _world()
    writer = Ledger(store, clock=clock)
    old = _submit(writer, _record(writer, "old"), "t-old")
    _history(writer, clock, 50, every=1.0)
    noted = writer.update(writer.get(old.key), attempts=3)  # type: ignore[arg-type]
    # WHEN a new instance resolves it THEN the last batch is read too (it is still open)
    counting = CountingTaggedStore(store)
    got = Ledger(counting, clock=clock).get(old.key)
    assert got is not None and got.state is ChangeState.SUBMITTED and got.attempts == 3 == noted.attempts
    assert _batches_read(counting) == list(range(1, 103))


def test_a_change_replayed_after_its_closing_resolves_to_its_replayed_state() -> None:
    # GIVEN a change dead-lettered by a batch, 30 changes closed after it, then replayed (its next
    # own version, pending) and submitted again by a later batch, then 30 more closings
    clock, _, store = _world()
    writer = Ledger(store, clock=clock)
    x = _dead_letter(writer, _submit(writer, _record(writer, "x"), "t-first"))
    _history(writer, clock, 30, every=1.0)
    replayed = writer.replay(x.key)
    assert replayed.version == 1 and replayed.state is ChangeState.PENDING
    again = _submit(writer, writer.get(x.key), "t-again")  # type: ignore[arg-type]
    _history(writer, clock, 30, every=1.0, name="k")
    # WHEN a new instance resolves it
    # THEN it is the replayed version submitted again: the closing of version 0 does not end the read
    got = Ledger(store, clock=clock).get(x.key)
    assert got is not None and got.state is ChangeState.SUBMITTED and got.version == 1
    assert got.submissions[-1]["client_token"] == "t-again" == again.submissions[-1]["client_token"]
    # AND once applied, it resolves as applied, with no batch after that closing read
    done = _apply(writer, got)
    _history(writer, clock, 10, every=1.0, name="m")
    counting = CountingTaggedStore(store)
    final = Ledger(counting, clock=clock).get(x.key)
    assert final is not None and final.state is ChangeState.APPLIED and final.submissions == done.submissions
    closing = max(_batches_read(counting))
    assert closing == 2 + 60 + 1 + 60 + 1, _batches_read(counting)
