"""Typed views of DTS responses (DescribeDtsJobDetail, ModifyDtsJob, DescribeDtsJobs).

Pure parsing of the JSON the service returns, tolerant of absent fields (the documented examples
and the SDK models disagree on several types); the raw dict rides along for anything not modelled.
`DbObject` stays the raw string here: `JobDetail.db_list()` parses it and refuses an empty one.
"""

from __future__ import annotations

import json
from dataclasses import field
from typing import TYPE_CHECKING, Any

from ..core.errors import UnreadableDbObjectError, short_repr
from ..core.values import immutable

if TYPE_CHECKING:
    from ..core.dblist import DbList


def _str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return None


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list_of_dicts(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        # XML-to-JSON gateways sometimes wrap arrays one level deeper ({"SubSyncJob": [...]}).
        inner = next(iter(value.values()), None) if len(value) == 1 else None
        value = inner if isinstance(inner, list) else [value]
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


def _db_object_text(value: Any) -> str | None:
    """`DbObject` as text: the documented JSON string, or an object re-serialised compactly."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return None


def parse_reserved(value: Any) -> dict[str, Any]:
    """`Reserved` is a JSON string of a map; anything unreadable gives {} (the raw text is kept)."""
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, str) and value.strip():
        try:
            parsed = json.loads(value)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def is_success(body: dict[str, Any]) -> bool:
    """`Success` false (bool or text) marks a failed call even on HTTP 200; absent means success."""
    return _bool(body.get("Success")) is not False


@immutable
class PrecheckStatus:
    """A job's precheck: status, percent and the failed items' details."""

    status: str | None
    percent: str | None
    detail: list[dict[str, Any]]

    @classmethod
    def from_raw(cls, raw: Any) -> PrecheckStatus | None:
        if not isinstance(raw, dict):
            return None
        return cls(_str(raw.get("Status")), _str(raw.get("Percent")), _list_of_dicts(raw.get("Detail")))


@immutable
class ModuleStatus:
    """A module's progress block (`DataSynchronizationStatus` and its siblings)."""

    status: str | None
    percent: str | None
    error_message: str | None

    @classmethod
    def from_raw(cls, raw: Any) -> ModuleStatus | None:
        if not isinstance(raw, dict):
            return None
        return cls(_str(raw.get("Status")), _str(raw.get("Percent")), _str(raw.get("ErrorMessage")))


@immutable
class SubSyncJob:
    """One object-modification sub-task (`JobType` `subSync`) of a sync job."""

    status: str | None
    job_type: str | None
    error_message: str | None
    precheck_status: PrecheckStatus | None
    data_synchronization_status: ModuleStatus | None
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_raw(cls, raw: dict[str, Any]) -> SubSyncJob:
        return cls(
            status=_str(raw.get("Status")),
            job_type=_str(raw.get("JobType")),
            error_message=_str(raw.get("ErrorMessage")),
            precheck_status=PrecheckStatus.from_raw(raw.get("PrecheckStatus")),
            data_synchronization_status=ModuleStatus.from_raw(raw.get("DataSynchronizationStatus")),
            raw=raw,
        )


@immutable
class MigrationMode:
    """Which of structure, full data and incremental sync a job runs."""

    structure_initialization: bool | None
    data_initialization: bool | None
    data_synchronization: bool | None

    @classmethod
    def from_raw(cls, raw: Any) -> MigrationMode | None:
        if not isinstance(raw, dict):
            return None
        return cls(
            _bool(raw.get("StructureInitialization")),
            _bool(raw.get("DataInitialization")),
            _bool(raw.get("DataSynchronization")),
        )


@immutable
class JobDetail:
    """DescribeDtsJobDetail's answer. `status` is spelled as DTS sends it (`synchronizing`)."""

    job_id: str | None
    instance_id: str | None
    status: str | None
    db_object_oss_url: str | None
    reserved: dict[str, Any]
    migration_mode: MigrationMode | None
    data_synchronization_status: ModuleStatus | None
    sub_sync_jobs: list[SubSyncJob]
    synchronization_direction: str | None
    job_type: str | None
    error_message: str | None
    request_id: str | None
    db_object: str | None = field(repr=False)
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_response(cls, body: dict[str, Any]) -> JobDetail:
        return cls(
            job_id=_str(body.get("DtsJobId")),
            instance_id=_str(body.get("DtsInstanceID") or body.get("DtsInstanceId")),
            status=_str(body.get("Status")),
            db_object=_db_object_text(body.get("DbObject")),
            db_object_oss_url=_str(body.get("DbObjectOssUrl")) or None,
            reserved=parse_reserved(body.get("Reserved")),
            migration_mode=MigrationMode.from_raw(body.get("MigrationMode")),
            data_synchronization_status=ModuleStatus.from_raw(body.get("DataSynchronizationStatus")),
            sub_sync_jobs=[SubSyncJob.from_raw(s) for s in _list_of_dicts(body.get("SubSyncJob"))],
            synchronization_direction=_str(
                body.get("SynchronizationDirection") or body.get("DtsJobDirection")
            ),
            job_type=_str(body.get("JobType")),
            error_message=_str(body.get("ErrorMessage")),
            request_id=_str(body.get("RequestId")),
            raw=body,
        )

    def status_is(self, *names: str) -> bool:
        """Case-insensitive status test (`synchronizing` here, `Synchronizing` in DescribeDtsJobs)."""
        current = (self.status or "").lower()
        return any(current == n.lower() for n in names)

    def db_list(self) -> DbList:
        """The job's current object list. Empty/missing/`null` DbObject is an error, never `{}`.

        `DbObjectOssUrl` is not fetched: its contents and trust are undocumented.
        """
        from ..core.dblist import DbList  # noqa: PLC0415 - the client stays usable without parsing

        text = self.db_object
        if text is None or not text.strip() or text.strip() == "null":
            via = " while DbObjectOssUrl is set (not fetched)" if self.db_object_oss_url else ""
            raise UnreadableDbObjectError(
                f"Unreadable DbObject for job {short_repr(self.job_id)}: got {short_repr(text)}"
                f"{via} -> expected the object list as a JSON string",
                request_id=self.request_id,
                action="DescribeDtsJobDetail",
            )
        try:
            return DbList.from_dts(text)
        except UnreadableDbObjectError as exc:
            if exc.request_id is None:
                exc.request_id = self.request_id
                exc.action = "DescribeDtsJobDetail"
            raise


@immutable
class ModifyResult:
    """ModifyDtsJob only says the change was accepted; the job then goes `Modifying`."""

    request_id: str | None
    job_id: str | None
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_response(cls, body: dict[str, Any]) -> ModifyResult:
        return cls(_str(body.get("RequestId")), _str(body.get("DtsJobId")), body)


@immutable
class JobSummary:
    """One entry of DescribeDtsJobs' `DtsJobList` (`Status` spelled `Synchronizing` there)."""

    job_id: str | None
    instance_id: str | None
    name: str | None
    status: str | None
    job_type: str | None
    direction: str | None
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_raw(cls, raw: dict[str, Any]) -> JobSummary:
        return cls(
            job_id=_str(raw.get("DtsJobId")),
            instance_id=_str(raw.get("DtsInstanceID") or raw.get("DtsInstanceId")),
            name=_str(raw.get("DtsJobName")),
            status=_str(raw.get("Status")),
            job_type=_str(raw.get("JobType")),
            direction=_str(raw.get("DtsJobDirection")),
            raw=raw,
        )


@immutable
class JobsPage:
    """One page of DescribeDtsJobs."""

    jobs: list[JobSummary]
    total: int | None
    page_number: int | None
    page_record_count: int | None
    request_id: str | None

    @classmethod
    def from_response(cls, body: dict[str, Any]) -> JobsPage:
        def _int(value: Any) -> int | None:
            try:
                return int(value)
            except (TypeError, ValueError):
                return None

        return cls(
            jobs=[JobSummary.from_raw(j) for j in _list_of_dicts(body.get("DtsJobList"))],
            total=_int(body.get("TotalRecordCount")),
            page_number=_int(body.get("PageNumber")),
            page_record_count=_int(body.get("PageRecordCount")),
            request_id=_str(body.get("RequestId")),
        )
