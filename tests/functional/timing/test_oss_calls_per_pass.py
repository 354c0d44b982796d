"""#12.10: a pass costs at most 0.5 OSS calls per open change (ledger on the emulator's OSS).

A backlog recorded while the job was busy, then timer passes through the handler: each pass
lists the job's index, every version and the job's batches once, and writes one batch object
for all the changes it submits or confirms (plus one `closed/` marker and one
DeleteMultipleObjects when they are applied), instead of two reads and one to three writes per
change. A cold instance (another `App`) reads the job's snapshot (`state/snapshots.py`) and only
the open changes it lacks.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from dts_change.app.handler import App
from tests.harness import TIMER, LocalDeployment, fc_context, manual_change, oss_deployment

BACKLOG = 300
TARGET = 0.5


def counted(app: App) -> Callable[[], int]:
    """Count the OSS requests of `app`'s client; returns the counter's reader."""
    calls = [0]
    send = app.oss._request

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return send(*args, **kwargs)

    app.oss._request = wrapped  # type: ignore[method-assign]
    return lambda: calls[0]


def passes_until_settled(deploy: LocalDeployment, calls: Callable[[], int]) -> list[tuple[int, int, list[str]]]:
    """Timer passes (120 s timeout) until nothing is open, at most 10: for each, the OSS calls it
    made, the open changes at its start and its actions."""
    passes = []
    for _ in range(10):
        open_before = deploy.open_count()
        if not open_before:
            break
        before = calls()
        result = deploy.app.handle(TIMER, fc_context(timeout=120))
        passes.append((calls() - before, open_before, [r["action"] for r in result["reconcile"]]))
    return passes


def test_each_pass_over_a_backlog_costs_at_most_half_an_oss_call_per_open_change(tmp_path: Path) -> None:
    deploy = oss_deployment(tmp_path)
    try:
        # GIVEN a backlog of changes recorded while the job was busy, by this instance
        deploy.record_while_busy(manual_change(f"c{i:03d}", add=[f"shop.calls_{i:03d}"]) for i in range(BACKLOG))
        calls = counted(deploy.app)
        # WHEN timer passes run until nothing is open
        passes = passes_until_settled(deploy, calls)
        # THEN it took a submitting and a confirming pass, each under half a call per open change
        actions = [a for _, _, acts in passes for a in acts]
        assert "submitted" in actions and "confirmed" in actions, passes
        assert all(count / open_before <= TARGET for count, open_before, _ in passes), passes
        # AND every change is applied and listed in the job
        assert set(deploy.states().values()) == {"applied"}
        tables = deploy.db_list()["shop"]["Table"]
        assert all(f"calls_{i:03d}" in tables for i in range(BACKLOG))
        # WHEN a backlog of removals of those tables follows (a removal intent noted before the
        # call, then submitted, then confirmed)
        deploy.record_while_busy(manual_change(f"r{i:03d}", remove=[f"shop.calls_{i:03d}"]) for i in range(BACKLOG))
        removals = passes_until_settled(deploy, calls)
        # THEN those passes too stay under half a call per open change, and the tables are gone
        assert all(count / open_before <= TARGET for count, open_before, _ in removals), removals
        assert set(deploy.states().values()) == {"applied"}
        left = deploy.db_list()["shop"]["Table"]
        assert not any(f"calls_{i:03d}" in left for i in range(BACKLOG))
    finally:
        deploy.stop()


def test_a_cold_instance_reads_the_snapshot_instead_of_each_open_change(tmp_path: Path) -> None:
    deploy = oss_deployment(tmp_path)
    try:
        # GIVEN a backlog recorded by one instance (which keeps the job's snapshot on the way)
        deploy.record_while_busy(manual_change(f"c{i:03d}", add=[f"shop.cold_{i:03d}"]) for i in range(BACKLOG))
        # WHEN another instance, which has read nothing yet, runs the submitting pass
        cold = deploy.new_app()
        calls = counted(cold)
        result = cold.handle(TIMER, fc_context(timeout=120))
        first = calls()
        # THEN it read the snapshot and only the changes it lacks: at most half a call per change
        assert [r["action"] for r in result["reconcile"]] == ["submitted"]
        assert first / BACKLOG <= TARGET, first
        # AND its next pass, warm, is back under half a call per open change
        before = calls()
        result = cold.handle(TIMER, fc_context(timeout=120))
        assert [r["action"] for r in result["reconcile"]] == ["confirmed"]
        assert (calls() - before) / BACKLOG <= TARGET
        assert set(deploy.states().values()) == {"applied"}
    finally:
        deploy.stop()
