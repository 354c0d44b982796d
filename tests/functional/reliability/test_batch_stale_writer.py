"""Batch records and a writer that read the changes before another moved them (review of issue 12.10).

Before batch records every transition was the change's next own version, written create-if-absent:
a second writer based on the same version got `LedgerConflictError`. The first batch layout lost
that (a batch entry took no own version, two batches never collided); now every write to open
changes is a batch of the job's one sequence, numbered after the batch read with the records, so
the stale writer collides again (its individual transitions were own versions in the review and
are one-entry batches now; the test names keep the review's words). Each test drives the real handler against the
emulator (ledger on its OSS) to the point where a holder has applied the changes, then writes
what a holder that lost its lease would still write with the records it had read, and checks the
promise against the store: every change either closed, or open AND in its job's index (a pass
finds it). A change open with no open marker never reaches a final state and nobody sees it.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from dts_change.app.handler import App
from dts_change.app.settings import Settings
from dts_change.core.errors import LedgerConflictError
from dts_change.state.records import ChangeRecord, ChangeState
from tests.harness import JOB_KEY, TIMER, LocalDeployment, fc_context, manual_change, oss_deployment


def _backlog(tmp_path: Path) -> LocalDeployment:
    deploy = oss_deployment(tmp_path)
    deploy.record_while_busy(manual_change(name, add=[f"shop.stale_{name}"]) for name in ("s1", "s2"))
    return deploy


def _nothing_hidden(deploy: LocalDeployment) -> None:
    """Every change closed, or open and found by the next pass (its marker in the job's index)."""
    cold = deploy.new_app().ledger
    found = {r.key for r in cold.open_changes(JOB_KEY)}
    hidden = [(r.change_id, r.state.value) for r in cold.all_records() if r.is_open and r.key not in found]
    assert hidden == [], hidden


def _applied_and_listed(deploy: LocalDeployment) -> None:
    assert deploy.states() == {"s1": "applied", "s2": "applied"}
    tables = deploy.db_list()["shop"]["Table"]
    assert "stale_s1" in tables and "stale_s2" in tables


def test_an_own_version_from_a_record_read_before_a_closing_batch_does_not_hide_the_change(
    tmp_path: Path,
) -> None:
    deploy = _backlog(tmp_path)
    try:
        # GIVEN a holder that read the pending changes, then lost its lease (slow call)
        stale = deploy.new_app().ledger
        read_before = stale.open_changes(JOB_KEY)
        assert [r.state for r in read_before] == [ChangeState.PENDING] * 2
        # AND the next holder submitted and applied them (two batch records, one closing marker)
        deploy.tick()
        deploy.tick()
        _applied_and_listed(deploy)
        # WHEN the old holder notes the error it met on the records it read (what `_aborted` does
        # after a lost lease in a retry: `note_error` with the unanswered ClientToken)
        batches = deploy.app.ledger.store.list("batches/")
        refused = 0
        for record in read_before:
            try:
                stale.update(record, last_error={"code": "LeaseLost"}, attempts=record.attempts + 1,
                             unanswered_tokens=["tok"])
            except LedgerConflictError:
                refused += 1
        # THEN each write is refused: it is numbered after the batches the old holder read (none),
        # which the next holder's batches took (one sequence per job, create-if-absent)
        assert refused == len(read_before) and deploy.app.ledger.store.list("batches/") == batches
        # THEN the changes are still applied (or at least visible to a pass), never open and unseen
        _nothing_hidden(deploy)
        _applied_and_listed(deploy)
    finally:
        deploy.stop()


def test_a_batch_from_a_record_read_before_a_closing_batch_does_not_reopen_the_change(tmp_path: Path) -> None:
    deploy = _backlog(tmp_path)
    try:
        # GIVEN the changes submitted by one pass (one batch)
        deploy.tick()
        assert deploy.states() == {"s1": "submitted", "s2": "submitted"}
        # AND a holder that read them then (and listed the job's batches), then lost its lease
        stale = deploy.new_app().ledger
        read_before: list[ChangeRecord] = stale.open_changes(JOB_KEY)
        assert [r.state for r in read_before] == [ChangeState.SUBMITTED] * 2
        # AND the next holder confirmed and applied them (closing batch, open markers deleted)
        deploy.tick()
        _applied_and_listed(deploy)
        # WHEN the old holder writes its own batch for them, based on the same own versions (a
        # confirmation that keeps them open for another fold)
        moves = []
        for r in read_before:
            submissions = [dict(s) for s in r.submissions]
            submissions[-1]["confirmed"] = True
            moves.append((r, r.state, {"submissions": submissions}))
        with contextlib.suppress(LedgerConflictError):
            stale.transition_many(moves)
        # THEN they stay applied: a closed change is never reopened by a batch, and nothing is
        # left open without its marker
        _nothing_hidden(deploy)
        _applied_and_listed(deploy)
    finally:
        deploy.stop()


@pytest.mark.parametrize(
    ("action", "key", "every"),
    [
        ("PutObject", "batches/", 1),  # the submission's batch
        ("PutObject", "batches/", 2),  # the closing batch
        ("PutObject", "closed/", 1),  # the marker naming the closed changes
        ("Bucket:POST?delete", None, 1),  # DeleteMultipleObjects: their open markers
    ],
)
def test_a_lost_answer_to_a_batch_era_write_ends_applied_once(
    tmp_path: Path, action: str, key: str | None, every: int
) -> None:
    deploy = _backlog(tmp_path)
    try:
        # GIVEN OSS carries out the write but its answer is lost (connection reset)
        fault: dict[str, object] = {"service": "oss", "action": action, "reset": True, "phase": "after",
                                    "count": 1, "every": every}
        if key is not None:
            fault["keyContains"] = key
        deploy.server.add_fault(fault)
        # WHEN timer passes run until nothing is open
        deploy.settle()
        # THEN the fault fired, both changes are applied and listed, after ONE accepted
        # ModifyDtsJob, and nothing is left open unseen
        assert any(c.get("outcome") == "connection-reset" for c in deploy.server.calls(action))
        _applied_and_listed(deploy)
        assert len(deploy.modify_calls()) == 1
        _nothing_hidden(deploy)
        assert deploy.app.ledger.store.list("open/") == []
    finally:
        deploy.stop()


def test_a_holder_whose_retry_outlived_its_lease_does_not_hide_what_the_next_holder_applied(
    tmp_path: Path,
) -> None:
    deploy = _backlog(tmp_path)
    try:
        nxt = deploy.new_app()
        woken: list[bool] = []

        def sleep(_seconds: float) -> None:
            # A's back-off before its second attempt outlives its lease: another holder takes the
            # job, records a third change and applies all three (batch records, one write).
            if woken:
                return
            woken.append(True)
            store = deploy.app.ledger.store
            for name in store.list("leases/"):
                store.delete(name)  # A's lease ended (its generation gone, as after it expired)
            deploy.invoke(manual_change("s3", add=["shop.stale_s3"]), app=nxt)
            deploy.settle(app=nxt)

        old = App(Settings.from_env(deploy.env, cwd=tmp_path), sleep=sleep)
        # GIVEN A's first ModifyDtsJob is throttled (nothing carried out), so it backs off
        deploy.server.add_fault({"service": "dts", "action": "ModifyDtsJob", "code": "Throttling.User",
                                 "httpStatus": 400, "count": 1})
        # WHEN A's pass runs (it wakes to a job listing another write: DbList changed, aborted)
        result = old.handle(TIMER, fc_context())
        # THEN the new holder's work stands: all three applied, listed, nothing open unseen
        # (the layout before batches ended A's pass on a LedgerConflictError: `blocked`)
        assert woken and [r["action"] for r in result["reconcile"]] in (["aborted"], ["blocked"])
        assert {r.change_id: r.state.value for r in nxt.ledger.all_records()} == {
            "s1": "applied", "s2": "applied", "s3": "applied"}
        _nothing_hidden(deploy)
    finally:
        deploy.stop()


def test_a_closing_batch_based_on_versions_another_writer_moved_on_does_not_delete_their_markers(
    tmp_path: Path,
) -> None:
    deploy = _backlog(tmp_path)
    try:
        # GIVEN the changes submitted (one batch), and read by the holder about to confirm them
        deploy.tick()
        holder = deploy.app.ledger
        read = holder.open_changes(JOB_KEY)
        assert [r.state for r in read] == [ChangeState.SUBMITTED] * 2
        # AND another writer (a holder that lost its lease, noting an error on records it read
        # just now) writes their next own version
        other = deploy.new_app().ledger
        for r in other.open_changes(JOB_KEY):
            other.update(r, last_error={"code": "LeaseLost"}, attempts=r.attempts + 1)
        # WHEN the holder applies them from what it read (the layout before batches refused this
        # write: version 1 existed)
        moves = []
        for r in read:
            submissions = [dict(s) for s in r.submissions]
            submissions[-1]["confirmed"] = True
            moves.append((r, ChangeState.APPLIED, {"submissions": submissions}))
        with pytest.raises(LedgerConflictError):
            holder.transition_many(moves)
        # THEN the holder's closing is refused (the other writer took the number after what it
        # read), no open marker was deleted, and no change is open without its marker
        assert len(deploy.app.ledger.store.list("open/")) == 2
        _nothing_hidden(deploy)
    finally:
        deploy.stop()
