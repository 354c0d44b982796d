"""DtsBackend verbs without HTTP: status gates, 1 MB limit, ClientToken, Modifying, switches, hooks."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from dts_change.emulator.admin import EmulatorCore
from dts_change.emulator.dts_state import (
    MAX_DBLIST_BYTES,
    ModifyRequest,
    dblist_size,
    detail_status,
    find_state_key,
    with_state_keys,
)
from dts_change.emulator.wire_errors import EmulatedApiError
from tests.unit.emulator.builders import DEFAULT_DBLIST, FakeClock, base_state, job_state

NEW_LIST: dict[str, Any] = {"sales": {"name": "sales", "all": True}}
JOB = "dtsjob-demo"


def make(**job_overrides: Any) -> tuple[EmulatorCore, FakeClock]:
    clock = FakeClock()
    state = base_state(**{JOB: job_state(**job_overrides)})
    return EmulatorCore(state, clock=clock), clock


def modify(core: EmulatorCore, now: float, **fields: Any) -> tuple[dict[str, Any], bool]:
    request = ModifyRequest(instance_id=fields.pop("instance_id", "dtsins-demo"), **fields)
    return core.dts.modify_dts_job(request, now)


def describe(core: EmulatorCore, now: float, direction: str = "Forward") -> Any:
    return core.dts.describe_dts_job_detail(JOB, None, direction, None, now)


def test_modify_dts_job_synchronizing_starts_modifying_with_sub_sync_job() -> None:
    core, clock = make()
    response, dedup = modify(core, clock(), db_list=NEW_LIST)
    assert response == {"DtsJobId": JOB, "Success": True}
    assert dedup is False
    snap = describe(core, clock())
    assert snap.status == "Modifying"
    assert [(s.status, s.running) for s in snap.sub_sync_jobs] == [("Prechecking", True)]
    # the job's list changes only when the sub-task finishes (settings.applyDbListOn = finish)
    assert snap.db_list == DEFAULT_DBLIST


def test_modify_dts_job_time_progression_returns_previous_status_and_new_list() -> None:
    core, clock = make(modifyDurationSeconds=0.5)
    modify(core, clock(), db_list=NEW_LIST)
    clock.advance(0.49)
    assert describe(core, clock()).status == "Modifying"
    clock.advance(0.02)
    snap = describe(core, clock())
    assert (snap.status, snap.db_list) == ("Synchronizing", NEW_LIST)
    assert [s.status for s in snap.sub_sync_jobs] == ["Finished"]


def test_modify_dts_job_zero_duration_finishes_immediately() -> None:
    core, clock = make(modifyDurationSeconds=0)
    modify(core, clock(), db_list=NEW_LIST)
    assert core.get_state()["jobs"][JOB]["status"] == "Synchronizing"
    assert core.get_state()["jobs"][JOB]["dbList"] == NEW_LIST


def test_modify_dts_job_after_describes_mode_is_deterministic() -> None:
    # GIVEN Modifying ends after 2 describes (no time involved)
    core, clock = make(modifyDurationSeconds=1000, modifyAfterDescribes=2)
    modify(core, clock(), db_list=NEW_LIST)
    clock.advance(10_000)
    # THEN the first two describes see Modifying, the third the finished job
    assert [describe(core, clock()).status for _ in range(3)] == ["Modifying", "Modifying", "Synchronizing"]


def test_modify_dts_job_while_modifying_returns_job_status_modifying() -> None:
    core, clock = make()
    modify(core, clock(), db_list=NEW_LIST)
    with pytest.raises(EmulatedApiError) as raised:
        modify(core, clock(), db_list=DEFAULT_DBLIST)
    assert (raised.value.code, raised.value.http_status) == ("OperationDenied.JobStatusModifying", 403)


def test_modify_dts_job_not_configured_returns_invalid_init_status() -> None:
    core, clock = make(status="NotConfigured")
    with pytest.raises(EmulatedApiError) as raised:
        modify(core, clock(), db_list=NEW_LIST)
    assert (raised.value.code, raised.value.http_status) == ("CheckStatus.InvalidInitStatus", 403)


def test_modify_dts_job_failed_status_is_modifiable() -> None:
    core, clock = make(status="Failed", modifyDurationSeconds=0)
    modify(core, clock(), db_list=NEW_LIST)
    assert core.get_state()["jobs"][JOB]["status"] == "Failed"


def test_modify_dts_job_suspending_returns_configured_not_running_code() -> None:
    core, clock = make(status="Suspending")
    with pytest.raises(EmulatedApiError) as raised:
        modify(core, clock(), db_list=NEW_LIST)
    assert raised.value.code == "DTS.Msg.ModifyDenied.JobStatusNotRunning"


def test_modify_dts_job_unknown_instance_returns_configurable_not_found() -> None:
    core, clock = make()
    with pytest.raises(EmulatedApiError) as raised:
        modify(core, clock(), instance_id="dtsins-none", db_list=NEW_LIST)
    assert (raised.value.code, raised.value.http_status) == ("Forbidden.InstanceNotFound", 404)
    state = core.get_state()
    state["settings"]["codes"]["jobNotFound"] = {"code": "InvalidJobId.NotFound", "httpStatus": 400}
    core.put_state(state)
    with pytest.raises(EmulatedApiError) as again:
        modify(core, clock(), instance_id="dtsins-none", db_list=NEW_LIST)
    assert (again.value.code, again.value.http_status) == ("InvalidJobId.NotFound", 400)


def test_modify_dts_job_job_id_of_another_instance_is_not_found() -> None:
    core, clock = make()
    with pytest.raises(EmulatedApiError):
        modify(core, clock(), instance_id="dtsins-other", job_id=JOB, db_list=NEW_LIST)


def _list_of_size(size: int) -> dict[str, Any]:
    base = {"db": {"name": "db", "all": True, "filter": ""}}
    padding = size - dblist_size(base)
    return {"db": {"name": "db", "all": True, "filter": "x" * padding}}


def test_modify_dts_job_dblist_exactly_1_mib_is_accepted() -> None:
    core, clock = make()
    db_list = _list_of_size(MAX_DBLIST_BYTES)
    assert dblist_size(db_list) == MAX_DBLIST_BYTES
    modify(core, clock(), db_list=db_list)
    assert core.get_state()["jobs"][JOB]["status"] == "Modifying"


def test_modify_dts_job_dblist_one_byte_over_is_rejected_and_nothing_changes() -> None:
    core, clock = make()
    with pytest.raises(EmulatedApiError) as raised:
        modify(core, clock(), db_list=_list_of_size(MAX_DBLIST_BYTES + 1))
    assert (raised.value.code, raised.value.http_status) == ("InvalidParameter.DbListTooLarge", 400)
    assert core.get_state()["jobs"][JOB]["status"] == "Synchronizing"


def test_dblist_size_counts_utf8_bytes_of_compact_json() -> None:
    assert dblist_size({"表": {"name": "表"}}) == len('{"表":{"name":"表"}}'.encode())


def test_client_token_repeated_same_request_answers_original_without_applying_twice() -> None:
    # GIVEN a modification with a token, finished
    core, clock = make(modifyDurationSeconds=1)
    first, _ = modify(core, clock(), db_list=NEW_LIST, client_token="t-1")
    # WHEN the same request is retried while the job is Modifying
    again, dedup = modify(core, clock(), db_list=NEW_LIST, client_token="t-1")
    # THEN it is answered like the first one, and only one sub-task exists
    assert (again, dedup) == (first, True)
    assert len(core.get_state()["jobs"][JOB]["subSyncJobs"]) == 1


def test_client_token_reused_with_other_request_returns_idempotency_mismatch() -> None:
    core, clock = make(modifyDurationSeconds=0)
    modify(core, clock(), db_list=NEW_LIST, client_token="t-1")
    with pytest.raises(EmulatedApiError) as raised:
        modify(core, clock(), db_list=DEFAULT_DBLIST, client_token="t-1")
    assert (raised.value.code, raised.value.http_status) == ("IdempotentParameterMismatch", 400)


def test_client_token_of_failed_request_is_not_consumed() -> None:
    core, clock = make(modifyDurationSeconds=1)
    modify(core, clock(), db_list=NEW_LIST, client_token="t-1")
    with pytest.raises(EmulatedApiError):
        modify(core, clock(), db_list=DEFAULT_DBLIST, client_token="t-2")  # JobStatusModifying
    clock.advance(2)
    _, dedup = modify(core, clock(), db_list=DEFAULT_DBLIST, client_token="t-2")
    assert dedup is False


def test_client_token_ttl_lets_an_old_token_apply_again() -> None:
    core, clock = make(modifyDurationSeconds=0)
    state = core.get_state()
    state["settings"]["clientTokenTtlSeconds"] = 10
    core.put_state(state)
    modify(core, clock(), db_list=NEW_LIST, client_token="t-1")
    clock.advance(11)
    _, dedup = modify(core, clock(), db_list=NEW_LIST, client_token="t-1")
    assert dedup is False


def test_update_reserved_merges_keys_without_modifying() -> None:
    core, clock = make(reserved={"a": "1", "b": "2"})
    modify(core, clock(), reserved={"b": "3", "c": "4"}, modify_type="UPDATE_RESERVED")
    job = core.get_state()["jobs"][JOB]
    assert job["reserved"] == {"a": "1", "b": "3", "c": "4"}
    assert (job["status"], job["dbList"]) == ("Synchronizing", DEFAULT_DBLIST)


def test_switch_fail_precheck_keeps_old_list_and_reports_detail() -> None:
    # GIVEN the failPrecheck switch on this job
    core, clock = make(modifyDurationSeconds=1, switches={"failPrecheck": True})
    modify(core, clock(), db_list=NEW_LIST)
    clock.advance(1)
    # WHEN the modification ends
    snap = describe(core, clock())
    # THEN the status is back, the old list kept, and the sub-task says PrecheckFailed
    assert (snap.status, snap.db_list) == ("Synchronizing", DEFAULT_DBLIST)
    sub = snap.sub_sync_jobs[-1]
    assert sub.status == "PrecheckFailed"
    assert sub.precheck_failed_reason


def test_switch_fail_precheck_with_apply_on_submit_restores_old_list() -> None:
    core, clock = make(modifyDurationSeconds=1, switches={"failPrecheck": True})
    state = core.get_state()
    state["settings"]["applyDbListOn"] = "submit"
    core.put_state(state)
    modify(core, clock(), db_list=NEW_LIST)
    assert describe(core, clock()).db_list == NEW_LIST
    clock.advance(1)
    assert describe(core, clock()).db_list == DEFAULT_DBLIST


def test_switch_reject_state_keys_refuses_state_sent_back() -> None:
    core, clock = make(switches={"rejectStateKeys": True})
    with pytest.raises(EmulatedApiError) as raised:
        modify(core, clock(), db_list=with_state_keys(DEFAULT_DBLIST))
    assert raised.value.code == "InvalidParameter.DbList"
    assert raised.value.message.endswith("Key sales.state.")


def test_state_keys_are_accepted_by_default_and_stored_as_sent() -> None:
    core, clock = make(modifyDurationSeconds=0)
    modify(core, clock(), db_list=with_state_keys(DEFAULT_DBLIST))
    assert core.get_state()["jobs"][JOB]["dbList"] == with_state_keys(DEFAULT_DBLIST)


def test_with_state_keys_marks_databases_and_tables_only() -> None:
    marked = with_state_keys(
        {"d": {"name": "d", "all": False, "Table": {"t": {"name": "t", "column": {"c": {"name": "c"}}}}}}
    )
    assert marked == {
        "d": {
            "name": "d",
            "all": False,
            "state": "normal",
            "Table": {"t": {"name": "t", "column": {"c": {"name": "c"}}, "state": "normal"}},
        }
    }
    assert find_state_key(marked) == "d.state"


def test_detail_status_spells_synchronizing_lower_case_only() -> None:
    assert [detail_status(s) for s in ("Synchronizing", "synchronizing", "Modifying", "failed")] == [
        "synchronizing",
        "synchronizing",
        "Modifying",
        "Failed",
    ]


def test_two_way_job_directions_keep_separate_lists() -> None:
    reverse_list = {"crm": {"name": "crm", "all": True}}
    core, clock = make(modifyDurationSeconds=0, reverse={"dbList": reverse_list})
    modify(core, clock(), db_list=NEW_LIST, direction="Reverse")
    assert describe(core, clock(), "Reverse").db_list == NEW_LIST
    assert describe(core, clock(), "Forward").db_list == DEFAULT_DBLIST


def test_one_way_job_reverse_direction_is_refused() -> None:
    core, clock = make()
    with pytest.raises(EmulatedApiError) as raised:
        describe(core, clock(), "Reverse")
    assert raised.value.code == "InvalidParameter"


def test_hook_replaces_dblist_right_after_next_describe() -> None:
    # GIVEN a hook simulating a write from elsewhere
    core, clock = make()
    core.add_hook({"jobId": JOB, "dbList": {"other": {"name": "other", "all": True}}})
    # WHEN the job is described, THEN that describe still sees the old list, the next the new one
    assert describe(core, clock()).db_list == DEFAULT_DBLIST
    assert describe(core, clock()).db_list == {"other": {"name": "other", "all": True}}
    assert core.get_state()["hooks"] == []


def test_hook_after_two_describes_fires_on_the_second() -> None:
    core, clock = make()
    core.add_hook({"jobId": JOB, "afterDescribes": 2, "dbList": NEW_LIST})
    first, second, third = (describe(core, clock()).db_list for _ in range(3))
    assert (first, second, third) == (DEFAULT_DBLIST, DEFAULT_DBLIST, NEW_LIST)


def test_hook_start_modification_puts_job_in_modifying() -> None:
    core, clock = make(modifyDurationSeconds=5)
    core.add_hook({"jobId": JOB, "startModification": True, "dbList": NEW_LIST})
    describe(core, clock())
    with pytest.raises(EmulatedApiError) as raised:
        modify(core, clock(), db_list=DEFAULT_DBLIST)
    assert raised.value.code == "OperationDenied.JobStatusModifying"


def test_hook_for_unknown_job_is_refused() -> None:
    core, _ = make()
    with pytest.raises(EmulatedApiError):
        core.add_hook({"jobId": "nope", "dbList": {}})


def test_state_round_trip_through_put_is_identity_mid_modification() -> None:
    # GIVEN a job mid-modification with a token and a hook
    core, clock = make(modifyDurationSeconds=5)
    modify(core, clock(), db_list=NEW_LIST, client_token="t-1")
    core.add_hook({"jobId": JOB, "dbList": NEW_LIST})
    before = core.get_state()
    # WHEN the state is put back
    after = core.put_state(copy.deepcopy(before))
    # THEN nothing changed, and the modification still completes on time
    assert after == before
    clock.advance(5)
    assert core.get_state()["jobs"][JOB]["dbList"] == NEW_LIST
