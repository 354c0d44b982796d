"""Issue 11 point 10 through the handler, the emulator (which checks signatures and STS tokens)
and the OSS ledger: the invocation's credentials serve everything the invocation does, and
environment credentials are read again on every invocation (FC rotates them)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from dts_change.app import handler as handler_module
from dts_change.state.batches import apply_batches, decode_batch, index_entries
from dts_change.state.records import ChangeRecord
from tests.harness import JOB, LocalDeployment, manual_change, seed_state

STATE_BUCKET = "dts-change-state"


def context(key_id: str | None = None, secret: str | None = None, token: str | None = None) -> Any:
    creds = SimpleNamespace(access_key_id=key_id, access_key_secret=secret, security_token=token) if key_id else None
    return SimpleNamespace(request_id=f"req-{time.monotonic_ns()}", function=SimpleNamespace(timeout=30.0),
                           credentials=creds)


def oss_state(**credentials: dict[str, Any]) -> dict[str, Any]:
    state = seed_state()
    state["credentials"] = credentials
    state["buckets"][STATE_BUCKET] = {}
    return state


def set_credentials(deploy: LocalDeployment, **credentials: dict[str, Any]) -> None:
    state = deploy.server.get_state()
    state["credentials"] = credentials
    deploy.server.put_state(state)


def ledger_records(deploy: LocalDeployment) -> dict[str, dict[str, Any]]:
    """The ledger as the emulator's OSS holds it (not through the handler's client): each
    change's latest own version with its job's batch entries applied."""
    objects = deploy.server.get_state()["buckets"][STATE_BUCKET]
    own: dict[str, ChangeRecord] = {}
    batches = []
    for key, body in sorted(objects.items()):
        if not key.startswith("ledger/"):
            continue
        raw = (body if isinstance(body, str) else json.dumps(body)).encode("utf-8")
        if key.startswith("ledger/batches/"):
            batches.append(decode_batch(key, raw, where=key))
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        if isinstance(data, dict) and "change_id" in data and "state" in data:
            record = ChangeRecord.from_dict(data)
            if record.key not in own or own[record.key].version < record.version:
                own[record.key] = record
    entries = index_entries(sorted(batches, key=lambda b: b.number))
    return {
        r.change_id: apply_batches(r, entries.get(r.key), where="ledger/batches/").to_dict() for r in own.values()
    }


@pytest.fixture
def context_only(tmp_path: Path) -> Iterator[LocalDeployment]:
    """python3.10-style: no credentials in the environment, STS credentials on the context only;
    ledger and dead letters on OSS."""
    deploy = LocalDeployment(
        tmp_path,
        oss_state(**{"STS.ctx1": {"secret": "ctx1-secret", "securityToken": "ctx1-token"}}),
        ALIBABA_CLOUD_ACCESS_KEY_ID="",
        ALIBABA_CLOUD_ACCESS_KEY_SECRET="",
        DTS_CHANGE_LEDGER=f"oss://{STATE_BUCKET}/ledger",
        DTS_CHANGE_DEAD_LETTER=f"oss://{STATE_BUCKET}/dead-letter",
    )
    yield deploy
    deploy.stop()


def test_context_credentials_serve_the_whole_invocation_with_the_ledger_on_oss(context_only):
    deploy = context_only
    ctx = context("STS.ctx1", "ctx1-secret", "ctx1-token")
    # WHEN a change arrives with credentials only on the context
    result = deploy.app.handle(json.dumps(manual_change("cred-1", add=["shop.refunds"])), ctx)
    # THEN the invocation finishes (no raise after ModifyDtsJob was accepted) and says submitted
    assert [c["outcome"] for c in result["changes"]] == ["submitted"]
    assert len(deploy.modify_calls()) == 1
    assert ledger_records(deploy)["cred-1"]["state"] == "submitted"


def test_rotated_context_credentials_are_used_and_the_old_ones_are_not_kept(context_only):
    deploy = context_only
    deploy.app.handle(json.dumps(manual_change("cred-2", add=["shop.refunds"])), context("STS.ctx1", "ctx1-secret", "ctx1-token"))
    # GIVEN FC rotated the role's credentials: the first ones no longer exist
    set_credentials(deploy, **{"STS.ctx2": {"secret": "ctx2-secret", "securityToken": "ctx2-token"}})
    # WHEN the timer runs with the new context THEN it confirms the change with them
    result = deploy.app.handle(json.dumps({"triggerName": "reconcile", "triggerTime": "2024-05-01T00:01:00Z",
                                           "payload": '{"action":"reconcile"}'}), context("STS.ctx2", "ctx2-secret", "ctx2-token"))
    assert result["reconcile"][0]["action"] in ("confirmed", "nothing-to-do"), result
    assert ledger_records(deploy)["cred-2"]["state"] == "applied"
    # AND outside an invocation the handler holds no credentials at all
    with pytest.raises(Exception, match="No credentials"):
        deploy.app.credentials.get()


def test_environment_credentials_are_read_again_on_every_invocation(tmp_path, monkeypatch):
    deploy = LocalDeployment(tmp_path, oss_state(**{"LTAIold": {"secret": "old-secret", "securityToken": None}}),
                             ALIBABA_CLOUD_ACCESS_KEY_ID="LTAIold", ALIBABA_CLOUD_ACCESS_KEY_SECRET="old-secret",
                             DTS_CHANGE_LEDGER=f"oss://{STATE_BUCKET}/ledger",
                             DTS_CHANGE_DEAD_LETTER=f"oss://{STATE_BUCKET}/dead-letter")
    try:
        # GIVEN the instance was built from the process environment, as FC's initializer does
        for key, value in deploy.env.items():
            monkeypatch.setenv(key, value)
        handler_module.reset_app()
        app = handler_module.get_app()
        # (the instance keeps no start-up copy of the keys)
        assert not {"ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"} & set(app.settings.env)
        first = app.handle(json.dumps(manual_change("env-1", add=["shop.refunds"])), context())
        assert first["changes"][0]["outcome"] == "submitted"
        deploy.settle(app=app)
        # WHEN FC rotates the role's credentials in the environment
        set_credentials(deploy, **{"STS.new": {"secret": "new-secret", "securityToken": "new-token"}})
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "STS.new")
        monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "new-secret")
        monkeypatch.setenv("ALIBABA_CLOUD_SECURITY_TOKEN", "new-token")
        # THEN the next invocation of the same instance signs with the new ones
        second = app.handle(json.dumps(manual_change("env-2", add=["crm.leads"])), context())
        assert second["changes"][0]["outcome"] == "submitted", second
        assert len(deploy.modify_calls()) == 2
        assert ledger_records(deploy)["env-2"]["state"] == "submitted"
    finally:
        handler_module.reset_app()
        deploy.stop()


def test_the_dts_job_is_left_untouched_when_the_context_has_no_credentials(context_only):
    deploy = context_only
    with pytest.raises(Exception, match="No credentials"):
        deploy.app.handle(json.dumps(manual_change("none-1", add=["shop.refunds"])), context())
    assert deploy.modify_calls() == []
    assert deploy.server.get_state()["jobs"][JOB]["dbList"] == seed_state()["jobs"][JOB]["dbList"]
