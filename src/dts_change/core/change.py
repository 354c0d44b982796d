"""Change documents and `ChangeRequest`: what a user asks for, validated, routed and hashable.

Parsing is strict about meaning and precise in reporting: every problem carries a dotted path
(`add.shop.Table.orders.all`, `remove[2]`), the offending value and what was expected; several
problems are reported together in `details`. Nothing here reads OSS, the environment or the
clock: `intake.py` feeds bytes in and routes the result.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from .dblist import DbList, ObjectRef, name_problem
from .errors import (
    ChangeDocumentError,
    DbListValidationError,
    InputTooLargeError,
    InvalidNameError,
    short_repr,
)
from .jsonsafe import load_json
from .merge import ChangeSpec, OnConflict, TargetNamePolicy

Direction = Literal["Forward", "Reverse"]
DIRECTIONS: tuple[Direction, ...] = ("Forward", "Reverse")

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_REGION_RE = re.compile(r"^[a-z]{2,}(?:-[a-z0-9]+)+$")
MAX_CHANGE_ID_LENGTH = 128


# ---------------------------------------------------------------------- job target and source


@dataclass(frozen=True)
class JobTarget:
    """Which DTS task a change is for: job and/or instance id, direction and region."""

    dts_job_id: str | None = None
    dts_instance_id: str | None = None
    direction: Direction = "Forward"
    region: str | None = None

    @property
    def key(self) -> str:
        """Groups changes that reconcile together: one (job, direction)."""
        return f"{self.dts_job_id or self.dts_instance_id}/{self.direction}"

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


@dataclass(frozen=True)
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
    current one (issue 12.4). Not part of `identity`: the eTag already names the content."""

    def identity(self) -> str | None:
        """A stable name for this delivery (bucket+key+eTag, message id, CloudEvent id), if any."""
        if self.file_oss_url:
            return f"file:{self.file_oss_url}#{self.etag or ''}"
        if self.bucket and self.key:
            return f"oss:{self.bucket}/{self.key}#{self.etag or ''}"
        if self.message_id:
            return f"mns:{self.topic or self.queue or ''}#{self.message_id}"
        if self.event_id:
            return f"event:{self.kind}#{self.event_id}"
        return None

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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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
    )


# ---------------------------------------------------------------------- problem collection


