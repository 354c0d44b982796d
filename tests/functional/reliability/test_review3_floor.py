"""Review of the batch floor (issue 12.10): what an invocation reads must not grow with the job's
closed history.

Through the handler against the emulator (ledger on its OSS); verdicts from the emulator's call
log (which objects an invocation GETs), not from the ledger's own model.
"""

from __future__ import annotations

from pathlib import Path

from tests.harness import manual_change, oss_deployment

HISTORY = 60
"""Changes applied one after the other after the first (each its own passes)."""


def test_a_late_duplicate_of_an_applied_change_reads_the_change_not_the_jobs_history(tmp_path: Path) -> None:
    """A redelivery of a change applied earlier (within the retention) is a duplicate: finding
    that out on a cold instance reads the change (before batch records: one listing and one
    read), not every transition its job made since. Read per transition since, a busy job's
    week (10,000+ batches) outlasts the invocation's timeout, and FC retries the whole event,
    new changes in it included, until its failure destination takes it."""
    deploy = oss_deployment(tmp_path)
    try:
        # GIVEN a change applied, then HISTORY more changes applied one after the other
        for i in range(HISTORY + 1):
            deploy.invoke(manual_change(f"h{i:03d}", add=[f"shop.hist_{i:03d}"]))
            deploy.settle()
        assert set(deploy.states().values()) == {"applied"}
        # WHEN the first change is delivered again, to an instance that has read nothing yet
        cold = deploy.new_app()
        since = len(deploy.server.calls("GetObject"))
        result = deploy.invoke(manual_change("h000", add=["shop.hist_000"]), app=cold)
        # THEN it is a duplicate of the applied change, found with a few reads, whatever the history
        assert [(c["outcome"], c.get("state")) for c in result["changes"]] == [("duplicate", "applied")]
        read = deploy.object_gets(since)
        assert len(read) <= 6, (len(read), sum("/batches/" in k for k in read))
    finally:
        deploy.stop()


OPEN = 8
BLOCKED_PASSES = 15


def test_a_cold_pass_after_the_job_was_blocked_reads_its_open_changes_not_each_blocked_pass(tmp_path: Path) -> None:
    """While DTS refuses every call, each pass notes the error on every open change (its
    request id differs each time). Before batch records that was each change's next own
    version, and a later pass read the latest one per change; as one-entry batches, every note
    stays (its change is open, so prune keeps it) and is newer than the floor (the oldest open
    change), so a cold pass reads OPEN x passes batches: a backlog of 1,000 changes blocked for
    an hour of one-minute passes is 60,000 GETs, more than a pass can read before its timeout,
    and no pass then gets as far as submitting once DTS answers again."""
    deploy = oss_deployment(tmp_path)
    try:
        # GIVEN open changes on a job whose every DetailDescribe fails for BLOCKED_PASSES passes
        deploy.record_while_busy(manual_change(f"b{i:03d}", add=[f"shop.blocked_{i:03d}"]) for i in range(OPEN))
        deploy.server.add_fault({"action": "DescribeDtsJobDetail", "code": "Throttling.User", "every": 1})
        actions = [r["action"] for _ in range(BLOCKED_PASSES) for r in deploy.tick()["reconcile"]]
        assert set(actions) == {"blocked"}, actions
        deploy.server.clear_faults()
        # WHEN DTS answers again and an instance that has read nothing yet runs the next pass
        cold = deploy.new_app()
        since = len(deploy.server.calls("GetObject"))
        result = deploy.tick(cold)
        # THEN it submits them, reading about one object per open change, however long it was blocked
        assert [r["action"] for r in result["reconcile"]] == ["submitted"], result["reconcile"]
        read = deploy.object_gets(since)
        assert len(read) <= 2 * OPEN + 6, (len(read), sum("/batches/" in k for k in read))
    finally:
        deploy.stop()
