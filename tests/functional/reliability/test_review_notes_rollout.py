"""Review of the note, retention and rollout commits on the batch layout (2026-12-07).

Through the handler against the emulator, ledger on its OSS. Verdicts from the emulator's own
state (objects under `batches/` in its bucket) and its call log.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dts_change.app.handler import App
from dts_change.app.settings import Settings
from tests.harness import BUCKET, LocalDeployment, manual_change, oss_deployment

OPEN = 6
CODES = ("Throttling.User", "ServiceUnavailable")


class Clock:
    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset
        self.base = time.time()
        self.moved = 0.0

    def __call__(self) -> float:
        return self.base + self.moved + self.offset


def _batches(deploy: LocalDeployment) -> list[str]:
    bucket = deploy.server.get_state()["buckets"].get(BUCKET, {})
    return sorted(key for key in bucket if "/batches/" in key)


def _open_changes(deploy: LocalDeployment, count: int) -> None:
    deploy.set_job(status="Modifying")
    for i in range(count):
        deploy.invoke(manual_change(f"skew{i:03d}", add=[f"shop.skew_{i:03d}"]))
    deploy.set_job(status="Synchronizing")
    assert deploy.open_count() == count


@pytest.mark.parametrize("skew", [0.0, 700.0, 20_000.0])
def test_alternating_errors_stay_bounded_when_two_instances_clocks_disagree(tmp_path: Path, skew: float) -> None:
    """NOTE_INTERVAL_SECONDS is counted between the note's `noted_at` (its writer's clock) and
    the reader's clock. Timer passes land on any instance; with two instances whose clocks are
    700 s apart (or 20,000 s), each finds the other's note either "older than the interval" (the slow
    clock's note, read by the fast one) or "from the future" (read by the slow one, and
    `_noted_since` takes a negative age as old): every pass notes again, one batch per pass,
    which is what 3679df0 set out to bound (docs/reliability.md: "a batch per
    NOTE_INTERVAL_SECONDS at most"). The product tolerates clocks that disagree by more than a
    lease elsewhere (issue 12.2). Skew 0 is the control (passed before the fix)."""
    deploy = oss_deployment(tmp_path)
    try:
        _open_changes(deploy, OPEN)
        slow, fast = Clock(0.0), Clock(skew)
        apps = [App(Settings.from_env(deploy.env, cwd=deploy.tmp_path), clock=clock, sleep=lambda _s: None)
                for clock in (slow, fast)]
        before = len(_batches(deploy))
        passes = 8
        for i in range(passes):
            # one-minute timer passes, landing on the two instances in turn, DTS answering one of
            # two errors in turn (an outage)
            for clock in (slow, fast):
                clock.moved += 60.0
            deploy.server.clear_faults()
            deploy.server.add_fault({"action": "DescribeDtsJobDetail", "code": CODES[i % 2], "every": 1})
            reports = deploy.tick(apps[i % 2])["reconcile"]
            assert [r["action"] for r in reports] == ["blocked"], reports
        deploy.server.clear_faults()
        added = len(_batches(deploy)) - before
        # 8 minutes of passes: within one NOTE_INTERVAL_SECONDS by either clock, so at most a
        # note from each instance
        assert added <= 2, f"{added} note batches in {passes} passes ({passes * 60} s)"
        deploy.settle(app=apps[0])
        assert set(deploy.states().values()) == {"applied"}, deploy.states()
    finally:
        deploy.stop()
