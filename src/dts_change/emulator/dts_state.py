"""DTS jobs and the rules around them: status gates, the 1 MB limit, ClientToken, Modifying.

No HTTP here (moto's models.py role): `DtsBackend` has one verb per API action, takes typed
requests built by `dts_handlers.py` and returns snapshots the handlers render. `Modifying` is a
managed status (moto's ManagedState): it ends after `modifyDurationSeconds` (time progression)
or after `modifyAfterDescribes` DescribeDtsJobDetail calls (deterministic progression).
Callers hold the emulator's lock around every verb.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dts_change.emulator.settings import CodeSetting, EmulatorSettings, Switches
from dts_change.emulator.state_fields import (
    as_mapping,
    opt_bool,
    opt_int,
    opt_mapping,
    opt_number,
    opt_str,
    req_number,
    req_str,
    state_error,
)
from dts_change.emulator.wire_errors import (
    CheckStatusInvalidInitStatusError,
    EmulatedApiError,
    InvalidParameterError,
    OperationDeniedJobStatusModifyingError,
)

# Seed page (ModifyDtsJob, DbList): "DbList supports a maximum of 1 MB of data", measured here
# as the compact UTF-8 JSON serialisation of the received list.
MAX_DBLIST_BYTES = 1_048_576
# Seed page (ClientToken): "can contain only ASCII characters and cannot exceed 64 characters".
MAX_CLIENT_TOKEN_CHARS = 64
SUB_SYNC_HISTORY_LIMIT = 50

# DescribeDtsJobDetail's documented status values (reference dts-api §2.3), by lower-case key.
KNOWN_STATUSES = {
    name.lower(): name
    for name in (
        "NotStarted",
        "NotConfigured",
        "Prechecking",
        "PrecheckFailed",
        "PreCheckPass",
        "Initializing",
        "InitializeFailed",
        "Synchronizing",
        "Migrating",
        "Failed",
        "MigrationFailed",
        "Suspending",
        "Modifying",
        "Retrying",
        "Upgrade",
        "Downgrade",
        "Locked",
        "Finished",
    )
}
# Reference dts-api §2.4: modifiable in Synchronizing, and in Failed (console doc).
MODIFIABLE_STATUSES = frozenset({"synchronizing", "failed"})
DIRECTIONS = ("Forward", "Reverse")
UPDATE_RESERVED = "UPDATE_RESERVED"


def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def dblist_size(db_list: Mapping[str, Any]) -> int:
    """Bytes of the compact UTF-8 JSON form, the measure of the 1 MB limit."""
    return len(compact_json(db_list).encode("utf-8"))


def canonical_status(status: str) -> str:
    return KNOWN_STATUSES.get(status.lower(), status)


def detail_status(status: str) -> str:
    """DescribeDtsJobDetail spells synchronizing in lower case (reference dts-api §2.3)."""
    canonical = canonical_status(status)
    return "synchronizing" if canonical == "Synchronizing" else canonical


def with_state_keys(db_list: Mapping[str, Any]) -> dict[str, Any]:
    """The list as DTS returns it: `"state": "normal"` added on every database and table entry.

    New dicts down to the table entries; values below them are shared with `db_list` (lists are
    replaced, never changed in place, and this feeds JSON rendering; a deep copy per describe
    made a 1,000-table job slow to read)."""
    out: dict[str, Any] = {}
    for db_name, db_entry in db_list.items():
        if not isinstance(db_entry, Mapping):
            out[db_name] = db_entry
            continue
        entry = dict(db_entry)
        tables = entry.get("Table")
        if isinstance(tables, Mapping):
            entry["Table"] = {
                name: ({**table, "state": "normal"} if isinstance(table, Mapping) else table)
                for name, table in tables.items()
            }
        entry["state"] = "normal"
        out[db_name] = entry
    return out


def find_state_key(db_list: Mapping[str, Any]) -> str | None:
    """Dotted path of the first `state` key on a database or table entry, if any."""
    for db_name, db_entry in db_list.items():
        if not isinstance(db_entry, Mapping):
            continue
        if "state" in db_entry:
            return f"{db_name}.state"
        tables = db_entry.get("Table")
        if isinstance(tables, Mapping):
            for table_name, table in tables.items():
                if isinstance(table, Mapping) and "state" in table:
                    return f"{db_name}.Table.{table_name}.state"
    return None


def configured_error(setting: CodeSetting, detail: str = "") -> EmulatedApiError:
    message = f"{setting.message} {detail}".strip()
    return EmulatedApiError(message, code=setting.code, http_status=setting.http_status)


# ---------------------------------------------------------------- records


@dataclass
class SubSyncRecord:
    """One object-modification sub-task (`SubSyncJob` entry, JobType subSync)."""

    sub_job_id: str
    status: str
    created_at: float
    db_list: dict[str, Any] | None
    finished_at: float | None = None
    error_message: str = ""
    precheck_failed_reason: str = ""

    @classmethod
    def from_state(cls, value: object, where: str) -> SubSyncRecord:
        obj = as_mapping(value, where)
        db_list = obj.get("dbList")
        if db_list is not None:
            db_list = dict(as_mapping(db_list, f"{where}.dbList"))
        return cls(
            sub_job_id=req_str(obj, "subJobId", "", where),
            status=req_str(obj, "status", "Finished", where),
            created_at=req_number(obj, "createdAt", 0.0, where),
            db_list=db_list,
            finished_at=opt_number(obj, "finishedAt", None, where),
            error_message=req_str(obj, "errorMessage", "", where),
            precheck_failed_reason=req_str(obj, "precheckFailedReason", "", where),
        )

    def to_state(self) -> dict[str, Any]:
        return {
            "subJobId": self.sub_job_id,
            "status": self.status,
            "createdAt": self.created_at,
            "finishedAt": self.finished_at,
            "dbList": copy.deepcopy(self.db_list),
            "errorMessage": self.error_message,
            "precheckFailedReason": self.precheck_failed_reason,
        }


@dataclass
class Modification:
    """A running modification: when it ends, what it installs, what status comes back."""

    sub_job_id: str
    started_at: float
    duration_seconds: float
    describes_left: int | None
    previous_status: str
    db_list_before: dict[str, Any]
    db_list_submitted: dict[str, Any] | None
    fail_precheck: bool

    @classmethod
    def from_state(cls, value: object, where: str) -> Modification:
        obj = as_mapping(value, where)
        submitted = obj.get("dbListSubmitted")
        return cls(
            sub_job_id=req_str(obj, "subJobId", "", where),
            started_at=req_number(obj, "startedAt", 0.0, where),
            duration_seconds=req_number(obj, "durationSeconds", 0.0, where),
            describes_left=opt_int(obj, "describesLeft", None, where),
            previous_status=req_str(obj, "previousStatus", "Synchronizing", where),
            db_list_before=dict(opt_mapping(obj, "dbListBefore", where)),
            db_list_submitted=(
                None if submitted is None else dict(as_mapping(submitted, f"{where}.dbListSubmitted"))
            ),
            fail_precheck=opt_bool(obj, "failPrecheck", False, where),
        )

    def to_state(self) -> dict[str, Any]:
        return {
            "subJobId": self.sub_job_id,
            "startedAt": self.started_at,
            "durationSeconds": self.duration_seconds,
            "describesLeft": self.describes_left,
            "previousStatus": self.previous_status,
            "dbListBefore": copy.deepcopy(self.db_list_before),
            "dbListSubmitted": copy.deepcopy(self.db_list_submitted),
            "failPrecheck": self.fail_precheck,
        }


@dataclass
class DirectionTask:
    """What DTS keeps per synchronization direction: status, object list, reserved map."""

    direction: str
    status: str
    db_list: dict[str, Any]
    reserved: dict[str, Any]
    job_id: str
    modification: Modification | None = None
    sub_sync_jobs: list[SubSyncRecord] = field(default_factory=list)

    @classmethod
    def from_state(
        cls, obj: Mapping[str, Any], where: str, *, direction: str, job_id: str, status: str
    ) -> DirectionTask:
        mod_raw = obj.get("modification")
        return cls(
            direction=direction,
            status=req_str(obj, "status", status, where),
            db_list=dict(as_mapping(obj.get("dbList", {}), f"{where}.dbList")),
            reserved=dict(opt_mapping(obj, "reserved", where)),
            job_id=job_id,
            modification=(
                None if mod_raw is None else Modification.from_state(mod_raw, f"{where}.modification")
            ),
            sub_sync_jobs=[
                SubSyncRecord.from_state(item, f"{where}.subSyncJobs[{index}]")
                for index, item in enumerate(_as_list(obj.get("subSyncJobs", []), f"{where}.subSyncJobs"))
            ],
        )

    def to_state(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "dbList": copy.deepcopy(self.db_list),
            "reserved": copy.deepcopy(self.reserved),
            "modification": None if self.modification is None else self.modification.to_state(),
            "subSyncJobs": [record.to_state() for record in self.sub_sync_jobs],
        }


def _as_list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise state_error(where, value, "a JSON array")
    return value


_JOB_KEYS = {
    "instanceId",
    "status",
    "direction",
    "modifyDurationSeconds",
    "modifyAfterDescribes",
    "dbList",
    "reserved",
    "name",
    "jobType",
    "regionId",
    "switches",
    "modification",
    "subSyncJobs",
    "reverse",
}


@dataclass
class EmulatedJob:
    """A synchronization job: one task per direction (the reverse one only for two-way jobs)."""

    job_id: str
    instance_id: str
    name: str
    job_type: str
    region_id: str | None
    modify_duration_seconds: float
    modify_after_describes: int | None
    switches: dict[str, bool]
    forward: DirectionTask
    reverse: DirectionTask | None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_state(cls, job_id: str, value: object) -> EmulatedJob:
        where = f"jobs.{job_id}"
        obj = as_mapping(value, where)
        direction = req_str(obj, "direction", "Forward", where)
        if direction not in DIRECTIONS:
            raise state_error(f"{where}.direction", direction, "Forward or Reverse")
        forward = DirectionTask.from_state(
            obj, where, direction=direction, job_id=job_id, status="Synchronizing"
        )
        reverse = None
        if obj.get("reverse") is not None:
            if direction != "Forward":
                raise state_error(f"{where}.direction", direction, "Forward when reverse is set")
            spot = f"{where}.reverse"
            rev = as_mapping(obj["reverse"], spot)
            reverse = DirectionTask.from_state(
                rev,
                spot,
                direction="Reverse",
                job_id=req_str(rev, "jobId", f"{job_id}-reverse", spot),
                status=forward.status,
            )
        switches_raw = opt_mapping(obj, "switches", where)
        Switches.from_state(switches_raw, f"{where}.switches")  # type check only
        return cls(
            job_id=job_id,
            instance_id=req_str(obj, "instanceId", "", where),
            name=req_str(obj, "name", job_id, where),
            job_type=req_str(obj, "jobType", "SYNC", where).upper(),
            region_id=opt_str(obj, "regionId", None, where),
            modify_duration_seconds=req_number(obj, "modifyDurationSeconds", 2.0, where),
            modify_after_describes=opt_int(obj, "modifyAfterDescribes", None, where),
            switches={key: bool(val) for key, val in switches_raw.items()},
            forward=forward,
            reverse=reverse,
            extra={key: copy.deepcopy(val) for key, val in obj.items() if key not in _JOB_KEYS},
        )

    def to_state(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "instanceId": self.instance_id,
            "name": self.name,
            "jobType": self.job_type,
            "direction": self.forward.direction,
            "modifyDurationSeconds": self.modify_duration_seconds,
            "modifyAfterDescribes": self.modify_after_describes,
            "regionId": self.region_id,
            "switches": dict(self.switches),
            **self.forward.to_state(),
        }
        if self.reverse is not None:
            out["reverse"] = {"jobId": self.reverse.job_id, **self.reverse.to_state()}
        out.update(copy.deepcopy(self.extra))
        return out

    def tasks(self) -> list[DirectionTask]:
        return [self.forward] if self.reverse is None else [self.forward, self.reverse]

    def task(self, direction: str, not_found: CodeSetting) -> DirectionTask:
        if direction == self.forward.direction:
            return self.forward
        if direction == "Reverse" and self.reverse is not None:
            return self.reverse
        raise configured_error(not_found, f"Job {self.job_id} has no {direction} task.")


@dataclass
class Hook:
    """A one-shot change applied right after the N-th next DescribeDtsJobDetail of a job."""

    job_id: str
    direction: str = "Forward"
    after_describes: int = 1
    db_list: dict[str, Any] | None = None
    reserved: dict[str, Any] | None = None
    status: str | None = None
    start_modification: bool = False
    hook_id: str = ""

    @classmethod
    def from_state(cls, value: object, where: str) -> Hook:
        obj = as_mapping(value, where)
        job_id = req_str(obj, "jobId", "", where)
        if not job_id:
            raise state_error(f"{where}.jobId", obj.get("jobId"), "a job id")
        db_list = obj.get("dbList")
        reserved = obj.get("reserved")
        return cls(
            job_id=job_id,
            direction=req_str(obj, "direction", "Forward", where),
            after_describes=opt_int(obj, "afterDescribes", 1, where, minimum=1) or 1,
            db_list=None if db_list is None else dict(as_mapping(db_list, f"{where}.dbList")),
            reserved=None if reserved is None else dict(as_mapping(reserved, f"{where}.reserved")),
            status=opt_str(obj, "status", None, where),
            start_modification=opt_bool(obj, "startModification", False, where),
            hook_id=req_str(obj, "id", "", where),
        )

    def to_state(self) -> dict[str, Any]:
        return {
            "id": self.hook_id,
            "jobId": self.job_id,
            "direction": self.direction,
            "afterDescribes": self.after_describes,
            "dbList": copy.deepcopy(self.db_list),
            "reserved": copy.deepcopy(self.reserved),
            "status": self.status,
            "startModification": self.start_modification,
        }


@dataclass
class TokenRecord:
    fingerprint: str
    response: dict[str, Any]
    at: float

    def to_state(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "response": copy.deepcopy(self.response), "at": self.at}


# ---------------------------------------------------------------- requests and snapshots


@dataclass(frozen=True)
class ModifyRequest:
    """ModifyDtsJob's parameters after type checks (every seed-page parameter is here)."""

    instance_id: str
    job_id: str | None = None
    direction: str = "Forward"
    region_id: str | None = None
    client_token: str | None = None
    db_list: dict[str, Any] | None = None
    reserved: dict[str, Any] | None = None
    modify_type: str | None = None
    structure_initialization: bool | None = None
    data_initialization: bool | None = None
    data_synchronization: bool | None = None
    file_oss_url: str | None = None
    filter_table_name: str | None = None
    etl_operator_column_reference: str | None = None
    zero_etl_job: bool | None = None
    resource_group_id: str | None = None

    def fingerprint(self) -> str:
        """Hash of everything but the token: equal for a retry, different for a new request."""
        fields = {k: v for k, v in self.__dict__.items() if k != "client_token"}
        return hashlib.sha256(
            json.dumps(fields, sort_keys=True, ensure_ascii=False).encode("utf-8")
        ).hexdigest()


