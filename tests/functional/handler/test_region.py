"""Issue 11 point 9 through the handler and the emulator: a change for another region than the
function's is refused with a code; nothing is ever submitted to the function's region for it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from dts_change.intake.accept import intake_event
from tests.harness import INSTANCE, JOB, LocalDeployment, manual_change, seed_state


@pytest.fixture
def deploy(tmp_path: Path) -> Iterator[LocalDeployment]:
    d = LocalDeployment(tmp_path)
    yield d
    d.stop()


def assert_refused(deploy: LocalDeployment, result: dict, region: str) -> None:
    change = result["changes"][0]
    assert change["outcome"] == "dead_lettered", change
    assert change["code"] == "job-region-mismatch"
    assert region in change["message"] and "cn-hangzhou" in change["message"]
    assert deploy.server.calls("ModifyDtsJob") == []
    letters = [d.error["code"] for d in deploy.dead_letters()]
    assert letters == ["job-region-mismatch"]


def test_a_change_document_naming_another_region_is_refused(deploy):
    result = deploy.invoke(manual_change("rg-1", job={"dtsJobId": JOB, "region": "cn-shanghai"}, add=["shop.refunds"]))
    assert_refused(deploy, result, "cn-shanghai")


def test_a_modify_request_naming_another_region_is_refused(deploy):
    request = {"DtsInstanceId": INSTANCE, "DtsJobId": JOB, "RegionId": "cn-beijing",
               "DbList": '{"shop":{"name":"shop","all":false,"Table":{"refunds":{"name":"refunds","all":true}}}}'}
    assert_refused(deploy, deploy.invoke(request), "cn-beijing")


def test_a_modify_request_with_only_a_region_is_refused_not_routed_to_the_default_job(deploy):
    request = {"RegionId": "cn-beijing", "DbList": '{"crm":{"name":"crm","all":true}}'}
    assert_refused(deploy, deploy.invoke(request), "cn-beijing")


def test_a_route_naming_another_region_is_refused(tmp_path):
    routes = json.dumps([{"name": "far", "queue": "q-far", "dtsJobId": JOB, "region": "ap-southeast-1"}])
    deploy = LocalDeployment(tmp_path, seed_state(), DTS_CHANGE_ROUTES=routes, DTS_JOB_ID="", DTS_INSTANCE_ID="")
    try:
        event = [{"id": "ev-1", "source": "MNS-fn-q", "specversion": "1.0", "type": "mns:Queue:SendMessage",
                  "subject": "acs:mns:cn-hangzhou:1:queues/q-far", "data": {
                      "messageId": "m-1", "messageBody": '{"id": "far-1", "add": ["shop.refunds"]}'}}]
        assert_refused(deploy, deploy.invoke(json.dumps(event)), "ap-southeast-1")
    finally:
        deploy.stop()


def test_the_functions_own_region_named_explicitly_is_accepted(deploy):
    result = deploy.invoke(manual_change("rg-ok", job={"dtsJobId": JOB, "region": "cn-hangzhou"}, add=["shop.refunds"]))
    assert result["changes"][0]["outcome"] == "submitted"
    assert len(deploy.modify_calls()) == 1


def test_a_change_recorded_for_another_region_is_dead_lettered_by_the_pass_not_sent(deploy):
    # GIVEN a change already in the ledger for another region (recorded by an older version)
    outcome = intake_event(json.dumps(manual_change("old-rec", add=["shop.refunds"])).encode(),
                           settings=deploy.app.intake_settings)
    change = outcome[0].changes[0].to_record()
    change["job"] = {**change["job"], "region": "cn-shanghai"}
    deploy.app.ledger.record(idempotency_key="k-old-region", change_id="old-rec", job_key=f"{JOB}/Forward", change=change)
    # WHEN the timer pass runs
    report = deploy.tick()["reconcile"][0]
    assert report["action"] == "region-mismatch"
    # THEN nothing reached DTS and the change is dead-lettered with the code
    assert deploy.server.calls("ModifyDtsJob") == []
    assert deploy.states() == {"old-rec": "dead_lettered"}
    assert [d.error["code"] for d in deploy.dead_letters()] == ["job-region-mismatch"]
