"""Lifecycle rules through the real path: maximum age, reserved changes, dry run, ignored deletes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dts_change.app.handler import App
from dts_change.app.settings import Settings
from tests.conftest import read_event_bytes
from tests.harness import JOB, LocalDeployment, manual_change, seed_state


@pytest.fixture
def deploy(tmp_path: Path) -> Iterator[LocalDeployment]:
    d = LocalDeployment(tmp_path)
    yield d
    d.stop()


def test_change_pending_past_max_age_is_dead_lettered_with_its_last_error(tmp_path):
    deploy = LocalDeployment(tmp_path, seed_state(status="Suspending"), DTS_CHANGE_MAX_AGE_SECONDS="60")
    now = [1_000_000.0]
    app = App(Settings.from_env(deploy.env, cwd=tmp_path), clock=lambda: now[0], sleep=lambda s: None)
    try:
        # GIVEN a change that cannot be applied while the job is paused
        first = deploy.invoke(manual_change("old", add=["shop.waiting"]), app=app)
        assert first["changes"][0]["outcome"] == "pending"
        # WHEN its maximum age passes THEN the next pass dead-letters it with the last error
        now[0] += 61
        deploy.tick(app)
        assert {r.change_id: r.state.value for r in app.ledger.all_records()} == {"old": "dead_lettered"}
        letter = app.dead_letters.list()[0]
        assert letter.error["code"] == "max-age-exceeded"
        assert "job-not-running" in letter.error["message"]
        assert deploy.modify_calls(accepted_only=False) == []
    finally:
        deploy.stop()


def test_reserved_change_uses_update_reserved_with_only_its_keys(deploy):
    result = deploy.invoke(manual_change("res", reserved={"maxRetryTime": "120"}))
    assert result["changes"][0]["outcome"] == "submitted"
    params = deploy.modify_calls()[0]["params"]
    assert params["ModifyTypeEnum"] == "UPDATE_RESERVED"
    assert params["Reserved"] == '{"maxRetryTime":"120"}'
    assert "DbList" not in params
    deploy.settle()
    assert deploy.states() == {"res": "applied"}
    state = deploy.server.get_state()["jobs"][JOB]
    assert str(state["reserved"]["maxRetryTime"]) == "120"
    assert state["reserved"]["autoStartModulesAfterConfig"] == "none"  # other keys kept (additive)
    assert set(deploy.db_list()) == {"shop", "staging", "hr"}  # the object list was not touched


def test_reserved_and_objects_in_one_change_are_both_applied(deploy):
    deploy.invoke(manual_change("both", reserved={"maxRetryTime": "240"}, add=["shop.with_reserved"]))
    deploy.settle()
    assert deploy.states() == {"both": "applied"}
    assert "with_reserved" in deploy.db_list()["shop"]["Table"]
    assert str(deploy.server.get_state()["jobs"][JOB]["reserved"]["maxRetryTime"]) == "240"


def test_dry_run_setting_reports_the_diff_and_writes_nothing(tmp_path):
    deploy = LocalDeployment(tmp_path, DTS_CHANGE_DRY_RUN="true")
    try:
        before = deploy.db_list()
        result = deploy.invoke(read_event_bytes("oss-object-created.json"))
        change = result["changes"][0]
        assert change["outcome"] == "dry_run"
        assert change["plan"]["diff"]["added"] == ["shop.order_events", "shop.order_items"]
        assert deploy.db_list() == before
        assert deploy.modify_calls(accepted_only=False) == []
        assert deploy.app.ledger.all_records() == []
    finally:
        deploy.stop()


def test_object_removed_event_is_acknowledged_and_ignored(deploy):
    result = deploy.invoke(read_event_bytes("oss-object-deleted.json"))
    assert result["changes"] == []
    assert len(result["ignored"]) == 1
    assert deploy.modify_calls(accepted_only=False) == []


def test_unrecognised_event_is_dead_lettered_not_raised(deploy):
    result = deploy.invoke(b"\xff\xfe not an event")
    assert [c["outcome"] for c in result["changes"]] == ["dead_lettered"]
    assert result["changes"][0]["code"] not in ("error", "permanent", "internal-error")
    assert len(deploy.dead_letters()) == 1


def test_reserved_submission_carries_a_client_token_reused_only_by_its_retry(deploy):
    # GIVEN DTS throttles the first UPDATE_RESERVED call
    deploy.server.add_fault({"action": "ModifyDtsJob", "code": "Throttling.User", "count": 1})
    deploy.invoke(manual_change("res-a", reserved={"maxRetryTime": "300"}))
    deploy.settle()
    calls = deploy.modify_calls(accepted_only=False)
    # THEN the retry carried the throttled call's token, and the change was applied once
    assert [c["outcome"] for c in calls] == ["Throttling.User", "ok"]
    tokens = [c["params"].get("ClientToken") for c in calls]
    assert tokens[0] and tokens[0] == tokens[1] == calls[1]["clientToken"]
    # WHEN another change later sends the same value THEN it gets a token of its own (not a retry)
    deploy.invoke(manual_change("res-b", reserved={"maxRetryTime": "300"}))
    deploy.settle()
    tokens = [c["clientToken"] for c in deploy.modify_calls()]
    assert len(tokens) == 2 and tokens[0] != tokens[1]
    assert deploy.states() == {"res-a": "applied", "res-b": "applied"}