class Problems:
    """Collects problems with dotted paths; raises one error naming the first and counting the rest."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.items: list[dict[str, Any]] = []

    def add(self, path: str, msg: str, *, value: Any = None, kind: str = "invalid") -> None:
        item: dict[str, Any] = {"path": path, "msg": msg, "type": kind}
        if value is not None:
            item["input"] = short_repr(value)
        self.items.append(item)

    def extend(self, prefix: str, details: Any) -> None:
        for item in details if isinstance(details, list) else []:
            path = str(item.get("path", ""))
            new = dict(item)
            new["path"] = ".".join(part for part in (prefix, path) if part)
            self.items.append(new)

    def raise_if_any(self, error: type[ChangeDocumentError] = ChangeDocumentError) -> None:
        if not self.items:
            return
        head = self.items[0]
        more = f" (and {len(self.items) - 1} more)" if len(self.items) > 1 else ""
        where = f"{head['path']}: " if head["path"] else ""
        if all(item.get("type") == "invalid_name" for item in self.items):
            error = InvalidNameError
        raise error(f"Invalid {self.what}: {where}{head['msg']}{more}", details=self.items)


def _case_hint(key: str, known: Iterable[str]) -> str | None:
    folded = key.replace("_", "").lower()
    for right in known:
        if folded == right.lower():
            return right
    return None


def unknown_key_message(key: str, known: Iterable[str]) -> str:
    known = tuple(known)
    right = _case_hint(key, known)
    if right is not None:
        return f"unknown key {key!r}: did you mean {right!r}"
    return f"unknown key {short_repr(key)}; expected one of: {', '.join(known)}"


# ---------------------------------------------------------------------- names


def _check_name(name: str, path: str, problems: Problems, kind: str) -> bool:
    problem = name_problem(name)
    if problem:
        problems.add(path, f"invalid {kind} name: {problem}", kind="invalid_name")
        return False
    return True


def split_object_name(text: str) -> tuple[str, str | None] | None:
    """`db`, `db.table`, with optional backtick or double-quote quoting of either part.

    Unquoted parts may not contain whitespace: `shop orders` is a typo far more often than a name.
    """
    parts: list[str] = []
    i = 0
    n = len(text)
    while i <= n:
        if i < n and text[i] in '`"':
            quote = text[i]
            j = i + 1
            buf = []
            while j < n:
                if text[j] == quote:
                    if j + 1 < n and text[j + 1] == quote:
                        buf.append(quote)
                        j += 2
                        continue
                    break
                buf.append(text[j])
                j += 1
            else:
                return None
            parts.append("".join(buf))
            i = j + 1
        else:
            j = text.find(".", i)
            j = n if j == -1 else j
            segment = text[i:j]
            if any(ch in segment for ch in '`"') or any(ch.isspace() for ch in segment):
                return None
            parts.append(segment)
            i = j
        if i == n:
            break
        if text[i] != ".":
            return None
        i += 1
        if i == n:
            parts.append("")
            break
    if len(parts) == 1:
        return parts[0], None
    if len(parts) == 2:
        return parts[0], parts[1]
    return None


def parse_object_ref(value: Any, path: str, problems: Problems) -> ObjectRef | None:
    """One "db" or "db.table" string as an `ObjectRef`, or a problem recorded at `path`."""
    if not isinstance(value, str):
        problems.add(path, f'expected a "db" or "db.table" string, got {short_repr(value)}')
        return None
    split = split_object_name(value.strip())
    if split is None:
        problems.add(
            path,
            f'expected "db" or "db.table" (quote names containing dots or spaces with '
            f"backticks), got {short_repr(value)}",
        )
        return None
    db, table = split
    ok = _check_name(db, path, problems, "database")
    if table is not None:
        ok = _check_name(table, path, problems, "table") and ok
    return ObjectRef(db, table) if ok else None


def fragment_from_refs(refs: Iterable[ObjectRef]) -> tuple[dict[str, Any], list[str]]:
    """A minimal DbList fragment adding these objects, plus warnings for redundant entries.

    Only `all` is written: names and settings stay as they are in the job (the merge fills in
    defaults for new entries), so adding an existing table never conflicts with its settings.
    """
    whole: list[str] = []
    tables: dict[str, list[str]] = {}
    for ref in refs:
        if ref.table is None:
            if ref.db not in whole:
                whole.append(ref.db)
        elif ref.table not in tables.setdefault(ref.db, []):
            tables[ref.db].append(ref.table)
    fragment: dict[str, Any] = {}
    warnings: list[str] = []
    for db in whole:
        fragment[db] = {"all": True}
        if tables.pop(db, None):
            warnings.append(f"tables listed for {db} are covered by adding the whole database {db}")
    for db, names in tables.items():
        fragment[db] = {"all": False, "Table": {t: {} for t in names}}
    return fragment, warnings


def count_fragment_objects(fragment: Mapping[str, Any]) -> int:
    count = 0
    for entry in fragment.values():
        count += 1
        if isinstance(entry, Mapping) and isinstance(entry.get("Table"), Mapping):
            count += len(entry["Table"])
    return count


def check_object_cap(count: int, cap: int, what: str) -> None:
    if count > cap:
        raise InputTooLargeError(
            f"Too many objects in {what}: {count} databases and tables, over the cap of {cap} "
            "objects per change",
            hint="Split the change into several documents or raise DTS_CHANGE_MAX_OBJECTS",
        )


def dblist_from_fragment(
    fragment: Mapping[str, Any], path: str, problems: Problems, *, what: str
) -> DbList | None:
    try:
        return DbList.from_user(fragment, what=what)
    except DbListValidationError as exc:
        problems.extend(path, exc.details) if exc.details else problems.add(path, exc.message)
        return None


# ---------------------------------------------------------------------- format 1: change document

CHANGE_DOC_KEYS = (
    "id",
    "job",
    "add",
    "remove",
    "reserved",
    "onConflict",
    "dryRun",
    "structureInitialization",
    "dataInitialization",
    "dataSynchronization",
    "comment",
)
JOB_KEYS = ("dtsJobId", "dtsInstanceId", "direction", "region")


def _check_id(value: Any, path: str, problems: Problems, *, kind: str = "id") -> str | None:
    if not isinstance(value, str) or not value.strip():
        problems.add(path, f"expected a non-empty string {kind}, got {short_repr(value)}")
        return None
    if len(value) > MAX_CHANGE_ID_LENGTH or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        problems.add(
            path,
            f"{kind} {short_repr(value)} must be at most {MAX_CHANGE_ID_LENGTH} printable characters",
        )
        return None
    return value


def _parse_dts_id(value: Any, path: str, problems: Problems) -> str | None:
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        problems.add(
            path,
            f"expected a DTS id (letters, digits, '_', '-', at most 64 characters), got {short_repr(value)}",
        )
        return None
    return value


def parse_direction(value: Any, path: str, problems: Problems) -> Direction:
    if isinstance(value, str):
        for right in DIRECTIONS:
            if value.lower() == right.lower():
                return right
    problems.add(path, f'expected "Forward" or "Reverse", got {short_repr(value)}')
    return "Forward"


def parse_region(value: Any, path: str, problems: Problems) -> str | None:
    if not isinstance(value, str) or not _REGION_RE.fullmatch(value):
        problems.add(path, f"expected a region id such as 'cn-hangzhou', got {short_repr(value)}")
        return None
    return value


def _parse_bool(value: Any, path: str, problems: Problems) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    problems.add(path, f"expected true or false, got {short_repr(value)}")
    return None


def parse_job(value: Any, path: str, problems: Problems) -> JobTarget | None:
    if isinstance(value, str):
        job_id = _parse_dts_id(value, path, problems)
        return JobTarget(dts_job_id=job_id) if job_id else None
    if not isinstance(value, Mapping):
        problems.add(path, f'expected a DTS job id or an object {{"dtsJobId", ...}}, got {short_repr(value)}')
        return None
    before = len(problems.items)
    for key in value:
        if key not in JOB_KEYS:
            problems.add(f"{path}.{key}", unknown_key_message(str(key), JOB_KEYS))
    job_id = value.get("dtsJobId")
    instance_id = value.get("dtsInstanceId")
    if job_id is None and instance_id is None:
        problems.add(path, "a job needs dtsJobId or dtsInstanceId")
    if job_id is not None:
        job_id = _parse_dts_id(job_id, f"{path}.dtsJobId", problems)
    if instance_id is not None:
        instance_id = _parse_dts_id(instance_id, f"{path}.dtsInstanceId", problems)
    direction: Direction = "Forward"
    if "direction" in value:
        direction = parse_direction(value["direction"], f"{path}.direction", problems)
    region = None
    if "region" in value:
        region = parse_region(value["region"], f"{path}.region", problems)
    if len(problems.items) > before:
        return None
    return JobTarget(job_id, instance_id, direction, region)


def parse_add(
    value: Any, path: str, problems: Problems, *, max_objects: int
) -> tuple[DbList | None, list[str]]:
    """`add`: a DbList fragment, or a list of "db" / "db.table" strings."""
    if isinstance(value, list):
        check_object_cap(len(value), max_objects, path)
        refs = [parse_object_ref(item, f"{path}[{i}]", problems) for i, item in enumerate(value)]
        if not value:
            problems.add(path, "expected at least one object to add")
        clean = [r for r in refs if r is not None]
        if len(clean) != len(refs) or not clean:
            return None, []
        fragment, warnings = fragment_from_refs(clean)
        return dblist_from_fragment(fragment, path, problems, what=path), warnings
    if isinstance(value, Mapping):
        if not value:
            problems.add(path, "expected at least one database to add")
            return None, []
        check_object_cap(count_fragment_objects(value), max_objects, path)
        return dblist_from_fragment(value, path, problems, what=path), []
    problems.add(path, f'expected a DbList object or a list of "db.table" strings, got {short_repr(value)}')
    return None, []


def parse_remove(value: Any, path: str, problems: Problems, *, max_objects: int) -> tuple[ObjectRef, ...]:
    """`remove`: ["db", "db.table"], or {"db": true | ["t1"] | {"Table": {"t1": ...}}}."""
    refs: list[ObjectRef | None] = []
    if isinstance(value, list):
        check_object_cap(len(value), max_objects, path)
        refs = [parse_object_ref(item, f"{path}[{i}]", problems) for i, item in enumerate(value)]
    elif isinstance(value, Mapping):
        check_object_cap(count_fragment_objects(value), max_objects, path)
        for db, sel in value.items():
            where = f"{path}.{db}"
            if not _check_name(db, where, problems, "database"):
                continue
            if sel is True or (isinstance(sel, Mapping) and "Table" not in sel):
                refs.append(ObjectRef(db))
            elif isinstance(sel, list) or (
                isinstance(sel, Mapping) and isinstance(sel.get("Table"), Mapping)
            ):
                names = list(sel) if isinstance(sel, list) else list(sel["Table"])
                if not names:
                    problems.add(where, "expected at least one table to remove")
                check_object_cap(len(names), max_objects, where)
                for i, table in enumerate(names):
                    tpath = f"{where}[{i}]" if isinstance(sel, list) else f"{where}.Table.{table}"
                    if not isinstance(table, str):
                        problems.add(tpath, f"expected a table name, got {short_repr(table)}")
                    elif _check_name(table, tpath, problems, "table"):
                        refs.append(ObjectRef(db, table))
            else:
                problems.add(
                    where,
                    "expected true (the whole database), a list of table names, or "
                    f'{{"Table": {{...}}}}, got {short_repr(sel)}',
                )
    else:
        problems.add(
            path,
            f'expected a list of "db" / "db.table" strings or a selector object, got {short_repr(value)}',
        )
        return ()
    if not refs and not problems.items:
        problems.add(path, "expected at least one object to remove")
    clean = [r for r in refs if r is not None]
    return tuple(dict.fromkeys(clean))


def parse_reserved(value: Any, path: str, problems: Problems) -> dict[str, Any] | None:
    if isinstance(value, str):
        try:
            value = load_json(value, what=path, max_depth=16)
        except ChangeDocumentError as exc:
            problems.add(path, exc.message)
            return None
    if not isinstance(value, Mapping) or not value:
        problems.add(path, f"expected a non-empty JSON object of Reserved keys, got {short_repr(value)}")
        return None
    return dict(value)


def parse_change_document(data: Mapping[str, Any], *, what: str, max_objects: int) -> ParsedChange:
    """Format 1: `{"id"?, "job"?, "add"?, "remove"?, "reserved"?, "onConflict"?, "dryRun"?}`."""
    problems = Problems(f"change document {what}")
    for key in data:
        if key not in CHANGE_DOC_KEYS:
            problems.add(str(key), unknown_key_message(str(key), CHANGE_DOC_KEYS))
    if not any(k in data for k in ("add", "remove", "reserved")):
        problems.add("", 'a change document needs at least one of "add", "remove", "reserved"')
    doc_id = _check_id(data["id"], "id", problems) if "id" in data else None
    job = parse_job(data["job"], "job", problems) if "job" in data else None
    add: DbList | None = None
    warnings: list[str] = []
    if "add" in data:
        add, warnings = parse_add(data["add"], "add", problems, max_objects=max_objects)
    remove: tuple[ObjectRef, ...] = ()
    if "remove" in data:
        remove = parse_remove(data["remove"], "remove", problems, max_objects=max_objects)
    reserved = parse_reserved(data["reserved"], "reserved", problems) if "reserved" in data else None
    on_conflict: OnConflict = "reject"
    if "onConflict" in data:
        value = data["onConflict"]
        if value in ("reject", "replace"):
            on_conflict = value
        else:
            problems.add("onConflict", f'expected "reject" or "replace", got {short_repr(value)}')
    flags: dict[str, bool | None] = {}
    for key in ("structureInitialization", "dataInitialization", "dataSynchronization", "dryRun"):
        flags[key] = _parse_bool(data[key], key, problems) if key in data else None
    if "comment" in data and not isinstance(data["comment"], str):
        problems.add("comment", f"expected a string, got {short_repr(data['comment'])}")
    problems.raise_if_any()
    if add is not None and remove:
        overlap = sorted(set(remove) & add.objects())
        if overlap:
            warnings.append(
                "objects both removed and added are re-created, not removed (their settings are kept): "
                + ", ".join(str(r) for r in overlap[:10])
            )
    check_object_cap((len(add.databases) + add.table_count() if add else 0) + len(remove), max_objects, what)
    return ParsedChange(
        format="change-document",
        doc_id=doc_id,
        job=job,
        add=add,
        remove=remove,
        reserved=reserved,
        on_conflict=on_conflict,
        structure_initialization=flags["structureInitialization"],
        data_initialization=flags["dataInitialization"],
        data_synchronization=flags["dataSynchronization"],
        dry_run=bool(flags["dryRun"]),
        warnings=tuple(warnings),
    )


# ---------------------------------------------------------------------- format 2: ModifyDtsJob

MODIFY_PARAMS = (
    "DtsInstanceId",
    "DtsJobId",
    "DbList",
    "SynchronizationDirection",
    "Reserved",
    "FileOssUrl",
    "ClientToken",
    "StructureInitialization",
    "DataInitialization",
    "DataSynchronization",
    "ModifyTypeEnum",
    "RegionId",
    "ResourceGroupId",
    "ZeroEtlJob",
    "FilterTableName",
    "EtlOperatorColumnReference",
)
"""ModifyDtsJob's own parameters (API 2020-01-01); `RegionId` sets the job's region."""

COMMON_PARAMS = (
    "Action",
    "Version",
    "Format",
    "AccessKeyId",
    "Signature",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "SignatureType",
    "Timestamp",
    "SecurityToken",
    "BearerToken",
    "ResourceOwnerAccount",
    "OwnerId",
    "Product",
    "Endpoint",
)
"""RPC common parameters (as the console's "preview OpenAPI" output includes them): ignored."""

_UNSUPPORTED_PARAMS = ("FilterTableName", "EtlOperatorColumnReference")
_IGNORED_PARAMS = ("ResourceGroupId", "ZeroEtlJob")
# Parameters that tell a ModifyDtsJob-shaped request apart from other JSON documents.
MODIFY_MARKERS = frozenset(MODIFY_PARAMS) - {"RegionId"}


@dataclass(frozen=True)
class ParsedModifyRequest:
    """A ModifyDtsJob-shaped request: its inline change (if any) and the FileOssUrl to load."""

    change: ParsedChange | None
    file_oss_url: str | None
    client_token: str | None
    job: JobTarget | None
    flags: Mapping[str, bool] = field(default_factory=dict)
    """The request's StructureInitialization / DataInitialization / DataSynchronization that
    were set: they apply to the FileOssUrl objects as much as to the inline DbList."""
    region: str | None = None
    """`RegionId`, kept even without a job id so that it is checked, never silently dropped."""


def parse_modify_request(data: Mapping[str, Any], *, what: str, max_objects: int) -> ParsedModifyRequest:
    """Format 2: ModifyDtsJob's own parameters. `DbList` is merged as additions, never an overwrite."""
    problems = Problems(f"ModifyDtsJob request {what}")
    warnings: list[str] = []
    for key in data:
        if key in COMMON_PARAMS or key in MODIFY_PARAMS:
            continue
        problems.add(
            str(key),
            f"unknown parameter {short_repr(key)}; known ModifyDtsJob parameters: "
            + ", ".join(MODIFY_PARAMS),
        )
    action = data.get("Action")
    if action is not None and action != "ModifyDtsJob":
        problems.add("Action", f'expected "ModifyDtsJob", got {short_repr(action)}')
    for key in _UNSUPPORTED_PARAMS:
        if key in data:
            problems.add(key, f"{key} is not supported by this handler; remove it")
    for key in _IGNORED_PARAMS:
        if key in data:
            warnings.append(f"{key} ignored")
    job_id = _parse_dts_id(data["DtsJobId"], "DtsJobId", problems) if "DtsJobId" in data else None
    instance_id = (
        _parse_dts_id(data["DtsInstanceId"], "DtsInstanceId", problems) if "DtsInstanceId" in data else None
    )
    direction: Direction = "Forward"
    if "SynchronizationDirection" in data:
        direction = parse_direction(data["SynchronizationDirection"], "SynchronizationDirection", problems)
    region = parse_region(data["RegionId"], "RegionId", problems) if "RegionId" in data else None
    job = JobTarget(job_id, instance_id, direction, region) if (job_id or instance_id) else None
    client_token = (
        _check_id(data["ClientToken"], "ClientToken", problems, kind="ClientToken")
        if "ClientToken" in data
        else None
    )
    modify_type = data.get("ModifyTypeEnum")
    if modify_type is not None and modify_type != "UPDATE_RESERVED":
        problems.add(
            "ModifyTypeEnum", f'expected "UPDATE_RESERVED" or no value, got {short_repr(modify_type)}'
        )
    reserved_only = modify_type == "UPDATE_RESERVED"
    add: DbList | None = None
    if "DbList" in data:
        value = data["DbList"]
        if reserved_only:
            problems.add("DbList", 'DbList cannot be sent with ModifyTypeEnum "UPDATE_RESERVED"')
        elif isinstance(value, str):
            try:
                value = load_json(value, what="DbList", max_depth=32)
            except ChangeDocumentError as exc:
                problems.add("DbList", exc.message)
                value = None
        if value is not None and not reserved_only:
            add, _ = (
                parse_add(value, "DbList", problems, max_objects=max_objects)
                if isinstance(value, Mapping)
                else (None, [])
            )
            if not isinstance(value, Mapping):
                problems.add("DbList", f"expected a DbList object, got {short_repr(value)}")
    reserved = parse_reserved(data["Reserved"], "Reserved", problems) if "Reserved" in data else None
    file_oss_url = data.get("FileOssUrl")
    if file_oss_url is not None and (not isinstance(file_oss_url, str) or not file_oss_url.strip()):
        problems.add("FileOssUrl", f"expected a URL string, got {short_repr(file_oss_url)}")
        file_oss_url = None
    if file_oss_url is not None and reserved_only:
        problems.add("FileOssUrl", 'FileOssUrl cannot be sent with ModifyTypeEnum "UPDATE_RESERVED"')
    flags: dict[str, bool | None] = {}
    for key in ("StructureInitialization", "DataInitialization", "DataSynchronization"):
        flags[key] = _parse_bool(data[key], key, problems) if key in data else None
    if add is None and reserved is None and file_oss_url is None and not problems.items:
        problems.add("", "a ModifyDtsJob request needs DbList, Reserved or FileOssUrl")
    problems.raise_if_any()
    change = None
    if add is not None or reserved is not None:
        change = ParsedChange(
            format="modify-dts-job",
            doc_id=client_token,
            id_kind="ClientToken",
            job=job,
            add=add,
            reserved=reserved,
            structure_initialization=flags["StructureInitialization"],
            data_initialization=flags["DataInitialization"],
            data_synchronization=flags["DataSynchronization"],
            warnings=tuple(warnings),
        )
    return ParsedModifyRequest(
        change,
        file_oss_url.strip() if file_oss_url else None,
        client_token,
        job,
        {k: v for k, v in flags.items() if v is not None},
        region,
    )


# ---------------------------------------------------------------------- format 3: DbList fragment


def parse_dblist_fragment(data: Mapping[str, Any], *, what: str, max_objects: int) -> ParsedChange:
    check_object_cap(count_fragment_objects(data), max_objects, what)
    problems = Problems(f"DbList fragment {what}")
    add = dblist_from_fragment(data, "", problems, what=what)
    problems.raise_if_any(DbListValidationError)
    assert add is not None
    return ParsedChange(format="dblist", add=add)


# ---------------------------------------------------------------------- format 4: table list


def parse_table_list(text: str, *, what: str, max_objects: int, max_line_length: int) -> ParsedChange:
    """Format 4: one `db.table` (or `db`) per line; `#` starts a comment; blank lines ignored."""
    problems = Problems(f"table list {what}")
    refs: list[ObjectRef] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if len(line) > max_line_length:
            raise InputTooLargeError(
                f"Line too long in table list {what}: line {number} is {len(line)} characters, over "
                f"the cap of {max_line_length}",
                hint="One db.table per line; raise DTS_CHANGE_MAX_LINE_LENGTH if names are really that long",
            )
        content = _strip_hash_comment(line).strip()
        if not content:
            continue
        ref = parse_object_ref(content, f"line {number}", problems)
        if ref is not None:
            refs.append(ref)
            check_object_cap(len(refs), max_objects, f"table list {what}")
    if not refs and not problems.items:
        problems.add("", "the list names no tables (only blank lines and comments)")
    problems.raise_if_any()
    fragment, warnings = fragment_from_refs(refs)
    inner = Problems(f"table list {what}")
    add = dblist_from_fragment(fragment, "", inner, what=what)
    inner.raise_if_any()
    return ParsedChange(format="table-list", add=add, warnings=tuple(warnings))


def _strip_hash_comment(line: str) -> str:
    """Cut a `#` comment, but not a `#` inside a quoted name."""
    quote: str | None = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in '`"':
            quote = ch
        elif ch == "#":
            return line[:i]
    return line
