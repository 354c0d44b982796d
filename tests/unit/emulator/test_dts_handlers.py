"""DTS actions as the wire sees them (parameters, bodies, error shapes), driven without sockets."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.unit.emulator.builders import DEFAULT_DBLIST, Harness, base_state, job_state

JOB = "dtsjob-demo"
MODIFY = {"DtsInstanceId": "dtsins-demo", "DtsJobId": JOB}


def detail(harness: Harness, **query: str) -> dict[str, Any]:
    response = harness.dts("DescribeDtsJobDetail", {"DtsJobId": JOB, **query})
    assert response.status == 200, response.body
    return dict(response.json())


def modify(harness: Harness, form: dict[str, str] | None = None, **query: str) -> Any:
    return harness.dts("ModifyDtsJob", {**MODIFY, **query}, form=form)


def test_describe_dts_job_detail_returns_dbobject_as_json_string_with_state_keys(harness: Harness) -> None:
    body = detail(harness)
    assert isinstance(body["DbObject"], str)
    assert json.loads(body["DbObject"]) == {
        "sales": {
            "name": "sales",
            "all": False,
            "state": "normal",
            "Table": {"orders": {"name": "orders", "all": True, "state": "normal"}},
        }
    }
    assert (body["Status"], body["Success"], body["DtsInstanceID"]) == ("synchronizing", True, "dtsins-demo")
    assert body["SubSyncJob"] == []
    assert body["RequestId"]


def test_describe_dts_job_detail_accepts_both_instance_id_spellings(harness: Harness) -> None:
    assert detail(harness, DtsInstanceID="dtsins-demo")["DtsJobId"] == JOB
    assert detail(harness, DtsInstanceId="dtsins-demo")["DtsJobId"] == JOB
    wrong = harness.dts("DescribeDtsJobDetail", {"DtsJobId": JOB, "DtsInstanceID": "dtsins-x"})
    assert (wrong.status, wrong.json()["Code"]) == (404, "Forbidden.InstanceNotFound")


def test_describe_dts_job_detail_without_job_id_returns_missing_parameter(harness: Harness) -> None:
    response = harness.dts("DescribeDtsJobDetail", {"DtsInstanceID": "dtsins-demo"})
    assert (response.status, response.json()["Code"]) == (400, "MissingParameter")


def test_modify_then_describe_shows_modifying_and_sub_sync_job(harness: Harness) -> None:
    # GIVEN a modification submitted with every seed-page parameter
    form = {
        "DbList": json.dumps({"sales": {"name": "sales", "all": True}}),
        "Reserved": '{"k": "v"}',
        "FilterTableName": "t1",
        "EtlOperatorColumnReference": "{}",
    }
    response = modify(
        harness,
        form,
        RegionId="cn-hangzhou",
        SynchronizationDirection="Forward",
        ClientToken="tok-1",
        StructureInitialization="true",
        DataInitialization="False",
        DataSynchronization="True",
        FileOssUrl="http://bucket.oss-cn-hangzhou.aliyuncs.com/x",
        ZeroEtlJob="false",
        ResourceGroupId="rg-1",
    )
    # THEN the answer is the documented one and the call log recorded it
    assert response.status == 200
    assert set(response.json()) == {"RequestId", "DtsJobId", "Success"}
    call = harness.calls("ModifyDtsJob")[-1]
    assert (call["outcome"], call["jobId"], call["clientToken"]) == ("ok", JOB, "tok-1")
    assert call["dbList"] == {"sales": {"name": "sales", "all": True}}
    assert call["params"]["FileOssUrl"] == "http://bucket.oss-cn-hangzhou.aliyuncs.com/x"
    # AND the job shows Modifying with a subSync entry
    body = detail(harness)
    assert body["Status"] == "Modifying"
    assert [(s["JobType"], s["Status"]) for s in body["SubSyncJob"]] == [("subSync", "Prechecking")]
    assert json.loads(body["Reserved"]) == {"k": "v"}


def test_modify_dts_job_modifying_error_body_is_the_documented_one(harness: Harness) -> None:
    modify(harness, {"DbList": "{}"})
    response = modify(harness, {"DbList": "{}"})
    body = response.json()
    assert (response.status, body["Code"]) == (403, "OperationDenied.JobStatusModifying")
    assert body["Message"] == "jobs state is modifying, please wait sync subtask ends"
    assert "q=OperationDenied.JobStatusModifying" in body["Recommend"]
    assert harness.calls("ModifyDtsJob")[-1]["outcome"] == "OperationDenied.JobStatusModifying"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("DataInitialization", "yes"),
        ("ZeroEtlJob", "TRUE"),
        ("SynchronizationDirection", "Sideways"),
        ("ClientToken", "x" * 65),
        ("ClientToken", "jeton-é"),
    ],
)
def test_modify_dts_job_bad_query_value_returns_invalid_parameter(
    harness: Harness, field: str, value: str
) -> None:
    response = modify(harness, {"DbList": "{}"}, **{field: value})
    body = response.json()
    assert (response.status, body["Code"]) == (400, "InvalidParameter")
    assert field in body["Message"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("DbList", "[1, 2]"), ("DbList", "{bad json"), ("Reserved", '"text"'), ("ModifyTypeEnum", "X")],
)
def test_modify_dts_job_bad_body_value_returns_invalid_parameter(
    harness: Harness, field: str, value: str
) -> None:
    response = modify(harness, {field: value})
    assert (response.status, response.json()["Code"]) == (400, "InvalidParameter")


def test_modify_dts_job_client_token_of_64_ascii_chars_is_accepted(harness: Harness) -> None:
    assert modify(harness, {"DbList": "{}"}, ClientToken="a" * 64).status == 200


def test_modify_dts_job_without_instance_id_returns_missing_parameter(harness: Harness) -> None:
    response = harness.dts("ModifyDtsJob", {"DtsJobId": JOB}, form={"DbList": "{}"})
    assert response.json()["Code"] == "MissingParameter"


def test_modify_dts_job_retry_with_same_token_is_deduplicated_in_the_log(harness: Harness) -> None:
    form = {"DbList": '{"a":{"name":"a","all":true}}'}
    first = modify(harness, form, ClientToken="t")
    second = modify(harness, form, ClientToken="t")
    assert first.json()["DtsJobId"] == second.json()["DtsJobId"] == JOB
    assert [c["deduplicated"] for c in harness.calls("ModifyDtsJob")] == [False, True]


def test_update_reserved_without_reserved_returns_missing_parameter(harness: Harness) -> None:
    response = modify(harness, {"ModifyTypeEnum": "UPDATE_RESERVED"})
    assert response.json()["Code"] == "MissingParameter"


def test_describe_dts_jobs_default_job_type_lists_none_of_the_sync_jobs(harness: Harness) -> None:
    body = harness.dts("DescribeDtsJobs", {}).json()
    assert (body["TotalRecordCount"], body["DtsJobList"]) == (0, [])


def test_describe_dts_jobs_sync_lists_jobs_with_capitalised_status(harness: Harness) -> None:
    body = harness.dts("DescribeDtsJobs", {"JobType": "SYNC", "Region": "cn-hangzhou"}).json()
    [item] = body["DtsJobList"]
    assert (item["DtsJobId"], item["DtsInstanceID"], item["Status"]) == (JOB, "dtsins-demo", "Synchronizing")
    assert json.loads(item["DbObject"])["sales"]["state"] == "normal"


def test_describe_dts_jobs_filters_by_instance_and_pages() -> None:
    # GIVEN three sync jobs
    harness = Harness(
        base_state(**{f"job-{n}": job_state(instanceId=f"ins-{n}", name=f"orders-{n}") for n in range(3)})
    )
    by_instance = harness.dts("DescribeDtsJobs", {"JobType": "SYNC", "DtsInstanceId": "ins-1"}).json()
    by_search = harness.dts(
        "DescribeDtsJobs", {"JobType": "SYNC", "Type": "instance", "Params": "ins-2"}
    ).json()
    by_name = harness.dts("DescribeDtsJobs", {"JobType": "SYNC", "Type": "name", "Params": "orders"}).json()
    page2 = harness.dts("DescribeDtsJobs", {"JobType": "SYNC", "PageSize": "2", "PageNumber": "2"}).json()
    lean = harness.dts("DescribeDtsJobs", {"JobType": "SYNC", "WithoutDbList": "true"}).json()
    assert [j["DtsJobId"] for j in by_instance["DtsJobList"]] == ["job-1"]
    assert [j["DtsJobId"] for j in by_search["DtsJobList"]] == ["job-2"]
    assert by_name["TotalRecordCount"] == 3
    assert ([j["DtsJobId"] for j in page2["DtsJobList"]], page2["TotalRecordCount"]) == (["job-2"], 3)
    assert all("DbObject" not in j for j in lean["DtsJobList"])


def test_describe_dts_jobs_shows_modifying(harness: Harness) -> None:
    modify(harness, {"DbList": "{}"})
    [item] = harness.dts("DescribeDtsJobs", {"JobType": "SYNC"}).json()["DtsJobList"]
    assert item["Status"] == "Modifying"


def test_unknown_action_is_an_explicit_error_never_a_fake_success(harness: Harness) -> None:
    response = harness.dts("ConfigureDtsJob", {"DtsJobId": JOB})
    assert (response.status, response.json()["Code"]) == (404, "InvalidAction.NotFound")
    assert harness.calls()[-1]["outcome"] == "InvalidAction.NotFound"


def test_wrong_api_version_returns_invalid_version(harness: Harness) -> None:
    response = harness.dts("DescribeDtsJobDetail", {"DtsJobId": JOB}, version="2016-08-01")
    assert response.json()["Code"] == "InvalidVersion"


def test_switch_db_object_via_oss_url_empties_dbobject_and_serves_it_from_oss() -> None:
    # GIVEN the dbObjectViaOssUrl switch
    state = base_state()
    state["settings"] = {"switches": {"dbObjectViaOssUrl": True}}
    harness = Harness(state)
    # WHEN the job is described
    body = detail(harness)
    # THEN DbObject is empty and the URL points at an emulated OSS object holding the list
    assert body["DbObject"] == ""
    url = body["DbObjectOssUrl"]
    assert url.startswith("http://127.0.0.1:8000/dts-dbobject/dbobject/dtsjob-demo/Forward/")
    key = url.split("/dts-dbobject/", 1)[1]
    fetched = harness.oss("GET", "dts-dbobject", key.replace("%2F", "/"))
    assert json.loads(fetched.body)["sales"]["name"] == "sales"
    assert body["DbObjectSize"] == len(fetched.body)


@pytest.mark.parametrize(("form", "present", "value"), [("null", True, None), ("absent", False, None)])
def test_switch_db_object_via_oss_url_empty_forms(form: str, present: bool, value: Any) -> None:
    state = base_state(**{JOB: job_state(switches={"dbObjectViaOssUrl": True})})
    state["settings"] = {"dbObjectEmptyForm": form}
    body = detail(Harness(state))
    assert ("DbObject" in body) is present
    assert body.get("DbObject") == value


def test_precheck_failure_is_visible_in_sub_sync_job_detail() -> None:
    state = base_state(**{JOB: job_state(modifyAfterDescribes=0, switches={"failPrecheck": True})})
    harness = Harness(state)
    modify(harness, {"DbList": '{"x":{"name":"x","all":true}}'})
    body = detail(harness)
    [sub] = body["SubSyncJob"]
    assert (body["Status"], sub["Status"]) == ("synchronizing", "PrecheckFailed")
    assert sub["PrecheckStatus"]["Detail"][0]["FailedReason"]
    assert json.loads(body["DbObject"])["sales"]["Table"]["orders"]["name"] == "orders"


def test_sub_sync_job_history_returns_all_entries_only_when_asked() -> None:
    harness = Harness(base_state(**{JOB: job_state(modifyDurationSeconds=0)}))
    modify(harness, {"DbList": "{}"})
    modify(harness, {"DbList": json.dumps(DEFAULT_DBLIST)})
    assert len(detail(harness)["SubSyncJob"]) == 1
    assert len(detail(harness, SyncSubJobHistory="true")["SubSyncJob"]) == 2


def test_two_way_job_detail_carries_direction_and_reverse_job() -> None:
    state = base_state(**{JOB: job_state(reverse={"dbList": {"crm": {"name": "crm", "all": True}}})})
    harness = Harness(state)
    forward = detail(harness)
    reverse = detail(harness, SynchronizationDirection="Reverse")
    assert forward["DtsJobDirection"] == "Forward"
    assert forward["ReverseJob"]["DtsJobId"] == f"{JOB}-reverse"
    assert json.loads(reverse["DbObject"]) == {"crm": {"name": "crm", "all": True, "state": "normal"}}
