"""#12.2: lease time comes from the store, not from an instance's clock (ledger on OSS).

An instance whose clock runs ahead by more than the lease used to see the holder's lease as
expired, take it over and submit while the holder's own write was in flight: the older, smaller
list then landed last and erased the newer instance's table."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from dts_change.app.handler import App
from dts_change.app.settings import Settings
from dts_change.core.errors import ConfigurationError
from tests.harness import LocalDeployment, manual_change, oss_deployment


def table_names(db_list: dict, db: str) -> set[str]:
    return set((db_list.get(db) or {}).get("Table", {}))


def _use_deployment_env(monkeypatch: pytest.MonkeyPatch, deploy: LocalDeployment) -> None:
    """The deployment's settings as FC's environment, for `index.initialize` to read."""
    for name, value in deploy.env.items():
        monkeypatch.setenv(name, value)


def _initialize(*, timeout: float) -> None:
    """`index.initialize` as FC calls it on a new instance (no app left from an earlier call)."""
    import index
    from dts_change.app.handler import reset_app

    reset_app()
    try:
        index.initialize(SimpleNamespace(request_id="init", function=SimpleNamespace(timeout=timeout)))
    finally:
        reset_app()


def _pause_first_latency(deploy: LocalDeployment) -> tuple[threading.Event, threading.Event]:
    """The emulator's first injected latency signals `in_flight` and waits for `go_on`."""
    in_flight, go_on = threading.Event(), threading.Event()

    def sleep(_seconds: float) -> None:
        if not in_flight.is_set():
            in_flight.set()
            go_on.wait(10)

    deploy.server.app.sleep = sleep
    return in_flight, go_on


def test_instance_with_clock_ahead_by_more_than_the_lease_does_not_take_over_a_live_lease(tmp_path: Path) -> None:
    deploy = oss_deployment(tmp_path, DTS_CHANGE_LEASE_SECONDS="60")
    try:
        skewed = App(
            Settings.from_env(deploy.env, cwd=deploy.tmp_path),
            clock=lambda: time.time() + 600.0,  # ten leases ahead
            sleep=lambda _s: None,
        )
        in_flight, go_on = _pause_first_latency(deploy)
        # GIVEN instance A's ModifyDtsJob is in flight (held up in the network) under A's lease
        deploy.server.add_fault({"action": "ModifyDtsJob", "latencySeconds": 0.01, "count": 1})
        results: dict[str, Any] = {}
        a = threading.Thread(target=lambda: results.setdefault("a", deploy.invoke(manual_change("a", add=["shop.from_a"]))))
        a.start()
        assert in_flight.wait(10), "A never reached ModifyDtsJob"
        # WHEN instance B, whose clock is ten minutes ahead, gets an event for the same job
        results["b"] = deploy.invoke(manual_change("b", add=["shop.from_b"]), skewed)
        go_on.set()
        a.join(10)
        # THEN B left the lease to A (nothing of B's was written while A's write was in flight)
        assert results["b"]["reconcile"][0]["action"] == "lease-held"
        # AND once everything settled, both tables are listed: A's write did not erase B's
        deploy.settle()
        deploy.settle(app=skewed)
        final = table_names(deploy.db_list(), "shop")
        assert {"from_a", "from_b", "orders", "customers"} <= final
        assert deploy.states() == {"a": "applied", "b": "applied"}
    finally:
        deploy.stop()


def test_initialize_refuses_a_lease_shorter_than_the_function_timeout_plus_margin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    deploy = oss_deployment(tmp_path, DTS_CHANGE_LEASE_SECONDS="100")
    try:
        _use_deployment_env(monkeypatch, deploy)
        # GIVEN a function timeout of 120 s and a lease of 100 s: a pass could outlive its lease
        with pytest.raises(ConfigurationError) as caught:
            _initialize(timeout=120)
        assert "DTS_CHANGE_LEASE_SECONDS" in caught.value.message
        # AND a timeout the lease covers with its margin is accepted
        _initialize(timeout=60)
    finally:
        deploy.stop()


def test_initialize_refuses_a_retention_shorter_than_the_timeout_plus_the_lease(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Batch numbering makes a stale writer collide only while the batches after its read exist:
    a retention prune could delete them under a pass still running is refused at start-up."""
    deploy = oss_deployment(tmp_path, DTS_CHANGE_RETENTION_SECONDS="600", DTS_CHANGE_LEASE_SECONDS="200")
    try:
        _use_deployment_env(monkeypatch, deploy)
        # GIVEN a function timeout of 120 s, a lease of 200 s and a retention of 600 s (< 120 + 200 + 300)
        with pytest.raises(ConfigurationError) as caught:
            _initialize(timeout=120)
        assert "DTS_CHANGE_RETENTION_SECONDS: 600 s" in caught.value.message
        assert "at least 620" in caught.value.message
        # AND a timeout the retention covers with the lease and the margin is accepted
        _initialize(timeout=60)
    finally:
        deploy.stop()


def test_reserved_update_is_not_sent_once_the_lease_has_ended_during_the_pass(tmp_path: Path) -> None:
    # GIVEN a 1 s lease and a DescribeDtsJobDetail that takes longer than that
    deploy = oss_deployment(tmp_path, DTS_CHANGE_LEASE_SECONDS="1")
    try:
        deploy.server.add_fault({"action": "DescribeDtsJobDetail", "latencySeconds": 1.2, "count": 1})
        # WHEN a Reserved change is reconciled
        result = deploy.invoke(manual_change("late-reserved", reserved={"maxRetryTime": 7200}))
        # THEN nothing is sent under a lease that ended: the change waits for the next pass
        assert result["reconcile"][0]["action"] == "aborted"
        assert result["reconcile"][0]["error"]["code"] == "lease-held"
        assert deploy.modify_calls(accepted_only=False) == []
        deploy.settle()
        assert deploy.states() == {"late-reserved": "applied"}
    finally:
        deploy.stop()
