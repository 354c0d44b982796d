"""A lease holder that outlived its lease must not undo or hide what the next holder did (issue 12.2).

Every transition of an open change is a batch of its job's sequence, numbered after the batch read
with the records and written create-if-absent, so a holder writing from records it read before
another holder moved them gets `LedgerConflictError`. This
drives the real handler against the emulator (ledger on its OSS): a holder whose back-off outlived
its lease wakes after the next holder applied everything, and the store must show every change
closed, or open AND in its job's index (a pass finds it): a change open with no open marker would
never reach a final state and nobody would see it. (Written by the review of the batch-ledger
attempt, which failed it; the batch sequence passes it.)
"""

from __future__ import annotations

from pathlib import Path

from dts_change.app.handler import App
from dts_change.app.settings import Settings
from tests.harness import JOB_KEY, TIMER, LocalDeployment, fc_context, manual_change, oss_deployment


def _backlog(tmp_path: Path) -> LocalDeployment:
    deploy = oss_deployment(tmp_path)
    deploy.set_job(status="Modifying")
    for name in ("s1", "s2"):
        deploy.invoke(manual_change(name, add=[f"shop.stale_{name}"]))
    deploy.set_job(status="Synchronizing")
    return deploy


def _nothing_hidden(deploy: LocalDeployment) -> None:
    """Every change closed, or open and found by the next pass (its marker in the job's index)."""
    cold = deploy.new_app().ledger
    found = {r.key for r in cold.open_changes(JOB_KEY)}
    hidden = [(r.change_id, r.state.value) for r in cold.all_records() if r.is_open and r.key not in found]
    assert hidden == [], hidden



def test_a_holder_whose_retry_outlived_its_lease_does_not_hide_what_the_next_holder_applied(
    tmp_path: Path,
) -> None:
    deploy = _backlog(tmp_path)
    try:
        nxt = deploy.new_app()
        woken: list[bool] = []

        def sleep(_seconds: float) -> None:
            # A's back-off before its second attempt outlives its lease: another holder takes the
            # job, records a third change and applies all three .
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
        # (its own next write meets the new holder's versions: LedgerConflictError, `blocked`)
        assert woken and [r["action"] for r in result["reconcile"]] in (["aborted"], ["blocked"])
        assert {r.change_id: r.state.value for r in nxt.ledger.all_records()} == {
            "s1": "applied", "s2": "applied", "s3": "applied"}
        _nothing_hidden(deploy)
    finally:
        deploy.stop()
