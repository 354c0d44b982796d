"""Adversarial review of the batch sequence (issue 12.10), through the handler against the
emulator with the ledger on its OSS."""

from __future__ import annotations

from pathlib import Path

from tests.harness import JOB_KEY, manual_change, oss_deployment


def test_a_refused_submission_of_many_changes_notes_the_error_on_every_one(tmp_path: Path) -> None:
    """`note_error` writes one batch per change from the records the pass read: with more than 65
    changes in the submission the first seqledger state collided with its own earlier batches
    (the 66th change's record was read before batch 1, which the thread no longer remembered):
    the pass ended blocked with a ledger conflict and the last changes kept no error."""
    deploy = oss_deployment(tmp_path)
    try:
        deploy.set_job(status="Modifying")
        names = [f"n{i:03d}" for i in range(70)]
        for name in names:
            deploy.invoke(manual_change(name, add=[f"shop.t_{name}"]))
        deploy.set_job(status="Synchronizing")
        deploy.server.add_fault({"action": "ModifyDtsJob", "code": "Throttling.User", "count": 1000})
        report = deploy.tick()["reconcile"][0]
        assert report["action"] == "retry-later", report
        records = deploy.new_app().ledger.open_changes(JOB_KEY)
        assert len(records) == 70
        assert [r.change_id for r in records if not r.last_error] == []
    finally:
        deploy.stop()
