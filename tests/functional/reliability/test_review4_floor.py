"""Review 4 of the batch floor (issue 12.10): attacks on the last two fixes (a read of one change
stops at the entry that closes it; an error noted once per run of the same error) and on what
they leave.

Through the handler against the emulator (ledger on its OSS); verdicts from the emulator's call
log (which objects an invocation GETs), not from the ledger's own model.
"""

from __future__ import annotations

from pathlib import Path

from tests.harness import JOB_KEY, manual_change, oss_deployment

PASSES = 15
"""Passes while DTS refuses every ModifyDtsJob, one new change recorded before each."""


def test_a_cold_pass_after_modify_failed_while_changes_kept_coming_reads_its_open_changes_not_each_pass(
    tmp_path: Path,
) -> None:
    """DTS answers every ModifyDtsJob with a retryable error (ServiceUnavailable, the same each
    time) while changes keep arriving. Each pass folds every open change and sends them with a
    new ClientToken (the set of changes carried differs), so `note_error` adds that token to
    every included change: not the same note as before, so the "same error noted once" fix does
    not apply. On main that was each change's next own version (a later pass reads the latest
    one per change); as one-entry batches of open changes every note stays and is newer than the
    floor (the oldest open change), so a cold pass reads 1 + 2 + ... + PASSES batches: quadratic
    in how long the outage lasted (an hour at one change a minute: 1,830 GETs; ten a minute:
    180,000), and each entry carries the whole token list so far."""
    deploy = oss_deployment(tmp_path)
    try:
        # GIVEN a job whose every ModifyDtsJob fails (retryable) while a change arrives before each pass
        deploy.server.add_fault({"action": "ModifyDtsJob", "code": "ServiceUnavailable", "every": 1})
        for i in range(PASSES):
            deploy.invoke(manual_change(f"m{i:03d}", add=[f"shop.modfail_{i:03d}"]))
        assert deploy.open_count() == PASSES
        deploy.server.clear_faults()
        # WHEN DTS answers again and an instance that has read nothing yet runs the next pass
        cold = deploy.new_app()
        since = len(deploy.server.calls("GetObject"))
        result = deploy.tick(cold)
        # THEN it submits them, reading about one object per open change, however long it failed
        assert [r["action"] for r in result["reconcile"]] == ["submitted"], result["reconcile"]
        read = deploy.object_gets(since)
        assert len(read) <= 2 * PASSES + 6, (len(read), sum("/batches/" in k for k in read))
    finally:
        deploy.stop()


BACKLOG = 1400
"""Changes folded into one submission: about 770 bytes each in its batch entry, 1.08 MB in all."""
READ_CAP = 1_000_000
"""The store's read cap, scaled down from the deployed 16 MB (`DEFAULT_MAX_OBJECT_BYTES`) so that
the backlog stays small enough for a test: the same happens with 16x more changes in one fold
(about 22,000 with one submission each, or 11,000 with a removal and an addition phase)."""


def test_a_fold_of_a_large_backlog_leaves_no_batch_too_large_to_read(tmp_path: Path) -> None:
    """A pass's submission (and later its confirmation) of K changes was ONE batch object of
    K entries, written with no size limit, while every reader GETs batches with the store's
    read cap (16 MB deployed). A fold past the cap wrote a batch no pass could read again: every
    later pass of the job failed reading it, so no change of the job was ever confirmed,
    applied, expired or dead-lettered (before batch records each change was its own version of
    a few KB). Now a transition of many changes is written in batches of 1,000 at most."""
    deploy = oss_deployment(tmp_path)
    try:
        # GIVEN a backlog recorded while the job was busy (every instance's store reads objects
        # of READ_CAP bytes at most)
        app = deploy.app
        app.ledger.store.max_object_bytes = READ_CAP  # type: ignore[attr-defined]
        # (the first through the handler; the rest as intake records them, its document copied:
        # 1,400 invocations would take minutes)
        deploy.set_job(status="Modifying")
        deploy.invoke(manual_change("big00000", add=["shop.big_00000"]))
        first = app.ledger.all_records()[0].change
        for i in range(1, BACKLOG):
            key = f"idem-big{i:05d}"
            change = {**first, "add": {"shop": {"Table": {f"big_{i:05d}": {}}, "all": False}},
                      "changeId": f"big{i:05d}", "identity": f"id:big{i:05d}", "idempotencyKey": key}
            app.ledger.record(idempotency_key=key, change_id=f"big{i:05d}", job_key=JOB_KEY, change=change)
        deploy.set_job(status="Synchronizing")
        # WHEN the warm instance submits them all in one pass, and other instances (cold, same
        # cap: FC runs the next passes wherever it likes) run the passes after it
        submitted = deploy.tick()["reconcile"]
        assert [r["action"] for r in submitted] == ["submitted"], submitted
        cold = deploy.new_app()
        cold.ledger.store.max_object_bytes = READ_CAP  # type: ignore[attr-defined]
        reports = [r for tick in deploy.settle(passes=6, app=cold) for r in tick["reconcile"]]
        # THEN every change is applied and listed, and the passes after the submission read on
        states = deploy.states()
        assert len(states) == BACKLOG and set(states.values()) == {"applied"}, (
            [r["action"] for r in reports], sorted(set(states.values())))
        tables = deploy.db_list()["shop"]["Table"]
        assert all(f"big_{i:05d}" in tables for i in range(BACKLOG))
    finally:
        deploy.stop()
