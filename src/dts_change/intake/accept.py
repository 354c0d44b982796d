"""Envelopes -> routed `ChangeRequest`s: load the body (inline, OSS object, FileOssUrl), detect its
format, parse, validate, route.

`intake_event` never raises for input it does not understand: every envelope ends as exactly one
`IntakeOutcome` — accepted (change requests), failed (a `DtsChangeError` with its code, to
dead-letter; transient OSS read errors keep `retryable` so the handler can retry), ignored
(`ObjectRemoved:*`, with a log line) or reconcile (timer ticks). OSS is read through an injected
`ObjectReader`, never by connecting to a host a URL names.

Steps: `split.py` made the envelope; `read.py` reads its body, `detect.py` and
`formats/` parse it, `routing.py` names its job; `settings.py` holds the caps.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Literal

from ..core.change import ChangeRequest, JobTarget, ParsedChange, SourceInfo, build_change_request
from ..core.errors import (
    ChangeDocumentError,
    DtsChangeError,
    InternalError,
    JobRegionMismatchError,
    ObjectSupersededError,
    RemovalNotAllowedError,
    UnknownFormatError,
    UnrecognisedEventError,
    UnroutableChangeError,
)
from ..core.values import immutable
from .detect import parse_body
from .formats.common import Problems, parse_job
from .formats.modify_request import ParsedModifyRequest
from .read import ObjectReader, key_candidates, load_file_oss_url, read_object, same_etag
from .routing import RouteRule, first_match
from .settings import IntakeSettings
from .split import KNOWN_SHAPES, Envelope, split_event

log = logging.getLogger(__name__)


@immutable
class ReconcileRequest:
    """A timer tick (or manual `{"action": "reconcile"}`): reconcile pending changes."""

    correlation_id: str
    trigger_name: str | None = None
    trigger_time: str | None = None
    payload: Any = None
    job: JobTarget | None = None


OutcomeStatus = Literal["accepted", "failed", "ignored", "reconcile"]


@immutable
class IntakeOutcome:
    """What became of one envelope: exactly one of changes, error, ignore reason or reconcile."""

    status: OutcomeStatus
    envelope: Envelope
    changes: tuple[ChangeRequest, ...] = ()
    error: DtsChangeError | None = None
    reason: str | None = None
    reconcile: ReconcileRequest | None = None
    object_body: bytes | None = None
    """A failed outcome's object bytes, when the object was read (kept in its dead letter)."""

    @property
    def correlation_id(self) -> str:
        return self.envelope.correlation_id

    @property
    def problem(self) -> DtsChangeError | None:
        """The error of a failed outcome (same as `error`)."""
        return self.error

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary for the invocation result and the log line."""
        out: dict[str, Any] = {
            "status": self.status,
            "correlationId": self.correlation_id,
            "trigger": self.envelope.kind,
            "source": self.envelope.source.describe(),
        }
        if self.changes:
            out["changes"] = [
                {
                    "changeId": c.change_id,
                    "job": str(c.job),
                    "format": c.format,
                    "idempotencyKey": c.idempotency_key,
                    "warnings": list(c.warnings),
                }
                for c in self.changes
            ]
        if self.error is not None:
            out["error"] = self.error.to_dict()
        if self.reason:
            out["reason"] = self.reason
        return out


def _what(source: SourceInfo) -> str:
    return source.describe()


def _is_sql_no_op(parsed: ParsedChange) -> bool:
    """A SQL file understood but touching no table (only ALTERs, views, renames...): nothing to do."""
    return parsed.format.startswith("sql-") and parsed.add is None and not parsed.implicit_removals


def _removal_policy(rule: RouteRule | None) -> bool | None:
    return rule.allow_removals if rule is not None else None


def _route(
    parsed_job: JobTarget | None, rule: RouteRule | None, settings: IntakeSettings, what: str
) -> JobTarget:
    job = parsed_job or (rule.job if rule else None) or settings.default_job
    if job is None:
        raise UnroutableChangeError(
            f"Unroutable change from {what}: the document names no job, no DTS_CHANGE_ROUTES rule "
            "matches its source, and DTS_JOB_ID / DTS_INSTANCE_ID are not set"
        )
    check_region_served(job.region, settings.dts_region, what)
    return job.with_defaults(region=settings.dts_region)


def check_region_served(region: str | None, served: str | None, what: str) -> None:
    """Issue 11 point 9: one function talks to one DTS region; a change for another is refused."""
    if region and served and region != served:
        raise JobRegionMismatchError(
            f"Region mismatch: {what} is for region {region!r}, but this function serves DTS in "
            f"{served!r} (DTS_REGION); nothing was sent"
        )


def _finish(
    parsed: ParsedChange,
    envelope: Envelope,
    source: SourceInfo,
    settings: IntakeSettings,
    *,
    job_override: JobTarget | None = None,
    identity_suffix: str = "",
) -> ChangeRequest:
    """Route one parsed change, apply the source's removal policy and build the request."""
    what = _what(source)
    rule = first_match(settings.routes, envelope.source)
    job = _route(job_override or parsed.job, rule, settings, what)
    allow = _removal_policy(rule)
    warnings = list(parsed.warnings)
    remove = parsed.remove
    if allow is False and parsed.remove:
        raise RemovalNotAllowedError(
            f"Removal not allowed from {what}: {rule.describe() if rule else 'its route'} sets "
            f"allowRemovals false, and the change removes {', '.join(str(r) for r in parsed.remove[:5])}"
        )
    if parsed.implicit_removals:
        dropped = ", ".join(str(r) for r in parsed.implicit_removals[:10])
        if allow is True:
            remove = tuple(dict.fromkeys(remove + parsed.implicit_removals))
            warnings.append(
                f"DROP statements applied as removals ({rule.describe() if rule else ''}): {dropped}"
            )
        else:
            warnings.append(
                f"DROP statements ignored (the route for this source does not allow removals): {dropped}"
            )
    if parsed.add is None and not remove and parsed.reserved is None:
        raise ChangeDocumentError(
            f"Invalid change in {what}: nothing to do: it only drops objects and removals are not "
            "allowed from this source",
            hint="Set allowRemovals: true on the route, or send an explicit remove",
        )
    return build_change_request(
        parsed,
        job=job,
        remove=remove,
        warnings=tuple(warnings),
        source=source,
        correlation_id=envelope.correlation_id,
        event_ref=envelope.event_ref,
        identity_suffix=identity_suffix,
        target_names="reject" if rule is not None and rule.on_target_name_add == "reject" else "warn",
        job_named_by=_job_named_by(job_override or parsed.job, rule),
    )


