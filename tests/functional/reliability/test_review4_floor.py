"""Review 4 of the batch floor (issue 12.10): attacks on the last two fixes (a read of one change
stops at the entry that closes it; an error noted once per run of the same error) and on what
they leave.

Through the handler against the emulator (ledger on its OSS); verdicts from the emulator's call
log (which objects an invocation GETs), not from the ledger's own model.
"""

from __future__ import annotations

from pathlib import Path

from tests.harness import LocalDeployment, manual_change, oss_deployment

PASSES = 15
"""Passes while DTS refuses every ModifyDtsJob, one new change recorded before each."""


def _gets(deploy: LocalDeployment, since: int) -> list[str]:
    return [str(c.get("key", "")) for c in deploy.server.calls("GetObject")[since:]]


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
        read = _gets(deploy, since)
        assert len(read) <= 2 * PASSES + 6, (len(read), sum("/batches/" in k for k in read))
    finally:
        deploy.stop()
