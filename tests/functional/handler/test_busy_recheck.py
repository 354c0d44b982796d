"""An instance that saw the job Modifying leaves it alone on events for a moment; timers never do."""

from __future__ import annotations

from pathlib import Path

from dts_change.reconcile.job import BUSY_RECHECK_SECONDS
from tests.harness import LocalDeployment, manual_change, seed_state


def describes(deploy: LocalDeployment) -> int:
    return len(deploy.server.calls("DescribeDtsJobDetail"))


def test_busy_recheck_event_after_seeing_modifying_asks_dts_nothing(tmp_path: Path) -> None:
    deploy = LocalDeployment(tmp_path, seed_state(modifyDurationSeconds=0.0, modifyAfterDescribes=50))
    try:
        # GIVEN a first change submitted (the job is now Modifying) and a second event that saw it so
        deploy.invoke(manual_change("a", add=["shop.t_a"]))
        deploy.invoke(manual_change("b", add=["shop.t_b"]))
        before = describes(deploy)
        # WHEN a third event arrives right after
        result = deploy.invoke(manual_change("c", add=["shop.t_c"]))
        # THEN it is recorded, left pending, and DTS is not asked again
        assert result["changes"][0]["outcome"] == "pending"
        assert result["reconcile"][0]["action"] == "waiting-for-modification"
        assert describes(deploy) == before
        # AND a timer pass still reads the job
        deploy.tick()
        assert describes(deploy) > before
    finally:
        deploy.stop()


def test_busy_recheck_window_over_event_describes_again(tmp_path: Path) -> None:
    deploy = LocalDeployment(tmp_path, seed_state(modifyDurationSeconds=0.0, modifyAfterDescribes=50))
    try:
        deploy.invoke(manual_change("a", add=["shop.t_a"]))
        deploy.invoke(manual_change("b", add=["shop.t_b"]))  # sees Modifying
        # GIVEN the instance's memory of that is older than the window
        seen = deploy.app.busy_seen
        assert seen, "the instance remembers the job it saw Modifying"
        for key in seen:
            seen[key] -= BUSY_RECHECK_SECONDS + 0.01
        before = describes(deploy)
        # WHEN another event arrives THEN it describes the job again
        deploy.invoke(manual_change("c", add=["shop.t_c"]))
        assert describes(deploy) == before + 1
    finally:
        deploy.stop()


def test_busy_recheck_job_free_after_own_submission_next_event_submits(tmp_path: Path) -> None:
    # GIVEN modifications that finish at once: seeing our own submission is not seeing Modifying
    deploy = LocalDeployment(tmp_path, seed_state(modifyDurationSeconds=0.0))
    try:
        first = deploy.invoke(manual_change("a", add=["shop.t_a"]))
        second = deploy.invoke(manual_change("b", add=["shop.t_b"]))
        assert first["changes"][0]["outcome"] == "submitted"
        assert second["changes"][0]["outcome"] == "submitted"
        assert deploy.app.busy_seen == {}
    finally:
        deploy.stop()