def _job_named_by(parsed_job: JobTarget | None, rule: RouteRule | None) -> str:
    """Where `_route` took the job from, for a refusal of its ids."""
    if parsed_job is not None:
        return "the change's job"
    if rule is not None:
        return f"DTS_CHANGE_ROUTES {rule.describe()}"
    return "DTS_JOB_ID / DTS_INSTANCE_ID"


_FLAG_FIELDS = {
    "StructureInitialization": "structure_initialization",
    "DataInitialization": "data_initialization",
    "DataSynchronization": "data_synchronization",
}


def _with_request_flags(loaded: ParsedChange, flags: Mapping[str, bool], what: str) -> ParsedChange:
    """The FileOssUrl objects travel with the request's initialization flags (new tables must get
    the initial load the request asked for); a file that states other values is refused."""
    updates: dict[str, Any] = {}
    for param, attr in _FLAG_FIELDS.items():
        if param not in flags:
            continue
        own = getattr(loaded, attr)
        if own is not None and own != flags[param]:
            raise ChangeDocumentError(
                f"Invalid {what}: it sets {param} {str(own).lower()} but the ModifyDtsJob request "
                f"sets {str(flags[param]).lower()}",
                hint="State the flags in one place: the request or the document",
            )
        updates[attr] = flags[param]
    return replace(loaded, **updates) if updates else loaded


