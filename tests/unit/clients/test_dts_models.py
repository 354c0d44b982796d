"""Parsing DescribeDtsJobDetail / ModifyDtsJob / DescribeDtsJobs bodies."""

from __future__ import annotations

import json

import pytest

from dts_change.clients.dts_models import JobDetail, JobsPage, ModifyResult, is_success, parse_reserved
from dts_change.core.errors import UnreadableDbObjectError

DETAIL = {
    "RequestId": "R-1",
    "Success": True,
    "DtsJobId": "dtsjob-demo",
    "DtsInstanceID": "dtsins-demo",
    "Status": "synchronizing",
    "DbObject": json.dumps({"sales": {"name": "sales", "all": True, "state": "normal"}}),
    "Reserved": '{"maxRetryTime": 43200, "srcSSL": "0"}',
    "MigrationMode": {
        "StructureInitialization": True,
        "DataInitialization": "false",
        "DataSynchronization": True,
    },
    "DataSynchronizationStatus": {"Status": "Catched", "Percent": "100"},
    "SynchronizationDirection": "Forward",
    "SubSyncJob": [
        {
            "Status": "PrecheckFailed",
            "JobType": "subSync",
            "ErrorMessage": "precheck failed",
            "PrecheckStatus": {"Status": "Failed", "Percent": "100", "Detail": [{"FailedReason": "x"}]},
        }
    ],
}


def test_job_detail_from_response_typed_fields() -> None:
    d = JobDetail.from_response(DETAIL)
    assert (d.job_id, d.instance_id, d.status, d.request_id) == (
        "dtsjob-demo",
        "dtsins-demo",
        "synchronizing",
        "R-1",
    )
    assert d.reserved == {"maxRetryTime": 43200, "srcSSL": "0"}
    assert d.migration_mode is not None
    assert d.migration_mode.data_initialization is False
    assert d.data_synchronization_status is not None
    assert d.data_synchronization_status.status == "Catched"
    assert d.synchronization_direction == "Forward"
    sub = d.sub_sync_jobs[0]
    assert (sub.status, sub.job_type, sub.error_message) == ("PrecheckFailed", "subSync", "precheck failed")
    assert sub.precheck_status is not None
    assert sub.precheck_status.detail == [{"FailedReason": "x"}]
    assert d.raw is DETAIL


def test_job_detail_status_is_case_insensitive() -> None:
    d = JobDetail.from_response(DETAIL)
    assert d.status_is("Synchronizing")
    assert not d.status_is("Modifying")


def test_job_detail_db_list_parses_db_object() -> None:
    db_list = JobDetail.from_response(DETAIL).db_list()
    assert "sales" in db_list.databases


@pytest.mark.parametrize("db_object", [None, "", "  ", "null"])
def test_job_detail_db_list_missing_or_empty_is_unreadable_not_empty(db_object: str | None) -> None:
    body = dict(DETAIL)
    if db_object is None:
        del body["DbObject"]
    else:
        body["DbObject"] = db_object
    with pytest.raises(UnreadableDbObjectError) as info:
        JobDetail.from_response(body).db_list()
    assert info.value.code == "dbobject-unreadable"
    assert info.value.request_id == "R-1"


def test_job_detail_db_list_oss_url_only_is_unreadable_and_says_so() -> None:
    body = dict(DETAIL, DbObject="", DbObjectOssUrl="https://bucket.oss-cn-hangzhou.aliyuncs.com/x")
    detail = JobDetail.from_response(body)
    assert detail.db_object_oss_url == "https://bucket.oss-cn-hangzhou.aliyuncs.com/x"
    with pytest.raises(UnreadableDbObjectError, match="DbObjectOssUrl is set"):
        detail.db_list()


def test_job_detail_db_list_invalid_json_is_unreadable() -> None:
    with pytest.raises(UnreadableDbObjectError):
        JobDetail.from_response(dict(DETAIL, DbObject="{not json")).db_list()


def test_job_detail_db_object_as_object_reserialised() -> None:
    d = JobDetail.from_response(dict(DETAIL, DbObject={"a": {"name": "a", "all": True}}))
    assert d.db_object == '{"a":{"name":"a","all":true}}'


def test_job_detail_minimal_body_tolerated() -> None:
    d = JobDetail.from_response({"RequestId": "R"})
    assert d.status is None
    assert d.sub_sync_jobs == []
    assert d.reserved == {}


def test_job_detail_sub_sync_job_wrapped_list_unwrapped() -> None:
    d = JobDetail.from_response({"SubSyncJob": {"SubSyncJob": [{"Status": "Finished"}]}})
    assert [s.status for s in d.sub_sync_jobs] == ["Finished"]


@pytest.mark.parametrize(("value", "expected"), [("", {}), ("[1]", {}), ("{bad", {}), ({"a": 1}, {"a": 1})])
def test_parse_reserved_unreadable_gives_empty(value: object, expected: dict[str, object]) -> None:
    assert parse_reserved(value) == expected


@pytest.mark.parametrize(
    ("body", "ok"),
    [({}, True), ({"Success": True}, True), ({"Success": False}, False), ({"Success": "false"}, False)],
)
def test_is_success_false_in_body_is_failure(body: dict[str, object], ok: bool) -> None:
    assert is_success(body) is ok


def test_modify_result_and_jobs_page_parsed() -> None:
    assert ModifyResult.from_response({"RequestId": "R", "DtsJobId": "j"}).job_id == "j"
    page = JobsPage.from_response(
        {
            "RequestId": "R",
            "TotalRecordCount": "1",
            "PageNumber": 1,
            "DtsJobList": [{"DtsJobId": "j", "DtsInstanceID": "i", "Status": "Synchronizing"}],
        }
    )
    assert page.total == 1
    assert (page.jobs[0].job_id, page.jobs[0].instance_id) == ("j", "i")
