"""Rolling out a release with a newer ledger layout: this release stands aside for it.

A release that records transitions somewhere this code does not read (a newer ledger layout)
names its layout in every lease generation it writes. An instance of this code still running
during that rollout would otherwise read a change the newer release submitted as pending and
submit it again; instead it runs no pass for the job, writes nothing, and leaves the change open."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dts_change.state.leases import LEDGER_LAYOUT
from tests.harness import BUCKET, manual_change, oss_deployment

LEASES = "dts-change/ledger/leases/dtsjob1demo%2FForward/"


def lease_generation(layout: int | None) -> str:
    """Generation 1 as a release that ran a pass and released the lease would leave it."""
    record: dict[str, Any] = {
        "job_key": "dtsjob1demo/Forward", "owner": "newer-release-instance", "generation": 1,
        "acquired_at": 1.0, "expires_at": 1.0, "token": "0" * 32, "released": True, "ttl_seconds": 0.0,
    }
    if layout is not None:
        record["ledger_layout"] = layout
    return json.dumps(record)


def lease_keys(deploy: Any) -> list[str]:
    return sorted(k for k in deploy.server.get_state()["buckets"][BUCKET] if k.startswith(LEASES))


def test_a_lease_written_by_a_newer_ledger_layout_stops_the_pass_before_any_write(tmp_path: Path) -> None:
    deploy = oss_deployment(tmp_path)
    try:
        # GIVEN the job's latest lease generation comes from a release with a newer ledger layout
        newer = LEDGER_LAYOUT + 1
        deploy.put_object(LEASES + "000000000001.json", lease_generation(newer))
        before = deploy.db_list()
        # WHEN a change arrives, and a timer pass runs after it
        first = deploy.invoke(manual_change("c1", add=["shop.layout_guarded"]))
        tick = deploy.tick()
        # THEN neither pass ran: blocked, naming the layout, and DTS was not called
        reports = [r for out in (first, tick) for r in out["reconcile"]]
        assert reports and all(r["action"] == "blocked" for r in reports), reports
        assert {r["error"]["code"] for r in reports} == {"ledger-layout-newer"}
        assert f"ledger layout {newer}" in reports[0]["error"]["message"]
        assert deploy.server.calls("ModifyDtsJob") == []
        assert deploy.db_list() == before
        # AND no lease generation was written after the newer release's
        assert lease_keys(deploy) == [LEASES + "000000000001.json"]
        # AND the change is recorded, open, for the newer release to take
        assert deploy.states() == {"c1": "pending"}
    finally:
        deploy.stop()


@pytest.mark.parametrize("layout", sorted({None, 1, LEDGER_LAYOUT}, key=str))
def test_a_lease_written_by_this_layout_or_before_the_field_existed_does_not_stop_the_pass(
    tmp_path: Path, layout: int | None
) -> None:
    deploy = oss_deployment(tmp_path)
    try:
        deploy.put_object(LEASES + "000000000001.json", lease_generation(layout))
        deploy.invoke(manual_change("c1", add=["shop.layout_same"]))
        deploy.settle()
        assert deploy.states() == {"c1": "applied"}
        assert "layout_same" in deploy.db_list()["shop"]["Table"]
        # the generations this release wrote name its layout
        state = deploy.server.get_state()["buckets"][BUCKET]
        written = [json.loads(state[k]) for k in lease_keys(deploy) if not k.endswith("000000000001.json")]
        assert written and all(r["ledger_layout"] == LEDGER_LAYOUT for r in written)
    finally:
        deploy.stop()