def _modify_request_changes(
    request: ParsedModifyRequest,
    envelope: Envelope,
    source: SourceInfo,
    settings: IntakeSettings,
    reader: ObjectReader | None,
) -> list[ChangeRequest]:
    changes = []
    check_region_served(request.region, settings.dts_region, _what(source))
    if request.change is not None:
        changes.append(_finish(request.change, envelope, source, settings))
    if request.file_oss_url is not None:
        location, read = load_file_oss_url(request.file_oss_url, envelope, settings, reader)
        file_source = replace(
            source,
            bucket=location.bucket,
            key=read.key,
            etag=read.etag,
            file_oss_url=str(location),
        )
        loaded = parse_body(read.body, what=f"FileOssUrl {location}", name=read.key, caps=settings.caps)
        if isinstance(loaded, ParsedModifyRequest):
            raise ChangeDocumentError(
                f"Invalid FileOssUrl document {location}: it is itself a ModifyDtsJob request; "
                "expected a DbList, change document, table list or SQL DDL"
            )
        if (
            loaded.job is not None
            and request.job is not None
            and (
                (loaded.job.dts_job_id, loaded.job.dts_instance_id, loaded.job.direction)
                != (request.job.dts_job_id, request.job.dts_instance_id, request.job.direction)
            )
        ):
            raise ChangeDocumentError(
                f"Invalid FileOssUrl document {location}: its job ({loaded.job}) differs from the "
                f"request's ({request.job})"
            )
        if request.client_token and not loaded.doc_id:
            loaded = replace(loaded, doc_id=request.client_token, id_kind="ClientToken")
        loaded = _with_request_flags(loaded, request.flags, f"FileOssUrl document {location}")
        changes.append(
            _finish(
                loaded,
                envelope,
                file_source,
                settings,
                job_override=request.job,
                identity_suffix="#FileOssUrl",
            )
        )
    return changes


def _reconcile_outcome(envelope: Envelope) -> IntakeOutcome:
    info = envelope.reconcile or {}
    payload = info.get("payload")
    job = None
    if isinstance(payload, Mapping) and "job" in payload:
        problems = Problems(f"reconcile request {envelope.correlation_id}")
        job = parse_job(payload["job"], "job", problems)
        problems.raise_if_any()
    request = ReconcileRequest(
        correlation_id=envelope.correlation_id,
        trigger_name=info.get("triggerName"),
        trigger_time=info.get("triggerTime"),
        payload=payload,
        job=job,
    )
    return IntakeOutcome("reconcile", envelope, reconcile=request)


def _load(
    envelope: Envelope, settings: IntakeSettings, reader: ObjectReader | None
) -> tuple[Envelope, bytes]:
    """The envelope's body: inline, or its object read from OSS (the envelope then names the key
    and eTag actually read)."""
    source = envelope.source
    if envelope.body is not None:
        return envelope, envelope.body
    if source.bucket is None or source.key is None:
        raise InternalError(f"Envelope {envelope.correlation_id} has neither a body nor an object")
    read = read_object(
        reader,
        source.bucket,
        source.key,
        max_bytes=settings.caps.max_document_bytes,
        expected_etag=source.etag,
        version_id=source.version_id,
    )
    if source.etag and read.etag and not same_etag(read.etag, source.etag):
        # Read under this event's identity, the newer content would be applied as the older
        # upload and the older content never, without a trace (issue 12.4).
        raise ObjectSupersededError(
            f"Object superseded: oss://{source.bucket}/{read.key} was overwritten after this event "
            f"(event eTag {source.etag}, current eTag {read.etag}); its content is not applied",
            details={"eventETag": source.etag, "currentETag": read.etag},
        )
    if read.key != source.key or (read.etag and not source.etag):
        envelope = replace(envelope, source=replace(source, key=read.key, etag=source.etag or read.etag))
    return envelope, read.body


