"""Found by the fault runs on OSS: a change was dead-lettered in the ledger while writing its dead
letter failed, leaving no dead letter at all. The dead letter is written first now."""

from __future__ import annotations

from pathlib import Path

from tests.harness import manual_change, oss_deployment, seed_state


def test_failed_dead_letter_write_leaves_the_change_open_then_it_gets_its_dead_letter(tmp_path: Path) -> None:
    deploy = oss_deployment(tmp_path, seed_state(status="NotConfigured"))
    try:
        # GIVEN the first write of a dead letter fails (OSS resets the connection before storing it)
        deploy.server.add_fault({"service": "oss", "action": "PutObject", "keyContains": "dead-letter/",
                                 "reset": True, "count": 1})
        # WHEN a change for a job that is not configured is reconciled
        result = deploy.invoke(manual_change("nc", add=["shop.never"]))
        # THEN the pass stopped on the store error, and the ledger did not close the change
        # without its dead letter
        assert result["reconcile"][0]["error"]["code"] == "network-error"
        assert deploy.states() == {"nc": "pending"}
        # AND the next pass dead-letters it, with its dead letter
        deploy.tick()
        assert deploy.states() == {"nc": "dead_lettered"}
        assert [(d.change_id, d.error["code"]) for d in deploy.dead_letters()] == [("nc", "job-not-configured")]
    finally:
        deploy.stop()
