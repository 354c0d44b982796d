"""Review finding: the memory of versions a ledger wrote (`Ledger._known`) trusts that "only prune
deletes one, once its change has been closed for the retention" on *this* instance's clocks. Prune
runs on another instance judging the closing stamp (the writer's clock) by its own clock: with that
clock 60 s ahead and the minimum retention (60 s), the change is pruned and recorded again (a
redelivery) while the writer still recalls its old version 0. The writer's next `open_changes`
takes the old bytes for the new record, sees another seq and deletes the new record's open marker:
the new change is never reconciled (it stays pending, listed by no job).

docs/reliability.md Timing 2: leases are judged on the store's clock because instance clocks may
be off ("an instance whose clock is ahead by ten leases leaves a live lease alone"); Timing 9:
replay after pruning records the change again."""

from __future__ import annotations

from dts_change.state.ledger import Ledger
from dts_change.state.records import ChangeState, job_key
from dts_change.state.storage import Store

from .fakes import FakeClock, sales_change

JOB = job_key("dtsab12cd", "Forward")


def test_a_change_recorded_again_after_another_instance_pruned_it_stays_visible(store: Store) -> None:
    # GIVEN two instances on one ledger, the pruning one's clock 61 s ahead, retention 60 s
    writer_clock, pruner_clock = FakeClock(), FakeClock()
    pruner_clock.advance(61)
    writer = Ledger(store, clock=writer_clock, monotonic=writer_clock, lease_time="local", retention_seconds=60)
    pruner = Ledger(store, clock=pruner_clock, monotonic=pruner_clock, lease_time="local", retention_seconds=60)
    first, _ = writer.record(idempotency_key="idem-x", change_id="x", job_key=JOB, change=sales_change("x"))
    writer.transition(first, ChangeState.APPLIED)
    # WHEN the other instance prunes it and the same change is delivered again (recorded anew)
    assert pruner.prune() == 1
    writer_clock.advance(1)
    pruner_clock.advance(1)
    again, created = pruner.record(idempotency_key="idem-x", change_id="x", job_key=JOB, change=sales_change("x"))
    assert created
    # AND the first instance's next pass lists the job's open changes
    seen_by_writer = writer.open_changes(JOB)
    # THEN both instances see the new record, and its open marker is still there
    # (with the writer's memory expired, 31 s on, both assertions hold: the memory is the cause)
    still_open = pruner.jobs_with_open_changes()
    assert [r.seq for r in seen_by_writer] == [again.seq]
    assert still_open == [JOB]
