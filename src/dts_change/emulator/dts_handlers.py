"""One method per DTS action: read and type-check parameters, call the backend, build the body.

moto's responses.py role. Parameter names and spellings follow the API (DescribeDtsJobDetail
takes `DtsInstanceID`; `DtsInstanceId` is accepted too). Every ModifyDtsJob parameter on the
seed page is accepted, type-checked and recorded; undocumented ones (FileOssUrl,
FilterTableName, EtlOperatorColumnReference, ZeroEtlJob, ResourceGroupId) are recorded only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from dts_change.emulator.admin import CallRecord
from dts_change.emulator.dts_state import (
    DIRECTIONS,
    MAX_CLIENT_TOKEN_CHARS,
    UPDATE_RESERVED,
    DtsBackend,
    ModifyRequest,
    SubSyncView,
    TaskSnapshot,
    canonical_status,
    compact_json,
    detail_status,
    with_state_keys,
)
from dts_change.emulator.oss_state import OssBackend
from dts_change.emulator.wire_errors import (
    InvalidActionNotFoundError,
    InvalidParameterError,
    InvalidVersionError,
    MissingParameterError,
)

API_VERSION = "2020-01-01"
TRUE_WORDS = {"true": True, "True": True, "false": False, "False": False}
# DescribeDtsJobs paging: the SDK docstring says default 20; the doc page says 30 (conflict, §5).
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
DBOBJECT_OSS_PREFIX = "dbobject"

Params = Mapping[str, str]


def iso_time(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


# ---------------------------------------------------------------- parameter readers


def _text(params: Params, name: str, *aliases: str) -> str | None:
    for key in (name, *aliases):
        if key in params:
            return params[key]
    return None


def _required(params: Params, name: str) -> str:
    value = params.get(name)
    if not value:
        raise MissingParameterError(name)
    return value


def _bool(params: Params, name: str) -> bool | None:
    value = params.get(name)
    if value is None:
        return None
    if value not in TRUE_WORDS:
        raise InvalidParameterError(name, f"{value[:40]!r} is not true or false")
    return TRUE_WORDS[value]


def _int(params: Params, name: str, default: int, minimum: int, maximum: int) -> int:
    value = params.get(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError as exc:
        raise InvalidParameterError(name, f"{value[:40]!r} is not an integer") from exc
    if not minimum <= number <= maximum:
        raise InvalidParameterError(name, f"{number} is not between {minimum} and {maximum}")
    return number


def _json_object(params: Params, name: str) -> dict[str, Any] | None:
    value = params.get(name)
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise InvalidParameterError(name, f"not JSON ({exc.msg} at char {exc.pos})") from exc
    if not isinstance(parsed, dict):
        raise InvalidParameterError(name, "not a JSON object")
    return parsed


def _direction(params: Params) -> str:
    value = params.get("SynchronizationDirection") or "Forward"
    if value not in DIRECTIONS:
        raise InvalidParameterError("SynchronizationDirection", f"{value[:40]!r} is not Forward or Reverse")
    return value


def _client_token(params: Params) -> str | None:
    token = params.get("ClientToken")
    if token is None:
        return None
    if not token or len(token) > MAX_CLIENT_TOKEN_CHARS or not token.isascii():
        raise InvalidParameterError("ClientToken", f"must be 1 to {MAX_CLIENT_TOKEN_CHARS} ASCII characters")
    return token


# ---------------------------------------------------------------- handlers


class DtsHandlers:
    """Action name -> method; the body returned lacks RequestId (the pipeline adds it)."""

    def __init__(self, dts: DtsBackend, oss: OssBackend) -> None:
        self.dts = dts
        self.oss = oss
        self._actions: dict[str, Callable[[Params, CallRecord, float, str], dict[str, Any]]] = {
            "DescribeDtsJobDetail": self.describe_dts_job_detail,
            "ModifyDtsJob": self.modify_dts_job,
            "DescribeDtsJobs": self.describe_dts_jobs,
        }

    def dispatch(
        self,
        action: str | None,
        version: str | None,
        params: Params,
        call: CallRecord,
        now: float,
        base_url: str,
    ) -> dict[str, Any]:
        if not action:
            raise MissingParameterError("Action")
        if version != API_VERSION:
            raise InvalidVersionError(f"Specified parameter Version is not valid: {version!r}.")
        handler = self._actions.get(action)
        if handler is None:
            raise InvalidActionNotFoundError(
                f"Specified api is not found, please check your url and method: {action[:60]!r} "
                "is not emulated."
            )
        return handler(params, call, now, base_url)

    # ------------------------------------------------------------ DescribeDtsJobDetail

    def describe_dts_job_detail(
        self, params: Params, call: CallRecord, now: float, base_url: str
    ) -> dict[str, Any]:
        job_id = _required(params, "DtsJobId")
        instance_id = _text(params, "DtsInstanceID", "DtsInstanceId")
        direction = _direction(params)
        history = _bool(params, "SyncSubJobHistory") or False
        _bool(params, "ZeroEtlJob")
        call.set(jobId=job_id, instanceId=instance_id, direction=direction)
        snap = self.dts.describe_dts_job_detail(job_id, instance_id, direction, params.get("RegionId"), now)
        job = self.dts.jobs.get(job_id)
        switches = self.dts.switches_for(job) if job is not None else self.dts.settings.switches
        body = self._task_body(snap, now, detail=True, history=history)
        if switches.db_object_via_oss_url:
            self._move_db_object_to_oss(body, snap, now, base_url)
        return {"Success": True, "HttpStatusCode": 200, **body}

    def _move_db_object_to_oss(
        self, body: dict[str, Any], snap: TaskSnapshot, now: float, base_url: str
    ) -> None:
        """Switch dbObjectViaOssUrl: the list goes to an emulated OSS object, DbObject empties."""
        settings = self.dts.settings
        text = body["DbObject"]
        key = f"{DBOBJECT_OSS_PREFIX}/{snap.job_id}/{snap.direction}/{int(now * 1000)}.json"
        self.oss.put_object(
            settings.db_object_oss_bucket,
            key,
            text.encode("utf-8"),
            now,
            content_type="application/json",
            create_bucket=True,
        )
        form = settings.db_object_empty_form
        if form == "empty":
            body["DbObject"] = ""
        elif form == "null":
            body["DbObject"] = None
        else:
            del body["DbObject"]
        body["DbObjectOssUrl"] = f"{base_url}/{settings.db_object_oss_bucket}/{quote(key)}"
        body["DbObjectOssUrlExpireTime"] = iso_time(now + settings.db_object_oss_url_ttl_seconds)
        body["DbObjectSize"] = len(text.encode("utf-8"))

    # ------------------------------------------------------------ ModifyDtsJob

    def modify_dts_job(self, params: Params, call: CallRecord, now: float, base_url: str) -> dict[str, Any]:
        db_list_text = params.get("DbList")
        call.set(
            jobId=params.get("DtsJobId"),
            instanceId=params.get("DtsInstanceId"),
            direction=params.get("SynchronizationDirection") or "Forward",
            clientToken=params.get("ClientToken"),
        )
        if db_list_text is not None:
            call.set(dbList=_loggable_json(db_list_text))
        modify_type = params.get("ModifyTypeEnum")
        if modify_type is not None and modify_type != UPDATE_RESERVED:
            raise InvalidParameterError("ModifyTypeEnum", f"{modify_type[:40]!r} is not UPDATE_RESERVED")
        reserved = _json_object(params, "Reserved")
        if modify_type == UPDATE_RESERVED and reserved is None:
            raise MissingParameterError("Reserved")
        request = ModifyRequest(
            instance_id=_required(params, "DtsInstanceId"),
            job_id=params.get("DtsJobId") or None,
            direction=_direction(params),
            region_id=params.get("RegionId"),
            client_token=_client_token(params),
            db_list=_json_object(params, "DbList"),
            reserved=reserved,
            modify_type=modify_type,
            structure_initialization=_bool(params, "StructureInitialization"),
            data_initialization=_bool(params, "DataInitialization"),
            data_synchronization=_bool(params, "DataSynchronization"),
            file_oss_url=params.get("FileOssUrl"),
            filter_table_name=params.get("FilterTableName"),
            etl_operator_column_reference=params.get("EtlOperatorColumnReference"),
            zero_etl_job=_bool(params, "ZeroEtlJob"),
            resource_group_id=params.get("ResourceGroupId"),
        )
        response, deduplicated = self.dts.modify_dts_job(request, now)
        call.set(deduplicated=deduplicated, jobId=response.get("DtsJobId"))
        return response

    # ------------------------------------------------------------ DescribeDtsJobs

    def describe_dts_jobs(
        self, params: Params, call: CallRecord, now: float, base_url: str
    ) -> dict[str, Any]:
        job_type = (params.get("JobType") or "MIGRATION").upper()
        page_number = _int(params, "PageNumber", 1, 1, 1_000_000)
        page_size = _int(params, "PageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        without_db_list = _bool(params, "WithoutDbList") or False
        _bool(params, "ZeroEtlJob")
        instance_ids = _csv(params.get("DtsInstanceId"))
        job_ids = _csv(params.get("DtsJobId"))
        status = params.get("Status")
        search_type = params.get("Type")
        search = params.get("Params")
        region = params.get("Region") or params.get("RegionId")
        call.set(jobId=params.get("DtsJobId"), instanceId=params.get("DtsInstanceId"))
        matched: list[TaskSnapshot] = []
        for snap in self.dts.describe_dts_jobs(now):
            job = self.dts.jobs[snap.job_id]
            if snap.job_type != job_type:
                continue
            if instance_ids and snap.instance_id not in instance_ids:
                continue
            if job_ids and snap.job_id not in job_ids:
                continue
            if status and canonical_status(snap.status).lower() != status.lower():
                continue
            if region and job.region_id and job.region_id != region:
                continue
            if search_type and search is not None and not _search_matches(snap, search_type, search):
                continue
            matched.append(snap)
        start = (page_number - 1) * page_size
        page = matched[start : start + page_size]
        items = []
        for snap in page:
            item = self._task_body(snap, now, detail=False, history=False)
            if without_db_list:
                item.pop("DbObject", None)
            items.append(item)
        return {
            "Success": True,
            "HttpStatusCode": 200,
            "DtsJobList": items,
            "EtlDemoList": [],
            "TotalRecordCount": len(matched),
            "PageNumber": page_number,
            "PageRecordCount": len(page),
        }

    # ------------------------------------------------------------ bodies

    def _task_body(self, snap: TaskSnapshot, now: float, *, detail: bool, history: bool) -> dict[str, Any]:
        status = detail_status(snap.status) if detail else canonical_status(snap.status)
        body: dict[str, Any] = {
            "DtsJobId": snap.job_id,
            "DtsInstanceID": snap.instance_id,
            "DtsJobName": snap.name,
            "Status": status,
            # The detail spells a sync job's type `sync` (documented); another type's spelling
            # there is not documented: assumed its DescribeDtsJobs name in lower case.
            "JobType": snap.job_type.lower() if detail else snap.job_type,
            "SynchronizationDirection": snap.direction,
            "DbObject": compact_json(with_state_keys(snap.db_list)),
            "Reserved": compact_json(snap.reserved),
            "MigrationMode": {
                "StructureInitialization": True,
                "DataInitialization": True,
                "DataSynchronization": True,
                "DataExtractTransformLoad": False,
            },
            "DataSynchronizationStatus": {
                "Status": "Catched" if canonical_status(snap.status) == "Synchronizing" else "Suspending",
                "Percent": "100",
                "Progress": "0",
                "ErrorMessage": "",
                "NeedUpgrade": False,
            },
            "Delay": 0,
            "ErrorMessage": "",
            "PayType": "PostPaid",
        }
        if snap.two_way:
            body["DtsJobDirection"] = snap.direction
        if detail:
            subs = snap.sub_sync_jobs if history else snap.sub_sync_jobs[-1:]
            body["SubSyncJob"] = [self._sub_sync_body(snap, sub) for sub in subs]
        if snap.reverse is not None:
            body["ReverseJob"] = self._task_body(snap.reverse, now, detail=detail, history=False)
            body["ReverseJob"].pop("SubSyncJob", None)
        return body

    @staticmethod
    def _sub_sync_body(snap: TaskSnapshot, sub: SubSyncView) -> dict[str, Any]:
        failed = sub.status == "PrecheckFailed"
        precheck: dict[str, Any] = {
            "Status": "Failed" if failed else ("Prechecking" if sub.running else "Finished"),
            "Percent": "100" if not sub.running else "50",
            "ErrorMessage": sub.precheck_failed_reason,
            "Detail": [],
        }
        if failed:
            precheck["Detail"] = [
                {
                    "CheckItem": "CHECK_DB_LIST",
                    "CheckItemDescription": "Check the objects to be synchronized",
                    "CheckResult": "Failed",
                    "FailedReason": sub.precheck_failed_reason,
                    "RepairMethod": "Fix the cause, then submit the modification again",
                }
            ]
        return {
            "DtsJobId": sub.sub_job_id,
            "DtsInstanceID": snap.instance_id,
            "JobType": "subSync",
            "Status": sub.status,
            "SynchronizationDirection": snap.direction,
            "DbObject": "" if sub.db_list is None else compact_json(sub.db_list),
            "CreateTime": iso_time(sub.created_at),
            "FinishTime": "" if sub.finished_at is None else iso_time(sub.finished_at),
            "ErrorMessage": sub.error_message,
            "PrecheckStatus": precheck,
        }


def _csv(value: str | None) -> set[str]:
    return {part.strip() for part in (value or "").split(",") if part.strip()}


def _search_matches(snap: TaskSnapshot, search_type: str, search: str) -> bool:
    """Type=instance: exact DTS instance id; Type=name: substring of the job name.

    srcRds / rds search by database instance, which the emulator does not model: no match.
    """
    if search_type == "instance":
        return snap.instance_id == search
    if search_type == "name":
        return search in snap.name
    return False


def _loggable_json(text: str) -> Any:
    """The DbList as sent: parsed when it is JSON, else the raw text (cut) for the call log."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return {"unparsed": text[:200]}
