"""The change model: the job a change targets, where it came from, a parsed (unrouted) change and
`ChangeRequest`, what a user asks for, validated, routed and hashable.

The parsers that produce `ParsedChange` live in `intake/formats/` (one module per format);
`intake/accept.py` routes their result and builds the request here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import field
from typing import Any, Literal, cast

from .dblist import DbList, ObjectRef
from .merge import ChangeSpec, OnConflict, TargetNamePolicy
from .values import immutable

Direction = Literal["Forward", "Reverse"]
DIRECTIONS: tuple[Direction, ...] = ("Forward", "Reverse")



# ---------------------------------------------------------------------- job target and source


@immutable
class JobTarget:
    """Which DTS task a change is for: job and/or instance id, direction and region."""

    dts_job_id: str | None = None
    dts_instance_id: str | None = None
    direction: Direction = "Forward"
    region: str | None = None

    @property
    def key(self) -> str:
        """Groups changes that reconcile together: one (job, direction). The handler resolves an
        instance id to its job id before recording (`app/record.py`), so one DTS job has one key,
        one lease and one order; the instance id remains only for changes recorded before that."""
        return f"{self.dts_job_id or self.dts_instance_id}/{self.direction}"

    def with_job_id(self, job_id: str) -> JobTarget:
        return JobTarget(job_id, self.dts_instance_id, self.direction, self.region)

    def with_defaults(self, *, region: str | None) -> JobTarget:
        return JobTarget(self.dts_job_id, self.dts_instance_id, self.direction, self.region or region)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dtsJobId": self.dts_job_id,
            "dtsInstanceId": self.dts_instance_id,
            "direction": self.direction,
            "region": self.region,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobTarget:
        return cls(
            dts_job_id=data.get("dtsJobId"),
            dts_instance_id=data.get("dtsInstanceId"),
            direction=cast(Direction, data.get("direction") or "Forward"),
            region=data.get("region"),
        )

    def __str__(self) -> str:
        return f"job {self.dts_job_id or self.dts_instance_id} {self.direction}"


@immutable
class SourceInfo:
    """Where a change came from, for routing, idempotency and the ledger."""

    kind: str
    bucket: str | None = None
    key: str | None = None
    etag: str | None = None
    message_id: str | None = None
    topic: str | None = None
    queue: str | None = None
    event_id: str | None = None
    region: str | None = None
    file_oss_url: str | None = None
    version_id: str | None = None
    """The object version an OSS event named (versioned bucket): that version is read, not the
    current one (issue 12.4). Part of `identity`: each upload has its own version."""
    request_id: str | None = None
    """The upload's request id (an OSS event's `responseElements.requestId`): the same in every
    redelivery of its event, and in the native and EventBridge events of one upload."""

    def identity(self) -> str | None:
        """A stable name for this delivery (bucket+key+eTag and the upload, message id, CloudEvent
        id), if any. The eTag alone names only the content: a new upload of bytes the key held
        before has the same eTag, so the version id (else the request id) tells uploads apart."""
        if self.file_oss_url:
            return f"file:{self.file_oss_url}#{self.etag or ''}{self._carrier()}"
        if self.bucket and self.key:
            return f"oss:{self.bucket}/{self.key}#{self.etag or ''}{self._upload()}"
        if self.message_id:
            return f"mns:{self.topic or self.queue or ''}#{self.message_id}"
        if self.event_id:
            return f"event:{self.kind}#{self.event_id}"
        return None

    def _upload(self) -> str:
        """Which upload of the object: its version id, else its request id, else nothing (as
        before request ids were read: an event without either is named by its eTag only)."""
        if self.version_id:
            return f";versionId={self.version_id}"
        if self.request_id:
            return f";requestId={self.request_id}"
        return ""

    def _carrier(self) -> str:
        """Which delivery carried a FileOssUrl request: the same file sent again in a new upload
        or message is a new change, a redelivery of that upload or message is not."""
        if self.version_id or self.request_id:
            return self._upload()
        if self.message_id:
            return f";messageId={self.message_id}"
        if self.event_id:
            return f";eventId={self.event_id}"
        return ""

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SourceInfo:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    def describe(self) -> str:
        if self.file_oss_url:
            return f"FileOssUrl {self.file_oss_url}"
        if self.bucket and self.key:
            return f"oss://{self.bucket}/{self.key}"
        if self.message_id:
            where = self.topic or self.queue
            return f"{self.kind} message {self.message_id}" + (f" ({where})" if where else "")
        return f"{self.kind} event"


# ---------------------------------------------------------------------- parsed (unrouted) change


@immutable
class ParsedChange:
    """A change as the document states it, before routing: `job` may be missing."""

    format: str
    doc_id: str | None = None
    id_kind: Literal["id", "ClientToken"] = "id"
    job: JobTarget | None = None
    add: DbList | None = None
    remove: tuple[ObjectRef, ...] = ()
    reserved: dict[str, Any] | None = None
    on_conflict: OnConflict = "reject"
    structure_initialization: bool | None = None
    data_initialization: bool | None = None
    data_synchronization: bool | None = None
    dry_run: bool = False
    warnings: tuple[str, ...] = ()
    implicit_removals: tuple[ObjectRef, ...] = ()
    """Removals a format implies (DDL `DROP`): applied only where the route allows removals."""

    def object_count(self) -> int:
        added = 0
        if self.add is not None:
            added = len(self.add.databases) + self.add.table_count()
        return added + len(self.remove) + len(self.implicit_removals)


# ---------------------------------------------------------------------- ChangeRequest


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _refs_to_json(refs: Iterable[ObjectRef]) -> list[list[str | None]]:
    return [[r.db, r.table] for r in sorted(refs)]


@immutable
class ChangeRequest:
    """One validated change routed to one job: everything the ledger and reconcile need.

    `identity` names where the change claims to come from (its id or ClientToken, else the
    source delivery); `idempotency_key` hashes identity with `content_hash`, so a reused id with
    different content gets a new key and the ledger can report it (same identity, new key).
    """

    change_id: str
    identity: str
    idempotency_key: str
    content_hash: str
    job: JobTarget
    format: str
    add: DbList | None = None
    remove: tuple[ObjectRef, ...] = ()
    reserved: dict[str, Any] | None = None
    on_conflict: OnConflict = "reject"
    structure_initialization: bool | None = None
    data_initialization: bool | None = None
    data_synchronization: bool | None = None
    dry_run: bool = False
    correlation_id: str = ""
    source: SourceInfo = field(default_factory=lambda: SourceInfo("manual"))
    event_ref: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    target_names: TargetNamePolicy = "warn"
    """The route's `onTargetNameAdd`: "reject" refuses an added source named like a mapping's target."""
    job_named_by: str = "the change's job"
    """Where `job` came from (the change, a route, the defaults): named when its ids are refused."""

    def to_change_spec(self) -> ChangeSpec:
        return ChangeSpec(
            change_id=self.change_id,
            add=self.add,
            remove=self.remove,
            on_conflict=self.on_conflict,
            target_names=self.target_names,
        )

    @property
    def modification_flags(self) -> dict[str, bool]:
        """ModifyDtsJob's StructureInitialization / DataInitialization / DataSynchronization, if set."""
        flags = {
            "StructureInitialization": self.structure_initialization,
            "DataInitialization": self.data_initialization,
            "DataSynchronization": self.data_synchronization,
        }
        return {k: v for k, v in flags.items() if v is not None}

    def to_record(self) -> dict[str, Any]:
        """JSON-ready form for the ledger; `from_record` rebuilds an equal request."""
        return {
            "changeId": self.change_id,
            "identity": self.identity,
            "idempotencyKey": self.idempotency_key,
            "contentHash": self.content_hash,
            "job": self.job.to_dict(),
            "format": self.format,
            "add": self.add.to_wire() if self.add is not None else None,
            "remove": _refs_to_json(self.remove),
            "reserved": self.reserved,
            "onConflict": self.on_conflict,
            "structureInitialization": self.structure_initialization,
            "dataInitialization": self.data_initialization,
            "dataSynchronization": self.data_synchronization,
            "dryRun": self.dry_run,
            "correlationId": self.correlation_id,
            "source": self.source.to_dict(),
            "eventRef": self.event_ref,
            "warnings": list(self.warnings),
            **({"onTargetNameAdd": "reject"} if self.target_names == "reject" else {}),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ChangeRequest:
        add = record.get("add")
        return cls(
            change_id=record["changeId"],
            identity=record["identity"],
            idempotency_key=record["idempotencyKey"],
            content_hash=record["contentHash"],
            job=JobTarget.from_dict(record["job"]),
            format=record.get("format", "change-document"),
            add=DbList.from_user(add, what="recorded add") if add is not None else None,
            remove=tuple(ObjectRef(db, table) for db, table in record.get("remove", [])),
            reserved=record.get("reserved"),
            on_conflict=record.get("onConflict", "reject"),
            structure_initialization=record.get("structureInitialization"),
            data_initialization=record.get("dataInitialization"),
            data_synchronization=record.get("dataSynchronization"),
            dry_run=bool(record.get("dryRun", False)),
            correlation_id=record.get("correlationId", ""),
            source=SourceInfo.from_dict(record.get("source") or {"kind": "manual"}),
            event_ref=dict(record.get("eventRef") or {}),
            warnings=tuple(record.get("warnings") or ()),
            target_names="reject" if record.get("onTargetNameAdd") == "reject" else "warn",
        )


def content_hash_of(
    job: JobTarget,
    add: DbList | None,
    remove: Iterable[ObjectRef],
    reserved: Mapping[str, Any] | None,
    on_conflict: str,
    flags: Mapping[str, bool | None],
    dry_run: bool,
    target_names: str = "warn",
) -> str:
    """SHA-256 over the change's meaning (not its spelling): key order and whitespace do not count."""
    payload = {
        "job": job.to_dict(),
        "add": add.to_wire() if add is not None else None,
        "remove": _refs_to_json(remove),
        "reserved": dict(reserved) if reserved is not None else None,
        "onConflict": on_conflict,
        "flags": dict(flags),
        "dryRun": dry_run,
    }
    if target_names == "reject":  # only then: the hashes of every other change stay as they were
        payload["onTargetNameAdd"] = target_names
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def build_change_request(
    parsed: ParsedChange,
    *,
    job: JobTarget,
    remove: tuple[ObjectRef, ...],
    warnings: tuple[str, ...],
    source: SourceInfo,
    correlation_id: str,
    event_ref: Mapping[str, Any],
    identity_suffix: str = "",
    target_names: TargetNamePolicy = "warn",
    job_named_by: str = "the change's job",
) -> ChangeRequest:
    """Fix the routed job, hash the content and derive identity and idempotency key."""
    flags = {
        "structureInitialization": parsed.structure_initialization,
        "dataInitialization": parsed.data_initialization,
        "dataSynchronization": parsed.data_synchronization,
    }
    digest = content_hash_of(
        job, parsed.add, remove, parsed.reserved, parsed.on_conflict, flags, parsed.dry_run, target_names
    )
    if parsed.doc_id:
        identity = f"{parsed.id_kind}:{parsed.doc_id}"
    else:
        identity = source.identity() or f"{source.kind}:content"
    identity += identity_suffix
    key = hashlib.sha256(f"{identity}\n{digest}".encode()).hexdigest()
    change_id = (parsed.doc_id + identity_suffix) if parsed.doc_id else f"chg-{key[:16]}"
    return ChangeRequest(
        change_id=change_id,
        identity=identity,
        idempotency_key=key,
        content_hash=digest,
        job=job,
        format=parsed.format,
        add=parsed.add,
        remove=remove,
        reserved=parsed.reserved,
        on_conflict=parsed.on_conflict,
        structure_initialization=parsed.structure_initialization,
        data_initialization=parsed.data_initialization,
        data_synchronization=parsed.data_synchronization,
        dry_run=parsed.dry_run,
        correlation_id=correlation_id,
        source=source,
        event_ref=dict(event_ref),
        warnings=warnings,
        target_names=target_names,
        job_named_by=job_named_by,
    )
