"""#12.10: every pass stops cleanly before the invocation's deadline; the next one continues.

A backlog recorded in the ledger on OSS, then timer passes with a fixed latency on every OSS call
and a short function timeout: no pass may run past its deadline (FC would kill it mid-write),
and the backlog still settles, pass after pass."""

from __future__ import annotations

import time
from pathlib import Path

from dts_change.app.settings import DEADLINE_MARGIN_SECONDS
from tests.harness import TIMER, fc_context, manual_change, oss_deployment

BACKLOG = 120
OSS_LATENCY = 0.01
TIMEOUT = DEADLINE_MARGIN_SECONDS + 1.5  # each pass has 1.5 s before its deadline
OVERSHOOT = 0.5
"""What one call in flight at the deadline may add (a ModifyDtsJob, or the last ledger write)."""


def table_names(db_list: dict, db: str) -> set[str]:
    return set((db_list.get(db) or {}).get("Table", {}))


def test_backlog_under_oss_latency_settles_in_passes_that_each_end_before_the_deadline(tmp_path: Path) -> None:
    deploy = oss_deployment(tmp_path)
    try:
        # GIVEN a backlog of changes recorded while the job was busy (modifications never finish)
        deploy.record_while_busy(manual_change(f"b{i:03d}", add=[f"shop.backlog_{i:03d}"]) for i in range(BACKLOG))
        assert deploy.open_count() == BACKLOG
        # AND every OSS call now takes 10 ms more
        deploy.server.add_fault({"service": "oss", "latencySeconds": OSS_LATENCY, "probability": 1.0})
        # WHEN timer passes run with a short function timeout
        durations = []
        for _ in range(40):
            if not deploy.app.ledger.jobs_with_open_changes():
                break
            started = time.monotonic()
            deploy.app.handle(TIMER, fc_context(timeout=TIMEOUT))
            durations.append(time.monotonic() - started)
        # THEN no pass ran past its deadline (timeout minus the margin), give or take one call
        deadline = TIMEOUT - DEADLINE_MARGIN_SECONDS
        assert max(durations) < deadline + OVERSHOOT, [round(d, 2) for d in durations]
        # AND the whole backlog settled: every change applied, every table listed
        assert set(deploy.states().values()) == {"applied"}, len(durations)
        shop = table_names(deploy.db_list(), "shop")
        assert {f"backlog_{i:03d}" for i in range(BACKLOG)} <= shop
    finally:
        deploy.stop()


def test_prune_under_oss_latency_stops_at_the_deadline_and_the_next_prune_goes_on(tmp_path: Path) -> None:
    from dts_change.app.handler import App
    from dts_change.app.settings import Settings

    deploy = oss_deployment(tmp_path)
    try:
        now = [time.time()]
        app = App(Settings.from_env(deploy.env, cwd=deploy.tmp_path), clock=lambda: now[0], sleep=lambda _s: None)
        # GIVEN 60 changes applied (in a few submissions), then past the retention
        deploy.record_while_busy((manual_change(f"p{i:03d}", add=[f"shop.pruned_{i:03d}"]) for i in range(60)), app)
        deploy.settle(app=app)
        assert set(deploy.states().values()) == {"applied"}
        now[0] += 8 * 86400
        # WHEN timer passes of another instance run with 30 ms on every OSS call and a short
        # function timeout (prune reads each change it does not hold in memory once and deletes
        # in batches: a cold instance needs the slower calls to outlast one pass)
        app = App(Settings.from_env(deploy.env, cwd=deploy.tmp_path), clock=lambda: now[0], sleep=lambda _s: None)
        deploy.server.add_fault({"service": "oss", "latencySeconds": 3 * OSS_LATENCY, "probability": 1.0})
        durations = []
        for _ in range(20):
            if not deploy.app.ledger.all_records():  # another instance looks (the pruning one stays cold)
                break
            started = time.monotonic()
            app.handle(TIMER, fc_context(timeout=TIMEOUT))
            durations.append(time.monotonic() - started)
        # THEN every prune stopped by the deadline, and together they deleted every record
        assert max(durations) < TIMEOUT - DEADLINE_MARGIN_SECONDS + OVERSHOOT, [round(d, 2) for d in durations]
        assert len(durations) > 1
        assert app.ledger.all_records() == []
        assert {f"pruned_{i:03d}" for i in range(60)} <= table_names(deploy.db_list(), "shop")
    finally:
        deploy.stop()
