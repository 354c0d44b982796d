from __future__ import annotations

import pytest

from dts_change.clients.dts_models import JobDetail
from dts_change.reconcile.gate import is_modifiable, latest_sub_job
from dts_change.reconcile.submit import client_token_for


def detail(status, *, sub=None, data_sync=None) -> JobDetail:
    body = {"Status": status, "DtsJobId": "j1", "DbObject": "{}", "Success": True}
    if sub is not None:
        body["SubSyncJob"] = sub
    if data_sync is not None:
        body["DataSynchronizationStatus"] = {"Status": data_sync}
    return JobDetail.from_response(body)


@pytest.mark.parametrize("status", ["synchronizing", "Synchronizing", "SYNCHRONIZING"])
def test_is_modifiable_synchronizing_in_any_case_is_ok(status):
    assert is_modifiable(detail(status)).ok


def test_is_modifiable_modifying_waits():
    verdict = is_modifiable(detail("Modifying"))
    assert verdict.kind == "modifying" and not verdict.ok


def test_is_modifiable_running_sub_task_waits_even_when_status_is_back():
    verdict = is_modifiable(detail("synchronizing", sub=[{"JobType": "subSync", "Status": "Prechecking"}]))
    assert verdict.kind == "modifying"


@pytest.mark.parametrize("sub_status", ["Finished", "PrecheckFailed", "Failed"])
def test_is_modifiable_finished_or_failed_sub_task_allows_the_next_write(sub_status):
    assert is_modifiable(detail("synchronizing", sub=[{"JobType": "subSync", "Status": sub_status}])).ok


def test_is_modifiable_not_configured_is_permanent():
    assert is_modifiable(detail("NotConfigured")).kind == "not_configured"


def test_is_modifiable_failed_during_incremental_sync_is_allowed():
    assert is_modifiable(detail("Failed", data_sync="Failed")).ok
    assert is_modifiable(detail("Failed", data_sync="NotStarted")).kind == "not_running"
    assert is_modifiable(detail("Failed")).kind == "not_running"


@pytest.mark.parametrize("status", ["Suspending", "NotStarted", "Prechecking", "Initializing", "Retrying", "Locked", "Finished", None])
def test_is_modifiable_other_statuses_wait_until_max_age(status):
    assert is_modifiable(detail(status)).kind == "not_running"


def test_latest_sub_job_is_the_last_sub_sync_entry():
    d = detail("synchronizing", sub=[{"JobType": "subSync", "Status": "Finished"}, {"JobType": "subSync", "Status": "Prechecking"}])
    assert latest_sub_job(d).status == "Prechecking"


def test_client_token_is_stable_for_the_same_submission_and_differs_otherwise():
    a = client_token_for("j/Forward", "addition", '{"a":1}', '{"a":1,"b":2}')
    assert a == client_token_for("j/Forward", "addition", '{"a":1}', '{"a":1,"b":2}')
    assert len(a) == 64 and a.isascii()
    assert a != client_token_for("j/Forward", "removal", '{"a":1}', '{"a":1,"b":2}')
    assert a != client_token_for("j/Reverse", "addition", '{"a":1}', '{"a":1,"b":2}')
    assert a != client_token_for("j/Forward", "addition", '{"a":2}', '{"a":1,"b":2}')
    assert a != client_token_for("j/Forward", "addition", '{"a":1}', '{"a":1,"b":3}')
