"""Issue 11 point 8 through the handler and the emulator: a SubSyncJob that predates a submission,
or that carries another list, never decides that submission's fate."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.harness import JOB, LocalDeployment, manual_change, seed_state

OLD_FAILED = {
    "subJobId": "old-sub",
    "status": "PrecheckFailed",
    "createdAt": time.time() - 86_400,
    "finishedAt": time.time() - 86_000,
    "dbList": {"legacy": {"name": "legacy", "all": True}},
    "errorMessage": "an old failure of someone else's modification",
    "precheckFailedReason": "old reason",
}


def sub_jobs(deploy: LocalDeployment) -> list[dict[str, Any]]:
    return deploy.server.get_state()["jobs"][JOB]["subSyncJobs"]


def set_sub_jobs(deploy: LocalDeployment, subs: list[dict[str, Any]]) -> None:
    state = deploy.server.get_state()
    state["jobs"][JOB]["subSyncJobs"] = subs
    deploy.server.put_state(state)


def letter_codes(deploy: LocalDeployment) -> list[str]:
    return [(d.error or {}).get("code") for d in deploy.dead_letters()]


def test_a_reserved_update_is_not_blamed_for_an_older_failed_sub_task(tmp_path: Path):
    # GIVEN a job whose newest sub-task is an old failed one (UPDATE_RESERVED starts none)
    deploy = LocalDeployment(tmp_path, seed_state(subSyncJobs=[OLD_FAILED]))
    try:
        deploy.invoke(manual_change("res-old", reserved={"maxRetryTime": 3600}))
        assert len(deploy.modify_calls()) == 1
        # WHEN the next pass confirms it
        deploy.settle()
        # THEN it is confirmed by reading Reserved back, not dead-lettered for the old failure
        assert deploy.states() == {"res-old": "applied"}
        assert letter_codes(deploy) == []
    finally:
        deploy.stop()


def test_a_sub_task_older_than_the_submission_does_not_decide(tmp_path: Path):
    deploy = LocalDeployment(tmp_path)
    try:
        # GIVEN a submitted addition whose own sub-task is not (or no longer) listed, while an old
        # failed one is the newest DTS shows
        deploy.invoke(manual_change("add-old", add=["shop.refunds"]))
        assert len(deploy.modify_calls()) == 1
        set_sub_jobs(deploy, [OLD_FAILED])
        # WHEN the job is confirmed
        deploy.settle()
        # THEN the change is judged by the job's objects: applied
        assert deploy.states() == {"add-old": "applied"}
        assert letter_codes(deploy) == []
    finally:
        deploy.stop()


def test_a_newer_failed_sub_task_with_another_list_does_not_decide(tmp_path: Path):
    deploy = LocalDeployment(tmp_path)
    try:
        # GIVEN an addition carried out, then a failed modification of another list (someone else's)
        deploy.invoke(manual_change("add-other", add=["shop.refunds"]))
        ours = sub_jobs(deploy)
        assert ours and ours[-1]["status"] == "Finished"
        other = {**OLD_FAILED, "subJobId": "other-sub", "createdAt": time.time() + 1, "finishedAt": time.time() + 2}
        set_sub_jobs(deploy, [*ours, other])
        # WHEN the job is confirmed
        deploy.settle()
        # THEN the change is applied (its objects are listed), not blamed for the other failure
        assert deploy.states() == {"add-other": "applied"}
        assert letter_codes(deploy) == []
    finally:
        deploy.stop()


def test_the_submissions_own_failed_sub_task_still_dead_letters_with_its_evidence(tmp_path: Path):
    deploy = LocalDeployment(tmp_path, seed_state(subSyncJobs=[OLD_FAILED], switches={"failPrecheck": True}))
    try:
        deploy.invoke(manual_change("add-fails", add=["shop.refunds"]))
        deploy.settle()
        assert deploy.states() == {"add-fails": "dead_lettered"}
        letter = deploy.dead_letters()[0]
        assert letter.error["code"] == "modification-failed"
        assert "old failure" not in letter.error["message"]
    finally:
        deploy.stop()
