"""A new instance's first OSS event: how many round trips it makes, and in which order.

The packaged cold start (docs/performance.md) is mostly these calls, so their number is held
here, through the real path: `index.initialize` and `index.handler` with FC's environment (job
id only, ledger and dead letters on the emulator's OSS), counted in the emulator's call log.
The order of the last calls before ModifyDtsJob is the safety of issues 11/12 and is checked too.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from dts_change.app.handler import reset_app
from tests.conftest import EVENTS_DIR
from tests.harness import BUCKET, JOB, LocalDeployment, oss_deployment

FIRST_EVENT_CALLS = 21
"""Round trips of the first event (32 before the cold-start work: records read back, the
instance resolved twice, the open index listed twice, the lease re-read and listed on release;
23 before the instance was taken from DescribeDtsJobDetail instead of a DescribeDtsJobs, 22
before the outcome of a change the pass itself settled was no longer read back, 21 before the
lease check listed the lease folder once instead of reading two generations, 20 before batch
records, issue 12.10: resolving a change's effective record in the pass lists its job's batch
folder)."""

KEY = "dts-change/incoming/add-tables.json"


def _oss_event(body: str) -> bytes:
    event = json.loads((EVENTS_DIR / "oss-object-created.json").read_text(encoding="utf-8"))
    event["events"][0]["oss"]["object"].update(
        {"key": KEY, "size": len(body.encode()),
         "eTag": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest().upper()}
    )
    return json.dumps(event).encode()


def _what(call: dict[str, Any]) -> str:
    """`Action path-kind`: e.g. `GetObject leases`, `PutObject sent`, `ModifyDtsJob`."""
    key = call.get("key") or call.get("prefix") or ""
    kind = key.split("dts-change/ledger/", 1)[1].split("/", 1)[0] if "dts-change/ledger/" in key else ""
    return f"{call['action']} {kind}".strip()


def _fc_environment(deploy: LocalDeployment, monkeypatch: pytest.MonkeyPatch) -> None:
    """FC's environment: the job id only (the instance is not given), stores on OSS."""
    env = dict(deploy.env)
    env.pop("DTS_INSTANCE_ID")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DTS_INSTANCE_ID", raising=False)


Calls = list[dict[str, Any]]


def _first_event_after_initialize(deploy: LocalDeployment) -> tuple[dict[str, Any], Calls, Calls]:
    """A new instance: `index.initialize`, then its first OSS event; the event's result, the
    calls initialize made and the calls the event made."""
    import index

    reset_app()
    context = SimpleNamespace(request_id="first", function=SimpleNamespace(timeout=110))
    body = deploy.server.get_state()["buckets"][BUCKET][KEY]
    before = len(deploy.server.calls())
    index.initialize(context)
    initialized = len(deploy.server.calls())
    result = json.loads(index.handler(_oss_event(body), context))
    calls = deploy.server.calls()
    return result, calls[before:initialized], calls[initialized:]


def test_first_event_of_a_new_instance_makes_at_most_the_known_round_trips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deploy = oss_deployment(tmp_path)
    try:
        # GIVEN FC's environment: the job id only (its instance is looked up), stores on OSS
        _fc_environment(deploy, monkeypatch)
        # WHEN a new instance initializes and takes its first OSS event
        result, initialize_calls, calls = _first_event_after_initialize(deploy)
        # THEN the change was submitted
        assert [c["outcome"] for c in result["changes"]] == ["submitted"]
        # AND initialize asked one thing (is the bucket versioned?) and the event no more than
        # the known number of round trips
        assert [c["action"] for c in initialize_calls] == ["GetBucketVersioning"]
        whats = [_what(c) for c in calls]
        assert len(calls) <= FIRST_EVENT_CALLS, whats
        # AND the instance came with the job's detail (no DescribeDtsJobs), the change's record
        # was never read back
        assert whats.count("DescribeDtsJobs") == 0
        assert "GetObject changes" not in whats
        # AND before the write: the write-ahead note, the DbList re-read, then the lease check
        # (one listing: no later generation, ours as we wrote it) as the last step before ModifyDtsJob
        modify = whats.index("ModifyDtsJob")
        assert whats[modify - 3 : modify] == ["PutObject sent", "DescribeDtsJobDetail", "ListObjectsV2 leases"], whats
        assert calls[modify - 1]["httpStatus"] == 200 and calls[modify - 1]["keyCount"] == 1
        assert calls[modify]["jobId"] == JOB and calls[modify]["outcome"] == "ok"
        assert calls[modify]["instanceId"] == deploy.server.get_state()["jobs"][JOB]["instanceId"]
        reset_app()
    finally:
        deploy.stop()


def test_a_detail_without_its_instance_id_falls_back_to_describe_dts_jobs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    from dts_change.clients.dts import DtsClient

    deploy = oss_deployment(tmp_path)
    try:
        # GIVEN FC's environment with the job id only, and a DescribeDtsJobDetail answer that
        # does not name the instance (the field is not guaranteed by every API version)
        _fc_environment(deploy, monkeypatch)
        described = DtsClient.describe_dts_job_detail

        def without_instance(self: DtsClient, *args: Any, **kwargs: Any) -> Any:
            return dataclasses.replace(described(self, *args, **kwargs), instance_id=None)

        monkeypatch.setattr(DtsClient, "describe_dts_job_detail", without_instance)
        # WHEN a new instance handles its first event
        result, _, calls = _first_event_after_initialize(deploy)
        # THEN the instance was looked up with DescribeDtsJobs, once, and ModifyDtsJob named it
        assert [c["outcome"] for c in result["changes"]] == ["submitted"]
        whats = [_what(c) for c in calls]
        assert whats.count("DescribeDtsJobs") == 1
        modify = [c for c in calls if c["action"] == "ModifyDtsJob"]
        assert len(modify) == 1
        assert modify[0]["instanceId"] == deploy.server.get_state()["jobs"][JOB]["instanceId"]
        reset_app()
    finally:
        deploy.stop()


def test_a_job_named_by_id_that_is_not_a_sync_job_is_refused_not_modified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deploy = oss_deployment(tmp_path)
    try:
        # GIVEN FC's environment with the job id only, and that job a migration job, not a sync job
        _fc_environment(deploy, monkeypatch)
        deploy.set_job(jobType="MIGRATION")
        # WHEN a new instance's first event names a change for it
        result, _, calls = _first_event_after_initialize(deploy)
        # THEN its detail's JobType is not taken as a sync job's: DescribeDtsJobs (JobType SYNC)
        # does not list it, the change is dead-lettered job-not-found, and nothing is modified
        assert [(c["outcome"], c["code"]) for c in result["changes"]] == [("dead_lettered", "job-not-found")]
        whats = [_what(c) for c in calls]
        assert "DescribeDtsJobs" in whats and "ModifyDtsJob" not in whats
        reset_app()
    finally:
        deploy.stop()