@dataclass(frozen=True)
class SubSyncView:
    sub_job_id: str
    status: str
    created_at: float
    finished_at: float | None
    db_list: dict[str, Any] | None
    error_message: str
    precheck_failed_reason: str
    running: bool


@dataclass(frozen=True)
class TaskSnapshot:
    """A copy of one job direction at read time; rendering never sees live state."""

    job_id: str
    instance_id: str
    name: str
    job_type: str
    direction: str
    two_way: bool
    status: str
    db_list: dict[str, Any]
    reserved: dict[str, Any]
    sub_sync_jobs: tuple[SubSyncView, ...]
    reverse: TaskSnapshot | None = None


# ---------------------------------------------------------------- backend


class DtsBackend:
    """All DTS jobs of the emulator, with verbs named after the API."""

    def __init__(
        self,
        jobs: dict[str, EmulatedJob],
        settings: EmulatorSettings,
        *,
        hooks: list[Hook] | None = None,
        client_tokens: dict[str, TokenRecord] | None = None,
        id_factory: Callable[[], str],
    ) -> None:
        self.jobs = jobs
        self.settings = settings
        self.hooks = hooks or []
        self.client_tokens = client_tokens or {}
        self._new_id = id_factory

    # ------------------------------------------------------------ state (de)serialisation

    @classmethod
    def from_state(
        cls, state: Mapping[str, Any], settings: EmulatorSettings, id_factory: Callable[[], str]
    ) -> DtsBackend:
        jobs = {
            str(job_id): EmulatedJob.from_state(str(job_id), raw)
            for job_id, raw in opt_mapping(state, "jobs", "state").items()
        }
        hooks = [
            Hook.from_state(item, f"hooks[{index}]")
            for index, item in enumerate(_as_list(state.get("hooks", []), "hooks"))
        ]
        tokens: dict[str, TokenRecord] = {}
        for token, raw in opt_mapping(state, "clientTokens", "state").items():
            spot = f"clientTokens.{token}"
            obj = as_mapping(raw, spot)
            tokens[str(token)] = TokenRecord(
                req_str(obj, "fingerprint", "", spot),
                dict(opt_mapping(obj, "response", spot)),
                req_number(obj, "at", 0.0, spot),
            )
        return cls(jobs, settings, hooks=hooks, client_tokens=tokens, id_factory=id_factory)

    def to_state(self) -> dict[str, Any]:
        return {
            "jobs": {job_id: job.to_state() for job_id, job in self.jobs.items()},
            "hooks": [hook.to_state() for hook in self.hooks],
            "clientTokens": {token: rec.to_state() for token, rec in self.client_tokens.items()},
        }

    # ------------------------------------------------------------ lookups

    def switches_for(self, job: EmulatedJob) -> Switches:
        return Switches.from_state(job.switches, f"jobs.{job.job_id}.switches", self.settings.switches)

    def find_job(self, job_id: str | None, instance_id: str | None, region_id: str | None) -> EmulatedJob:
        not_found = self.settings.codes["jobNotFound"]
        job: EmulatedJob | None = None
        if job_id:
            job = self.jobs.get(job_id)
            if job is not None and instance_id and job.instance_id != instance_id:
                job = None
        elif instance_id:
            job = next((j for j in self.jobs.values() if j.instance_id == instance_id), None)
        if job is None or (region_id and job.region_id and job.region_id != region_id):
            raise configured_error(not_found, f"DtsJobId={job_id!r} DtsInstanceId={instance_id!r}")
        return job

    # ------------------------------------------------------------ progression

    def advance_all(self, now: float) -> None:
        """Finish time-based modifications whose duration has passed (any read calls this)."""
        for job in self.jobs.values():
            for task in job.tasks():
                mod = task.modification
                if (
                    mod is not None
                    and mod.describes_left is None
                    and now - mod.started_at >= mod.duration_seconds
                ):
                    self._finish(task, now)

    def _finish(self, task: DirectionTask, now: float) -> None:
        mod = task.modification
        if mod is None:
            return
        record = next((r for r in task.sub_sync_jobs if r.sub_job_id == mod.sub_job_id), None)
        if mod.fail_precheck:
            task.db_list = copy.deepcopy(mod.db_list_before)
            if record is not None:
                record.status = "PrecheckFailed"
                record.error_message = self.settings.precheck_failure_reason
                record.precheck_failed_reason = self.settings.precheck_failure_reason
        else:
            if mod.db_list_submitted is not None:
                task.db_list = copy.deepcopy(mod.db_list_submitted)
            if record is not None:
                record.status = "Finished"
        if record is not None:
            record.finished_at = now
        task.status = mod.previous_status
        task.modification = None

    def _start_modification(
        self, job: EmulatedJob, task: DirectionTask, submitted: dict[str, Any] | None, now: float
    ) -> None:
        sub_id = f"{job.job_id}-sub-{self._new_id()}"
        task.modification = Modification(
            sub_job_id=sub_id,
            started_at=now,
            duration_seconds=job.modify_duration_seconds,
            describes_left=job.modify_after_describes,
            previous_status=task.status,
            db_list_before=copy.deepcopy(task.db_list),
            db_list_submitted=copy.deepcopy(submitted),
            fail_precheck=self.switches_for(job).fail_precheck,
        )
        task.sub_sync_jobs.append(SubSyncRecord(sub_id, "Prechecking", now, copy.deepcopy(submitted)))
        del task.sub_sync_jobs[:-SUB_SYNC_HISTORY_LIMIT]
        task.status = "Modifying"
        if submitted is not None and self.settings.apply_db_list_on == "submit":
            task.db_list = copy.deepcopy(submitted)
        if job.modify_after_describes is None and job.modify_duration_seconds <= 0:
            self._finish(task, now)

    # ------------------------------------------------------------ verbs

    def describe_dts_job_detail(
        self,
        job_id: str | None,
        instance_id: str | None,
        direction: str,
        region_id: str | None,
        now: float,
    ) -> TaskSnapshot:
        self.advance_all(now)
        job = self.find_job(job_id, instance_id, region_id)
        task = job.task(direction, self.settings.codes["directionNotFound"])
        mod = task.modification
        if mod is not None and mod.describes_left is not None:
            if mod.describes_left <= 0:
                self._finish(task, now)
            else:
                mod.describes_left -= 1
        snapshot = self._snapshot(job, task)
        self._fire_hooks(job, task, now)
        return snapshot

    def describe_dts_jobs(self, now: float) -> list[TaskSnapshot]:
        """Every job's primary task (filters and paging are the handler's job: pure listing)."""
        self.advance_all(now)
        return [self._snapshot(job, job.forward) for job in self.jobs.values()]

    def modify_dts_job(self, request: ModifyRequest, now: float) -> tuple[dict[str, Any], bool]:
        """Apply a ModifyDtsJob; returns (response fields, deduplicated)."""
        self.advance_all(now)
        self._expire_tokens(now)
        fingerprint = request.fingerprint()
        if request.client_token is not None:
            seen = self.client_tokens.get(request.client_token)
            if seen is not None:
                if seen.fingerprint != fingerprint:
                    raise configured_error(
                        self.settings.codes["clientTokenMismatch"],
                        f"ClientToken={request.client_token!r}",
                    )
                return copy.deepcopy(seen.response), True
        job = self.find_job(request.job_id, request.instance_id, request.region_id)
        task = job.task(request.direction, self.settings.codes["directionNotFound"])
        if request.db_list is not None:
            self._check_db_list(job, request.db_list)
        self._gate(task)
        if request.reserved:
            task.reserved.update(copy.deepcopy(request.reserved))
        if request.modify_type != UPDATE_RESERVED:
            self._start_modification(job, task, request.db_list, now)
        response = {"DtsJobId": job.job_id, "Success": True}
        if request.client_token is not None:
            self.client_tokens[request.client_token] = TokenRecord(fingerprint, response, now)
        return copy.deepcopy(response), False

    # ------------------------------------------------------------ rules

    def _check_db_list(self, job: EmulatedJob, db_list: dict[str, Any]) -> None:
        size = dblist_size(db_list)
        if size > MAX_DBLIST_BYTES:
            raise configured_error(
                self.settings.codes["dbListTooLarge"], f"Size {size} bytes > {MAX_DBLIST_BYTES}."
            )
        if self.switches_for(job).reject_state_keys:
            where = find_state_key(db_list)
            if where is not None:
                raise configured_error(self.settings.codes["stateKeyRejected"], f"Key {where}.")

    def _gate(self, task: DirectionTask) -> None:
        status = task.status.lower()
        if status == "modifying":
            raise OperationDeniedJobStatusModifyingError()
        if status == "notconfigured":
            raise CheckStatusInvalidInitStatusError()
        if status not in MODIFIABLE_STATUSES:
            raise configured_error(
                self.settings.codes["jobNotRunning"], f"Status {canonical_status(task.status)}."
            )

    def _expire_tokens(self, now: float) -> None:
        ttl = self.settings.client_token_ttl_seconds
        if ttl is None:
            return
        for token in [t for t, rec in self.client_tokens.items() if now - rec.at > ttl]:
            del self.client_tokens[token]

    # ------------------------------------------------------------ hooks

    def add_hook(self, hook: Hook) -> Hook:
        if hook.job_id not in self.jobs:
            raise InvalidParameterError("jobId", f"no job {hook.job_id!r} in the emulator state")
        if not hook.hook_id:
            hook.hook_id = f"hook-{self._new_id()}"
        self.hooks.append(hook)
        return hook

    def _fire_hooks(self, job: EmulatedJob, task: DirectionTask, now: float) -> None:
        remaining: list[Hook] = []
        for hook in self.hooks:
            if hook.job_id != job.job_id or hook.direction != task.direction:
                remaining.append(hook)
                continue
            hook.after_describes -= 1
            if hook.after_describes > 0:
                remaining.append(hook)
                continue
            self._apply_hook(job, task, hook, now)
        self.hooks = remaining

    def _apply_hook(self, job: EmulatedJob, task: DirectionTask, hook: Hook, now: float) -> None:
        if hook.reserved:
            task.reserved.update(copy.deepcopy(hook.reserved))
        if hook.start_modification:
            if task.modification is not None:
                self._finish(task, now)
            self._start_modification(job, task, hook.db_list, now)
        elif hook.db_list is not None:
            task.db_list = copy.deepcopy(hook.db_list)
        if hook.status is not None:
            task.status = hook.status

    # ------------------------------------------------------------ snapshots

    def _snapshot(self, job: EmulatedJob, task: DirectionTask) -> TaskSnapshot:
        # Stored DbLists are replaced, never changed in place, so a snapshot shares them; copying
        # the list and every sub-task's list on each describe was most of the emulator's time.
        running = task.modification.sub_job_id if task.modification else None
        views = tuple(
            SubSyncView(
                r.sub_job_id,
                r.status,
                r.created_at,
                r.finished_at,
                r.db_list,
                r.error_message,
                r.precheck_failed_reason,
                r.sub_job_id == running,
            )
            for r in task.sub_sync_jobs
        )
        reverse = None
        if task is job.forward and job.reverse is not None:
            reverse = self._snapshot(job, job.reverse)
        return TaskSnapshot(
            job_id=task.job_id,
            instance_id=job.instance_id,
            name=job.name,
            job_type=job.job_type,
            direction=task.direction,
            two_way=job.reverse is not None,
            status=task.status,
            db_list=task.db_list,
            reserved=copy.deepcopy(task.reserved),
            sub_sync_jobs=views,
            reverse=reverse,
        )
