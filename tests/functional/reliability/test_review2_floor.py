"""Independent review (2) of the batch floor: what a reader of an OLD change reads.

Through the handler, ledger on the emulator's OSS; verdicts from the OSS requests the handler
sends and what it reports. A change recorded and applied two days ago, then a job's ordinary
traffic (changes closed one after the other). Before batch records, the duplicate delivery of
the old change cost a listing and a read of its latest version whatever the job did since.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dts_change.app.handler import App
from dts_change.emulator.oss_state import StoredObject
from dts_change.state.records import ChangeState
from tests.harness import BUCKET, JOB_KEY, OSS_LEDGER_ENV, LocalDeployment, manual_change, oss_deployment

LEDGER_PREFIX = OSS_LEDGER_ENV["DTS_CHANGE_LEDGER"].removeprefix(f"oss://{BUCKET}/")
HISTORY = 300
"""Changes the job closed after the old one (one-entry closings, as no-op passes write them)."""


def _counted(app: App) -> tuple[Callable[[], int], list[tuple[str, str]]]:
    calls: list[tuple[str, str]] = []
    send = app.oss._request

    def wrapped(method: str, action: str, bucket: str, key: str | None, *args: Any, **kwargs: Any) -> Any:
        calls.append((action, key or ""))
        return send(method, action, bucket, key, *args, **kwargs)

    app.oss._request = wrapped  # type: ignore[method-assign]
    return (lambda: len(calls)), calls


def _age(deploy: LocalDeployment, names: list[str], seconds: float) -> None:
    state = deploy.server.get_state()
    metas = state.setdefault("objectMeta", {}).setdefault(BUCKET, {})
    for name in names:
        full = f"{LEDGER_PREFIX}/{name}"
        assert full in state["buckets"][BUCKET], full
        metas.setdefault(full, {})["lastModified"] = time.time() - seconds
    deploy.server.put_state(state)


def _history(deploy: LocalDeployment) -> None:
    """HISTORY changes of the job, each recorded and closed (no-op applied) by the ledger."""
    ledger = deploy.app.ledger
    for i in range(HISTORY):
        change = {"id": f"h{i:04d}", "add": {"shop": {"name": "shop", "all": False, "Table": {}}}}
        record, created = ledger.record(idempotency_key=f"idem-h{i:04d}", change_id=f"h{i:04d}",
                                        job_key=JOB_KEY, change=change)
        assert created
        current = ledger.get(record.key)
        assert current is not None
        ledger.transition(current, ChangeState.APPLIED, evidence={"noOp": True})


def test_a_duplicate_delivery_of_an_old_change_costs_no_more_than_its_record(tmp_path: Path) -> None:
    deploy = oss_deployment(tmp_path)
    try:
        # GIVEN a change applied two days ago (its objects dated then)
        old = manual_change("old", add=["shop.review_old"])
        deploy.invoke(old)
        deploy.settle()
        assert deploy.states() == {"old": "applied"}
        store = deploy.app.ledger.store
        _age(deploy, [n for n in store.list("") if not n.startswith(("leases/", "order/"))], 2 * 86400)
        # AND the job's traffic since: HISTORY changes closed one after the other
        _history(deploy)
        # WHEN the old change's event is delivered again, to a new instance
        cold = deploy.new_app()
        count, calls = _counted(cold)
        result = deploy.invoke(old, app=cold)
        # THEN it is reported as the duplicate of an applied change
        [accepted] = result["results"] if "results" in result else result["changes"]
        assert accepted["outcome"] == "duplicate", accepted
        assert accepted["state"] == "applied", accepted
        # AND what it cost does not grow with what the job did since: no more than a tenth of a
        # read per change the job closed since (before batch records: a listing and a read)
        gets = [key for action, key in calls if action == "GetObject"]
        assert len(gets) <= HISTORY // 10, (count(), len(gets), gets[:5])
    finally:
        deploy.stop()


@pytest.mark.parametrize("md5_etags", [True, False], ids=["md5-etags", "other-etags"])
def test_a_pass_over_one_open_change_reads_no_closed_history_whatever_the_etags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, md5_etags: bool,
) -> None:
    # GIVEN a store whose ETags are the MD5 of the bytes, or not (as for objects a store
    # encrypts server-side, or another S3-compatible store): only their identity is promised
    if not md5_etags:
        monkeypatch.setattr(StoredObject, "etag", property(
            lambda self: '"' + hashlib.sha256(self.body).hexdigest()[:32].upper() + '"'))
    deploy = oss_deployment(tmp_path)
    try:
        # AND a job that closed HISTORY changes, a day ago
        _history(deploy)
        store = deploy.app.ledger.store
        _age(deploy, [n for n in store.list("") if not n.startswith(("leases/", "order/"))], 86400)
        # WHEN a new change arrives and its pass runs on a new instance, then its next pass
        app = deploy.new_app()
        _count, calls = _counted(app)
        result = deploy.invoke(manual_change("new", add=["shop.review_new"]), app=app)
        first = [key for action, key in calls if action == "GetObject"]
        calls.clear()
        again = deploy.tick(app)
        second = [key for action, key in calls if action == "GetObject"]
        # THEN it is submitted, then applied
        assert [r["action"] for r in result["reconcile"]] == ["submitted"], result["reconcile"]
        assert [r["action"] for r in again["reconcile"]] == ["confirmed"], again["reconcile"]
        assert deploy.states()["new"] == "applied"
        # AND neither pass read more than a handful of objects: not one per change closed before
        assert len(first) <= HISTORY // 10, (len(first), len(second), first[:5])
        assert len(second) <= HISTORY // 10, (len(second), second[:5])
    finally:
        deploy.stop()
