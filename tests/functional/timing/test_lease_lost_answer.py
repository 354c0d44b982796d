"""#12.7: one lost OSS answer on the lease path does not block the job for the whole lease.

The lease generation was written but its answer lost: the same owner must recognise it as its
own (reuse or release it) instead of waiting DTS_CHANGE_LEASE_SECONDS for itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness import manual_change, oss_deployment


def table_names(db_list: dict, db: str) -> set[str]:
    return set((db_list.get(db) or {}).get("Table", {}))


@pytest.mark.parametrize("which", ["acquire", "release"])
def test_lost_answer_to_a_lease_write_does_not_block_the_job(tmp_path: Path, which: str) -> None:
    deploy = oss_deployment(tmp_path)  # lease 300 s: waiting it out is not an option
    try:
        # GIVEN the answer to the first (acquire) or second (release) lease write is lost after
        # OSS stored the object
        fault = {"service": "oss", "action": "PutObject", "keyContains": "leases/", "reset": True,
                 "phase": "after", "count": 1}
        if which == "release":
            fault["every"] = 2
        deploy.server.add_fault(fault)
        # WHEN a change arrives and the timer passes run on the same instance
        first = deploy.invoke(manual_change("c1", add=["shop.after_lost_answer"]))
        ticks = [deploy.tick() for _ in range(3)]
        # THEN the fault did fire, and no pass waited on a lease the instance itself wrote
        resets = [c for c in deploy.server.calls("PutObject") if c.get("outcome") == "connection-reset"]
        assert len(resets) == 1 and "leases/" in resets[0]["key"]
        actions = [r["action"] for t in [first, *ticks] for r in t["reconcile"]]
        assert "lease-held" not in actions, actions
        # AND the change is applied and listed
        assert deploy.states() == {"c1": "applied"}
        assert "after_lost_answer" in table_names(deploy.db_list(), "shop")
    finally:
        deploy.stop()
