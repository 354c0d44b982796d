"""Review 4: the errors a pass notes on its open changes are written as few batches, not one per
change (a note that differs every pass, as the ClientToken of a failing ModifyDtsJob does while
changes keep arriving, otherwise adds open changes x passes batches that every cold read of the
job GETs), and a batch of notes stays far below the store's object cap."""

from __future__ import annotations

from types import SimpleNamespace

from dts_change.core.errors import ServiceUnavailableError
from dts_change.reconcile.context import PassBase
from dts_change.state.batches import parse_batch_name
from dts_change.state.ledger import Ledger

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
    one = PassBase(JOB, SimpleNamespace(ledger=ledger), dry_run=False)  # type: ignore[arg-type]
    one.note_error(records, ServiceUnavailableError("ModifyDtsJob answered 503"), unanswered_token="tok-1")
    # THEN two batches hold the notes (1,000 changes at most each), not one per change
    assert _batches(ledger) == [1, 2]
    # AND every change carries the note and the token, as a new instance reads it
    again = Ledger(store, clock=clock).open_changes(JOB)
    assert {(r.attempts, tuple(r.unanswered_tokens), (r.last_error or {}).get("code")) for r in again} == {
        (1, ("tok-1",), "service-unavailable")}
