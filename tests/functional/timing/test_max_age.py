"""#12.5: every change reaches a final state by its maximum age, whatever DTS answers (ledger on OSS)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dts_change.app.handler import App
from dts_change.app.settings import Settings
from tests.harness import LocalDeployment, manual_change, oss_deployment, seed_state

MAX_AGE = 3600.0


class Clock:
    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _app(deploy: LocalDeployment, clock: Clock) -> App:
    return App(Settings.from_env(deploy.env, cwd=deploy.tmp_path), clock=clock, sleep=lambda _s: None)


def _letters(deploy: LocalDeployment) -> dict[str, str]:
    return {d.change_id: d.error["code"] for d in deploy.dead_letters()}


def test_change_submitted_while_the_job_stays_modifying_is_dead_lettered_at_its_max_age(tmp_path: Path) -> None:
    # GIVEN a job whose modification never finishes after our submission
    deploy = oss_deployment(tmp_path, seed_state(modifyDurationSeconds=0.0, modifyAfterDescribes=10_000),
                            DTS_CHANGE_MAX_AGE_SECONDS=str(int(MAX_AGE)))
    try:
        clock = Clock()
        app = _app(deploy, clock)
        first = deploy.invoke(manual_change("stuck", add=["shop.never_confirmed"]), app)
        assert first["changes"][0]["outcome"] == "submitted"
        deploy.tick(app)
        assert deploy.states() == {"stuck": "submitted"}
        # WHEN its maximum age has passed and the timer runs
        clock.now += MAX_AGE + 1
        deploy.tick(app)
        # THEN it is final: dead-lettered as max-age-exceeded, with its submission as evidence
        assert deploy.states() == {"stuck": "dead_lettered"}
        assert _letters(deploy) == {"stuck": "max-age-exceeded"}
        assert deploy.app.ledger.jobs_with_open_changes() == []
    finally:
        deploy.stop()


@pytest.mark.parametrize("code", ["Forbidden.RAM", "ServiceUnavailable"])
def test_change_whose_job_cannot_be_described_is_dead_lettered_at_its_max_age(tmp_path: Path, code: str) -> None:
    deploy = oss_deployment(tmp_path, DTS_CHANGE_MAX_AGE_SECONDS=str(int(MAX_AGE)))
    try:
        clock = Clock()
        app = _app(deploy, clock)
        # GIVEN DescribeDtsJobDetail keeps failing (a role without the permission, or DTS down)
        deploy.server.add_fault({"action": "DescribeDtsJobDetail", "code": code, "probability": 1.0})
        deploy.invoke(manual_change("blind", add=["shop.never_written"]), app)
        deploy.tick(app)
        assert deploy.states() == {"blind": "pending"}
        # WHEN its maximum age has passed and the timer runs (DTS still failing)
        clock.now += MAX_AGE + 1
        deploy.tick(app)
        # THEN it is dead-lettered as max-age-exceeded with the last DTS error, and nothing was written
        assert deploy.states() == {"blind": "dead_lettered"}
        letter = deploy.dead_letters()[0]
        assert letter.error["code"] == "max-age-exceeded"
        expected = {"Forbidden.RAM": "permission-denied", "ServiceUnavailable": "service-unavailable"}[code]
        assert letter.evidence["lastError"]["code"] == expected
        assert deploy.modify_calls(accepted_only=False) == []
    finally:
        deploy.stop()
