"""Rollout marker of the batch layout (issue 12.10): every lease generation the handler writes
says `ledger_layout: 2`, so main's guard (a release of the per-change layout that refuses a pass
once the latest generation says more than 1) keeps older code off the job. Checked on the
emulator's OSS bucket, not through the ledger's model."""

from __future__ import annotations

import json
from pathlib import Path

from tests.harness import BUCKET, manual_change, oss_deployment


def test_every_lease_generation_the_handler_writes_carries_ledger_layout_2(tmp_path: Path) -> None:
    deploy = oss_deployment(tmp_path)
    try:
        deploy.invoke(manual_change("layout1", add=["shop.layout_one"]))
        deploy.settle()
        assert deploy.states() == {"layout1": "applied"}
        bucket = deploy.server.get_state()["buckets"][BUCKET]
        leases = {key: json.loads(body) for key, body in bucket.items() if "/leases/" in key}
        assert leases, sorted(bucket)
        assert any(lease.get("released") for lease in leases.values())  # a released generation too
        for key, lease in leases.items():
            assert lease.get("ledger_layout") == 2 and type(lease["ledger_layout"]) is int, (key, lease)
    finally:
        deploy.stop()
