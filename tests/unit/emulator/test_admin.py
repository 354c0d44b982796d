"""Admin verbs and `/_emulator/*` routes: state get/put/reset, faults, hooks, call log."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dts_change.core.errors import ConfigurationError
from dts_change.emulator.admin import EmulatorCore, demo_state
from dts_change.emulator.wire import WireRequest
from tests.unit.emulator.builders import HOST, Harness, base_state

JOB = "dtsjob-demo"


def admin(harness: Harness, method: str, route: str, payload: Any = None) -> tuple[int, Any]:
    body = b"" if payload is None else json.dumps(payload).encode()
    response = harness.send(WireRequest.build(method, f"/_emulator{route}", {"host": HOST}, body))
    return response.status, response.json()


def test_get_state_returns_contract_shape_with_dblist_as_object(harness: Harness) -> None:
    status, state = admin(harness, "GET", "/state")
    assert status == 200
    assert {"credentials", "jobs", "buckets", "faults", "calls"} <= set(state)
    job = state["jobs"][JOB]
    assert isinstance(job["dbList"], dict)
    assert (job["instanceId"], job["status"], job["direction"]) == ("dtsins-demo", "Synchronizing", "Forward")
    assert state["credentials"]["LTAIdemo"]["securityToken"] is None


def test_demo_state_is_accepted_unchanged() -> None:
    state = EmulatorCore(demo_state()).get_state()
    assert state["jobs"]["dtsjob-demo"]["modifyDurationSeconds"] == 2
    assert state["buckets"] == {"dts-changes": {}}


def test_put_state_replaces_everything(harness: Harness) -> None:
    new = base_state(**{"job-2": {"instanceId": "ins-2", "dbList": {}}})
    status, state = admin(harness, "PUT", "/state", new)
    assert status == 200
    assert list(state["jobs"]) == ["job-2"]
    assert harness.dts("DescribeDtsJobDetail", {"DtsJobId": JOB}).status == 404


@pytest.mark.parametrize(
    ("patch", "where"),
    [
        ({"jobs": {"j": {"status": 5}}}, "jobs.j.status"),
        ({"jobs": {"j": {"dbList": "text"}}}, "jobs.j.dbList"),
        ({"jobs": {"j": {"direction": "Up"}}}, "jobs.j.direction"),
        ({"credentials": {"k": {"secret": ""}}}, "credentials.k.secret"),
        ({"buckets": {"b": {"k": 5}}}, "buckets.b.k"),
        ({"settings": {"applyDbListOn": "never"}}, "settings.applyDbListOn"),
        ({"faults": {}}, "faults"),
    ],
)
def test_put_state_invalid_names_the_path_and_keeps_the_old_state(
    harness: Harness, patch: dict[str, Any], where: str
) -> None:
    before = harness.core.get_state()
    status, body = admin(harness, "PUT", "/state", {**base_state(), **patch})
    assert status == 400
    assert body["Code"] == "InvalidState"
    assert body["Message"].startswith(f"Invalid emulator state at {where}:")
    assert harness.core.get_state() == before


def test_put_state_unknown_job_keys_survive_round_trip(harness: Harness) -> None:
    state = base_state()
    state["jobs"][JOB]["ownerNote"] = {"any": "thing"}
    _, after = admin(harness, "PUT", "/state", state)
    assert after["jobs"][JOB]["ownerNote"] == {"any": "thing"}


def test_reset_returns_to_the_initial_state_and_clears_calls(harness: Harness) -> None:
    harness.dts("ModifyDtsJob", {"DtsInstanceId": "dtsins-demo"}, form={"DbList": "{}"})
    admin(harness, "POST", "/faults", {"code": "Throttling.User"})
    status, state = admin(harness, "POST", "/reset")
    assert status == 200
    assert (state["jobs"][JOB]["status"], state["faults"], state["calls"]) == ("Synchronizing", [], [])


def test_calls_log_records_one_entry_per_request_with_required_fields(harness: Harness) -> None:
    harness.dts("DescribeDtsJobDetail", {"DtsJobId": JOB})
    harness.dts(
        "ModifyDtsJob", {"DtsInstanceId": "dtsins-demo", "ClientToken": "t"}, form={"DbList": '{"a":{}}'}
    )
    harness.oss("GET", "dts-changes", "changes/0001.json")
    _, body = admin(harness, "GET", "/calls")
    calls = body["calls"]
    assert [c["action"] for c in calls] == ["DescribeDtsJobDetail", "ModifyDtsJob", "GetObject"]
    modify = calls[1]
    assert {k: modify[k] for k in ("jobId", "clientToken", "outcome", "dbList")} == {
        "jobId": JOB,
        "clientToken": "t",
        "outcome": "ok",
        "dbList": {"a": {}},
    }
    assert modify["signature"]["valid"] is True
    assert isinstance(modify["time"], float)
    _, only = admin(harness, "GET", "/calls?action=GetObject")
    assert [c["key"] for c in only["calls"]] == ["changes/0001.json"]


def test_calls_log_never_holds_signatures_or_tokens(harness: Harness) -> None:
    harness.send(
        harness.rpc_v1(
            "DescribeDtsJobDetail", {"DtsJobId": JOB}, ak="STS.demo", secret="sts-secret", token="token/+=1"
        )
    )
    text = json.dumps(harness.calls())
    assert "token/+=1" not in text
    assert "Signature" not in harness.calls()[-1]["params"]


def test_calls_log_is_capped_at_max_calls() -> None:
    state = base_state()
    state["settings"] = {"maxCalls": 2}
    harness = Harness(state)
    for _ in range(3):
        harness.dts("DescribeDtsJobDetail", {"DtsJobId": JOB})
    assert [c["seq"] for c in harness.calls()] == [2, 3]


def test_admin_faults_and_hooks_routes_add_list_and_clear(harness: Harness) -> None:
    status, added = admin(harness, "POST", "/faults", [{"code": "Throttling.User"}, {"reset": True}])
    assert status == 200
    assert [f["id"] for f in added["faults"]] == [
        f["id"] for f in admin(harness, "GET", "/faults")[1]["faults"]
    ]
    admin(harness, "DELETE", "/faults")
    assert admin(harness, "GET", "/faults")[1]["faults"] == []
    status, hooks = admin(harness, "POST", "/hooks", {"jobId": JOB, "dbList": {}})
    assert (status, hooks["hooks"][0]["jobId"]) == (200, JOB)
    admin(harness, "DELETE", "/hooks")
    assert admin(harness, "GET", "/hooks")[1]["hooks"] == []


def test_admin_hook_for_unknown_job_returns_400(harness: Harness) -> None:
    status, body = admin(harness, "POST", "/hooks", {"jobId": "nope", "dbList": {}})
    assert (status, body["Code"]) == (400, "InvalidParameter")


def test_admin_bad_json_and_unknown_route_answer_errors(harness: Harness) -> None:
    response = harness.send(WireRequest.build("PUT", "/_emulator/state", {"host": HOST}, b"{nope"))
    assert (response.status, response.json()["Code"]) == (400, "InvalidRequest")
    assert admin(harness, "GET", "/nothing")[0] == 404


def test_core_rejects_non_object_state() -> None:
    with pytest.raises(ConfigurationError):
        EmulatorCore({"jobs": []})


def test_put_state_unknown_top_level_keys_survive_round_trip(harness: Harness) -> None:
    _, after = admin(harness, "PUT", "/state", {**base_state(), "region": "cn-hangzhou"})
    assert after["region"] == "cn-hangzhou"


def test_a_saved_state_loaded_again_never_reuses_a_sub_task_id():
    """The CLI's local deployment saves the state after each command and loads it in the next."""
    from dts_change.app.local_deploy import sample_state
    from dts_change.emulator.admin import EmulatorCore

    state = sample_state()
    state["jobs"]["dtsjob1demo"]["subSyncJobs"] = [
        {"subJobId": "dtsjob1demo-sub-000007", "status": "Finished", "createdAt": 1.0, "finishedAt": 2.0,
         "dbList": {}, "errorMessage": "", "precheckFailedReason": ""}
    ]
    core = EmulatorCore(state)
    assert int(core.new_id()) > 7