def _accept(
    envelope: Envelope, body: bytes, settings: IntakeSettings, reader: ObjectReader | None
) -> IntakeOutcome:
    source = envelope.source
    # An object's name decides its syntax (`.txt`, `.sql`...), also when replaying its kept bytes.
    name = source.key if source.bucket and source.key and not source.file_oss_url else None
    try:
        rule = first_match(settings.routes, envelope.source)
        parsed = parse_body(
            body,
            what=_what(source),
            name=name,
            caps=settings.caps,
            allow_base64=envelope.body_maybe_base64,
            sql_dialect=rule.sql_dialect if rule else None,
            sql_database=rule.sql_database if rule else None,
        )
    except UnknownFormatError as exc:
        if envelope.kind == "manual" and body.lstrip()[:1] == b"{":
            # A JSON object that is neither a trigger event nor a change: say every shape we know.
            raise UnrecognisedEventError(
                "Unrecognised event: "
                + exc.message.split(": ", 1)[-1].split("; expected", 1)[0]
                + "; expected one of: "
                + "; ".join(KNOWN_SHAPES),
                details={"format": exc.message},
            ) from None
        raise
    if isinstance(parsed, ParsedModifyRequest):
        changes = _modify_request_changes(parsed, envelope, source, settings, reader)
    elif _is_sql_no_op(parsed):
        reason = f"SQL in {_what(source)}: " + "; ".join(parsed.warnings)
        log.info("change ignored: %s", reason, extra={"correlation_id": envelope.correlation_id})
        return IntakeOutcome("ignored", envelope, reason=reason)
    else:
        changes = [_finish(parsed, envelope, source, settings)]
    return IntakeOutcome("accepted", envelope, changes=tuple(changes))


def own_record(envelope: Envelope, settings: IntakeSettings) -> str | None:
    """Why an object event names one of the function's own records (ledger, dead letters)."""
    bucket, key = envelope.source.bucket, envelope.source.key
    if not envelope.reads_object or bucket is None or key is None:
        return None
    for own_bucket, prefix in settings.own_prefixes:
        if bucket == own_bucket and any(k.startswith(prefix) for k in key_candidates(key)):
            return (
                f"oss://{bucket}/{key} is under the function's own ledger or dead-letter prefix "
                f"oss://{own_bucket}/{prefix}; ignored so that its own writes never trigger it"
            )
    return None


def intake_envelope(
    envelope: Envelope, settings: IntakeSettings, reader: ObjectReader | None = None
) -> IntakeOutcome:
    """One envelope -> one outcome; input problems become `failed` outcomes, never exceptions."""
    if envelope.problem is not None:
        return IntakeOutcome("failed", envelope, error=envelope.problem)
    own = own_record(envelope, settings)
    if own is not None:
        envelope = replace(envelope, ignored=own)
    if envelope.ignored is not None:
        log.info(
            "event ignored: %s",
            envelope.ignored,
            extra={
                "correlation_id": envelope.correlation_id,
                "trigger": envelope.kind,
                "source": envelope.source.describe(),
            },
        )
        return IntakeOutcome("ignored", envelope, reason=envelope.ignored)
    object_body: bytes | None = None
    try:
        if envelope.reconcile is not None:
            return _reconcile_outcome(envelope)
        loaded, body = _load(envelope, settings, reader)
        if envelope.body is None:
            envelope, object_body = loaded, body
        return _accept(envelope, body, settings, reader)
    except DtsChangeError as exc:
        return IntakeOutcome("failed", envelope, error=exc, object_body=object_body)
    except Exception as exc:  # a bug must not hide the other envelopes of the batch
        log.exception("intake failed unexpectedly", extra={"correlation_id": envelope.correlation_id})
        error = InternalError(f"Unexpected {type(exc).__name__} while reading {envelope.source.describe()}")
        return IntakeOutcome("failed", envelope, error=error)


def intake_event(
    event: bytes | str,
    *,
    settings: IntakeSettings,
    reader: ObjectReader | None = None,
    request_id: str | None = None,
) -> list[IntakeOutcome]:
    """Every outcome of one invocation payload, in event order. Never raises for bad input."""
    return [
        intake_envelope(envelope, settings, reader) for envelope in split_event(event, request_id=request_id)
    ]
